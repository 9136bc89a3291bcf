"""The ingest HTTP API: sensors (and gateways) post readings; they go to Kafka once acknowledged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from ingest.api.routers import readings
from ingest.api.settings import Settings
from ingest.schemas import READINGS_TOPIC
from pantau.bodylimit import BodyLimit
from pantau.kafka import DeadLetterSink, ensure_topics, make_producer
from pantau.logs import configure_logging
from pantau.openapi import document_errors
from pantau.topics import DLQ_TOPIC

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ensure_topics(settings, [READINGS_TOPIC, DLQ_TOPIC])
        producer = make_producer(settings, client_id="pantau-ingest-api")
        app.state.producer = producer
        app.state.dead_letters = DeadLetterSink(settings, producer, "ingest.api")
        if settings.ready_file is not None:
            settings.ready_file.parent.mkdir(parents=True, exist_ok=True)
            settings.ready_file.write_text("ready\n")
        try:
            yield
        finally:
            producer.close(timeout=10)

    app = FastAPI(title="Pantau ingest API", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.token_secret = settings.require_token_secret()

    @app.middleware("http")
    async def read_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # The raw body, read once (capped by BodyLimit), so handlers can dead-letter the exact bytes received.
        if request.method == "POST":
            request.state.body = await request.body()
        return await call_next(request)

    app.add_middleware(BodyLimit, max_bytes=settings.ingest_max_body_bytes)  # added last: it runs first

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(readings.router)
    document_errors(app)
    return app


def main() -> None:
    import uvicorn

    settings = Settings()
    configure_logging(settings, "ingest-api")
    from pantau.metrics import start_ops_server
    from pantau.worker import acknowledge_reloads

    acknowledge_reloads("ingest-api", "it reads no configuration file")
    start_ops_server(settings, alive=lambda: True, ready=lambda: True)
    uvicorn.run(
        create_app(settings),
        host=settings.ingest_host,
        port=settings.ingest_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        # Its own records go through our root handler (PANTAU_LOG_FORMAT) instead of uvicorn's text set-up.
        log_config=None,
    )


if __name__ == "__main__":
    main()
