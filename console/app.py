"""The console: live alert feed over websocket, REST beside it, and the operator page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from alerting.schemas import ALERTS_TOPIC
from console.db import make_pool
from console.feed import AlertFeed
from console.routers import alerts, evidence, health, pages, ws
from console.settings import Settings
from pantau.kafka import ensure_topics
from pantau.topics import DLQ_TOPIC

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(ensure_topics, settings, [ALERTS_TOPIC, DLQ_TOPIC])
        feed = AlertFeed(settings)
        app.state.feed = feed
        pool = make_pool(settings)
        pool.open(wait=False)
        app.state.pool = pool
        feed.start(asyncio.get_running_loop())
        if settings.ready_file is not None:
            ready = await asyncio.to_thread(feed.wait_ready, 60.0)
            if ready:
                settings.ready_file.parent.mkdir(parents=True, exist_ok=True)
                settings.ready_file.write_text("ready\n")
        try:
            yield
        finally:
            await asyncio.to_thread(feed.close)
            await asyncio.to_thread(pool.close)

    app = FastAPI(title="Pantau console", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.token_secret = settings.require_token_secret()
    app.include_router(health.router)
    app.include_router(alerts.router)
    app.include_router(evidence.router)
    app.include_router(ws.router)
    app.include_router(pages.router)
    return app


def main() -> None:
    import uvicorn

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s console %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.console_host,
        port=settings.console_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        ws="websockets",
    )


if __name__ == "__main__":
    main()
