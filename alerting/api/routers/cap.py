"""``GET /api/v1/alerts/{id}/cap``: the alert as a CAP 1.2 message (OASIS Common Alerting Protocol)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from alerting.api.deps import Engine
from alerting.api.routers.commands import AlertId
from alerting.cap import CapError, identifier, to_cap
from alerting.lifecycle import CommandError
from alerting.settings import Settings
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/alerts", tags=["cap"])
Reader = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.planner, Role.responder))]
CAP_MEDIA_TYPE = "application/cap+xml"


@router.get("/{alert_id}/cap", response_class=Response, responses={200: {"content": {CAP_MEDIA_TYPE: {}}}})
def cap(alert_id: AlertId, engine: Engine, request: Request, _principal: Reader) -> Response:
    """The alert's current version as CAP: ``Alert`` first, ``Update`` after, ``Cancel`` when closed as
    a false alarm, duplicate or test; it references the first and the previous message."""
    try:
        alert = engine.alert(alert_id)
    except CommandError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc
    settings: Settings = request.app.state.settings
    sender = settings.cap_sender
    earlier = [e for e in engine.audit(alert_id) if e["version"] < alert.version]
    picked = {e["version"]: e for e in (earlier[:1] + earlier[-1:])}
    references = [
        (sender, identifier(alert.model_copy(update={"version": v})), e["at"]) for v, e in sorted(picked.items())
    ]
    try:
        body = to_cap(
            alert,
            sender=sender,
            references=references,
            web=f"{settings.console_url.rstrip('/')}/alerts/{alert.id}",
            event=engine.book.config.type_name(alert.type),
            tz=engine.book.tz,
        )
    except CapError as exc:
        raise HTTPException(500, f"alert {alert_id} cannot be written as CAP: {exc}") from exc
    return Response(body, media_type=CAP_MEDIA_TYPE)
