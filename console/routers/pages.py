"""The operator page (``/``), the responders' phone page (``/responder``, with its web app manifest
and service worker) and the planners' history page (``/planner``): one HTML shell each for every
visitor (an anonymous one sees only the login form; every datum comes from the authenticated API).
Assets ship in the package: no CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

router = APIRouter(tags=["pages"])
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
RESPONDER_DIR = STATIC_DIR / "responder"
PLANNER_DIR = STATIC_DIR / "planner"
# Served under /responder so that its scope can cover the page (/responder and below).
SERVICE_WORKER_HEADERS = {"Service-Worker-Allowed": "/responder", "Cache-Control": "no-cache"}


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))


@router.get("/responder", response_class=HTMLResponse)
def responder() -> HTMLResponse:
    """The responders' phone page (an installable web app); like ``/``, a shell: data needs a login."""
    return HTMLResponse((RESPONDER_DIR / "index.html").read_text(encoding="utf-8"))


@router.get("/planner", response_class=HTMLResponse)
def planner() -> HTMLResponse:
    """The planners' history page (charts and exports of ``/api/v1/history``); a shell: data needs a login."""
    return HTMLResponse((PLANNER_DIR / "index.html").read_text(encoding="utf-8"))


@router.get("/responder/manifest.webmanifest", response_class=FileResponse)
def responder_manifest() -> FileResponse:
    """The web app manifest: name, icons, colours, ``display: standalone``, ``start_url: /responder``."""
    return FileResponse(
        RESPONDER_DIR / "manifest.webmanifest",
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/responder/sw.js", response_class=FileResponse)
def responder_service_worker() -> FileResponse:
    """The service worker: shows Web Push notifications (stand-downs too) and opens the page on a tap."""
    return FileResponse(RESPONDER_DIR / "sw.js", media_type="text/javascript", headers=SERVICE_WORKER_HEADERS)


@router.get("/alerts/{alert_id}", response_class=RedirectResponse, status_code=status.HTTP_303_SEE_OTHER)
def alert_link(alert_id: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9-]{1,64}$")]) -> RedirectResponse:
    """The link in a push (``{console_url}/alerts/{id}``): the responder page, on that alert."""
    return RedirectResponse(f"/responder#/alert/{alert_id}", status_code=status.HTTP_303_SEE_OTHER)
