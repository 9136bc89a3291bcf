"""``POST /api/v1/alerts/{id}/ack | assign | resolve | close | note | report`` and the alert's audit.

The acting user is the bearer token's subject. Operators and admins run the lifecycle; responders
report their status (``report``) and add notes. Every answer is the alert's new state; a stale
``version`` is a 409 that says what changed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, status
from pydantic import ValidationError

from alerting.api.deps import Engine
from alerting.api.models import AuditEntry
from alerting.lifecycle import BODIES, Action, CommandError
from alerting.schemas import Alert
from pantau.auth import Principal, Role
from pantau.config import format_validation_error
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/alerts", tags=["commands"])
AlertId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Actor = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.responder))]
Reader = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.planner))]


def _run(engine: Engine, alert_id: str, action: Action, raw: dict[str, Any], principal: Principal) -> Alert:
    try:
        body = BODIES[action].model_validate(raw)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, format_validation_error(exc)) from exc
    try:
        return engine.command(alert_id, action, body, principal.user, responder_only=principal.role is Role.responder)
    except CommandError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc


Payload = Annotated[dict[str, Any], Body(description="the fields the command needs (see alerting.lifecycle)")]


@router.post("/{alert_id}/ack", response_model=Alert)
def ack(alert_id: AlertId, payload: Payload, engine: Engine, principal: Actor) -> Alert:
    """Acknowledge a new alert: ``{"version": N, "reason": "..."}``."""
    return _run(engine, alert_id, "ack", payload, principal)


@router.post("/{alert_id}/assign", response_model=Alert)
def assign(alert_id: AlertId, payload: Payload, engine: Engine, principal: Actor) -> Alert:
    """Assign to a responder or team: ``{"version": N, "assignee": "rescue-klojen"}``."""
    return _run(engine, alert_id, "assign", payload, principal)


@router.post("/{alert_id}/resolve", response_model=Alert)
def resolve(alert_id: AlertId, payload: Payload, engine: Engine, principal: Actor) -> Alert:
    """Mark resolved: ``{"version": N, "reason": "..."}``."""
    return _run(engine, alert_id, "resolve", payload, principal)


@router.post("/{alert_id}/close", response_model=Alert)
def close(alert_id: AlertId, payload: Payload, engine: Engine, principal: Actor) -> Alert:
    """Close with a reason code: ``{"version": N, "close_reason": "handled|false_alarm|duplicate|test"}``."""
    return _run(engine, alert_id, "close", payload, principal)


@router.post("/{alert_id}/note", response_model=Alert)
def note(alert_id: AlertId, payload: Payload, engine: Engine, principal: Actor) -> Alert:
    """Add a note: ``{"text": "..."}`` (a version is optional: notes never conflict)."""
    return _run(engine, alert_id, "note", payload, principal)


@router.post("/{alert_id}/report", response_model=Alert)
def report(alert_id: AlertId, payload: Payload, engine: Engine, principal: Actor) -> Alert:
    """A responder's status on the alert: ``{"status": "en_route|on_scene|done", "note": "..."}``."""
    return _run(engine, alert_id, "report", payload, principal)


@router.get("/{alert_id}/audit", response_model=list[AuditEntry])
def audit(alert_id: AlertId, engine: Engine, _principal: Reader) -> list[AuditEntry]:
    """Every change of the alert, oldest first."""
    engine_alert_exists(engine, alert_id)
    return [AuditEntry.model_validate(entry) for entry in engine.audit(alert_id)]


def engine_alert_exists(engine: Engine, alert_id: str) -> Alert:
    try:
        return engine.alert(alert_id)
    except CommandError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc
