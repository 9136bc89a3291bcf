"""Liveness and readiness of the console."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from console.deps import Feed

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(feed: Feed) -> JSONResponse:
    ready = feed.ready.is_set()
    # Anyone may ask (load balancers do): the answer says whether the console serves, nothing more.
    body = {"ready": ready, "feed": "ok" if feed.error is None else "reconnecting"}
    return JSONResponse(body, status_code=200 if ready else 503)
