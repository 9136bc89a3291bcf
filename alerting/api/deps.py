"""FastAPI dependencies of the alerting API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from alerting.engine import AlertEngine


def get_engine(request: Request) -> AlertEngine:
    engine: AlertEngine = request.app.state.engine
    return engine


Engine = Annotated[AlertEngine, Depends(get_engine)]
