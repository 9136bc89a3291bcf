"""Alert commands from the console's users, forwarded to the alerting service, which owns alerts.

``POST /api/v1/alerts`` raises an alert by hand; ``POST /api/v1/alerts/{id}/{action}`` runs a
lifecycle command (``ack``, ``assign``, ``resolve``, ``close``, ``note``, ``report``, ``sop``). The
console checks the session (and its CSRF token) and forwards the command with a one-minute token
in the person's name, so the alert's audit trail names who did it. Alerting's answer (the alert's
new state, or why not: 409 for a stale version or open SOP steps) comes back unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Request, Response, status

from alerting.schemas import Alert
from console.alerting_client import forward
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/alerts", tags=["commands"])
AlertId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Actor = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.responder))]
Raiser = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin))]
CommandName = Literal["ack", "assign", "resolve", "close", "note", "report", "sop"]
Payload = Annotated[dict[str, Any], Body(description="the command's fields (docs/console-api.md)")]


@router.post("", response_model=Alert, status_code=status.HTTP_201_CREATED)
def raise_alert(payload: Payload, request: Request, principal: Raiser) -> Response:
    """Raise an alert by hand (a phone call, a citizen's report), with an optional JPEG photo."""
    return forward(request, principal, "POST", "/api/v1/alerts", payload)


@router.post("/{alert_id}/{command}", response_model=Alert)
def command(alert_id: AlertId, command: CommandName, payload: Payload, request: Request, principal: Actor) -> Response:
    """Run a lifecycle command on an alert as the signed-in person (a note may carry a scene photo)."""
    return forward(request, principal, "POST", f"/api/v1/alerts/{alert_id}/{command}", payload)
