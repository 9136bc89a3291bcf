"""The console: live alert feed over websocket, REST beside it, and the operator page."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import RequestResponseEndpoint

from alerting.schemas import ALERTS_TOPIC
from console.access_watch import AccessWatch
from console.camera_status import CameraStatusWatch
from console.configview import ConfigView
from console.db import make_pool
from console.feed import AlertFeed
from console.ratelimit import LoginThrottle
from console.reports.scheduler import ReportsConfig, run_schedule
from console.routers import (
    alerts,
    audit,
    cases,
    commands,
    devices,
    evidence,
    handovers,
    health,
    history,
    pages,
    photos,
    push,
    reports,
    session,
    uiconfig,
    ws,
    zones,
)
from console.settings import Settings
from console.store import ConsoleStore
from ingest.cameras.schemas import CAMERA_STATUS_TOPIC
from pantau.bodylimit import BodyLimit
from pantau.kafka import ensure_topics
from pantau.logs import configure_logging
from pantau.metrics import start_ops_server
from pantau.openapi import document_errors
from pantau.topics import DLQ_TOPIC
from pantau.webauth import Authenticator
from pantau.worker import acknowledge_reloads

# The page's own scripts and styles only: no inline script, no other origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(ensure_topics, settings, [ALERTS_TOPIC, DLQ_TOPIC, CAMERA_STATUS_TOPIC])
        feed = AlertFeed(settings)
        app.state.feed = feed
        pool = make_pool(settings)
        pool.open(wait=False)
        app.state.pool = pool
        app.state.store = ConsoleStore(pool)
        app.state.audit = app.state.store.audit_principal  # zone edits and other actions record who did them
        app.state.authenticator = Authenticator(app.state.token_secret, pool, sessions=True)
        access_watch = AccessWatch(app.state.authenticator, settings.ws_access_check_s)
        app.state.access_watch = access_watch
        access_task = asyncio.create_task(access_watch.run())
        app.state.alerting_client = httpx.Client(base_url=settings.alerting_url)
        camera_status = CameraStatusWatch(settings)
        app.state.camera_status = camera_status
        camera_status.start()
        feed.start(asyncio.get_running_loop())
        if settings.ready_file is not None:
            ready = await asyncio.to_thread(feed.wait_ready, 60.0)
            if ready:
                settings.ready_file.parent.mkdir(parents=True, exist_ok=True)
                settings.ready_file.write_text("ready\n")

        def report_schedule() -> tuple[ReportsConfig, str]:
            view = app.state.config_view.current()
            return view.reports, view.alerting.timezone

        reports_task = asyncio.create_task(run_schedule(pool, settings, report_schedule))
        gc.freeze()  # what start-up built lives as long as the process: keep it out of every collection
        try:
            yield
        finally:
            reports_task.cancel()
            access_task.cancel()
            await asyncio.to_thread(feed.close)
            await asyncio.to_thread(camera_status.close)
            app.state.alerting_client.close()
            await asyncio.to_thread(pool.close)

    # No public API browser: an anonymous visitor sees the login page and nothing else. The OpenAPI
    # description is still built in-process (``app.openapi()``) for tests and fuzzing.
    app = FastAPI(
        title="Pantau console", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.settings = settings
    app.state.token_secret = settings.require_token_secret()
    # Before serving anything: blurring asked for and the model missing stops the console here.
    app.state.face_blur = evidence.load_face_blur(settings)
    app.state.login_throttle = LoginThrottle(
        settings.login_max_failures, settings.login_window_s, settings.login_max_concurrent
    )
    app.state.config_view = ConfigView(settings.config)

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: RequestResponseEndpoint) -> Response:
        # PostgreSQL text cannot hold NUL: refuse it here (400), not deep in a query (500 or 503).
        query = request.query_params.multi_items()
        if (
            "\x00" in request.scope["path"]
            or any("\x00" in name or "\x00" in value for name, value in query)
            or b"\\u0000" in await request.body()
        ):
            return JSONResponse({"detail": "text may not contain NUL (0x00) characters"}, status_code=400)
        return await call_next(request)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # Added after the other middleware, so it runs before them: nothing reads a body past the cap.
    app.add_middleware(BodyLimit, max_bytes=settings.console_max_body_bytes)

    for module in (
        health,
        session,
        uiconfig,
        alerts,
        commands,
        evidence,
        photos,
        push,
        cases,
        handovers,
        devices,
        audit,
        zones,
        history,
        reports,
        ws,
        pages,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    document_errors(app)
    return app


def main() -> None:
    import uvicorn

    settings = Settings()
    # A thousand websocket clients are ~400,000 live objects: with the default thresholds a full
    # collection over them pauses every send for 0.2-0.35 s (docs/benchmarks.md, bench console).
    gc.set_threshold(50_000, 20, 100)
    configure_logging(settings, "console")
    acknowledge_reloads("console", "the configuration file is read again whenever it changes")
    start_ops_server(settings, alive=lambda: True, ready=lambda: True)  # /metrics: websocket clients
    uvicorn.run(
        create_app(settings),
        host=settings.console_host,
        port=settings.console_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        # Its own records go through our root handler (PANTAU_LOG_FORMAT) instead of uvicorn's text set-up.
        log_config=None,
        ws="websockets",
    )


if __name__ == "__main__":
    main()
