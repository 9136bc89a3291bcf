"""``create_app``: the alerting API around a running :class:`~alerting.engine.AlertEngine`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from alerting.api.routers import cap, commands, health, push, silences
from alerting.engine import AlertEngine
from alerting.settings import Settings
from pantau.bodylimit import BodyLimit
from pantau.db import make_pool
from pantau.openapi import document_errors
from pantau.webauth import Authenticator


def create_app(settings: Settings, engine: AlertEngine) -> FastAPI:
    # A person's token (from the console or `pantau users token`) is checked against their account
    # on its own small pool: the engine's single connection belongs to the alert writer.
    pool = make_pool(settings, 2, "pantau-alerting-auth")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=False)
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(title="Pantau alerting", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.token_secret = settings.require_token_secret()
    app.state.authenticator = Authenticator(app.state.token_secret, pool)
    app.add_middleware(BodyLimit, max_bytes=settings.alerting_max_body_bytes)
    app.include_router(health.router)
    app.include_router(commands.router)
    app.include_router(cap.router)
    app.include_router(silences.router)
    app.include_router(push.router)
    document_errors(app)
    return app
