"""Alert commands from the console's users, forwarded to the alerting service, which owns alerts.

``POST /api/v1/alerts`` raises an alert by hand; ``POST /api/v1/alerts/{id}/{action}`` runs a
lifecycle command (``ack``, ``assign``, ``resolve``, ``close``, ``note``, ``report``, ``sop``). The
console checks the session (and its CSRF token) and forwards the command with a one-minute token
in the person's name, so the alert's audit trail names who did it. Alerting's answer (the alert's
new state, or why not: 409 for a stale version or open SOP steps) comes back unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, status
from fastapi.responses import JSONResponse

from alerting.schemas import Alert
from console.settings import Settings
from pantau.auth import Principal, Role, issue_token
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/alerts", tags=["commands"])
AlertId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Actor = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.responder))]
Raiser = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin))]
CommandName = Literal["ack", "assign", "resolve", "close", "note", "report", "sop"]
Payload = Annotated[dict[str, Any], Body(description="the command's fields (docs/console-api.md)")]


def _forward(request: Request, principal: Principal, path: str, payload: dict[str, Any]) -> JSONResponse:
    settings: Settings = request.app.state.settings
    client: httpx.Client = request.app.state.alerting_client
    token = issue_token(request.app.state.token_secret, principal.role, principal.user, ttl_s=60, kind="user")
    try:
        answer = client.post(
            path, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=settings.alerting_timeout_s
        )
    except httpx.HTTPError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the alerting service cannot be reached: {exc}"
        ) from exc
    try:
        body = answer.json()
    except ValueError:
        body = {"detail": f"alerting answered {answer.status_code} without JSON"}
        return JSONResponse(body, status_code=status.HTTP_502_BAD_GATEWAY)
    return JSONResponse(body, status_code=answer.status_code)


@router.post("", response_model=Alert, status_code=status.HTTP_201_CREATED)
def raise_alert(payload: Payload, request: Request, principal: Raiser) -> JSONResponse:
    """Raise an alert by hand (a phone call, a citizen's report), with an optional JPEG photo."""
    return _forward(request, principal, "/api/v1/alerts", payload)


@router.post("/{alert_id}/{command}", response_model=Alert)
def command(
    alert_id: AlertId, command: CommandName, payload: Payload, request: Request, principal: Actor
) -> JSONResponse:
    """Run a lifecycle command on an alert as the signed-in person."""
    return _forward(request, principal, f"/api/v1/alerts/{alert_id}/{command}", payload)
