"""``create_app``: the alerting API around a running :class:`~alerting.engine.AlertEngine`."""

from __future__ import annotations

from fastapi import FastAPI

from alerting.api.routers import cap, commands, health, push, silences
from alerting.engine import AlertEngine
from alerting.settings import Settings


def create_app(settings: Settings, engine: AlertEngine) -> FastAPI:
    app = FastAPI(title="Pantau alerting", version="1")
    app.state.settings = settings
    app.state.engine = engine
    app.state.token_secret = settings.require_token_secret()
    app.include_router(health.router)
    app.include_router(commands.router)
    app.include_router(cap.router)
    app.include_router(silences.router)
    app.include_router(push.router)
    return app
