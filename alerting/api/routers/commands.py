"""``POST /api/v1/alerts`` (raise by hand), ``POST /api/v1/alerts/{id}/ack | assign | resolve | close |
note | report | sop`` and the alert's audit.

The acting user is the bearer token's subject. Operators and admins run the lifecycle; responders
report their status (``report``), add notes (with a photo from the scene, if they like) and
acknowledge (``ack``) a new alert that is theirs: assigned or sent to them or to one of their
groups (the routing config's ``responders[].groups``). Admins are the supervisors who may resolve with
procedure steps still open (``override_reason``). Every answer is the alert's new state; a stale
``version`` is a 409 that says what changed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, status
from pydantic import ValidationError

from alerting.api.deps import Engine
from alerting.api.models import AuditEntry
from alerting.lifecycle import BODIES, Action, CommandError
from alerting.manual import ManualAlertBody
from alerting.schemas import Alert
from pantau.auth import Principal, Role
from pantau.config import format_validation_error
from pantau.exceptions import KafkaError
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/alerts", tags=["commands"])
AlertId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Actor = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.responder))]
Reader = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.planner))]
Raiser = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin))]
Payload = Annotated[dict[str, Any], Body(description="the fields the command needs (see alerting.lifecycle)")]


def responder_groups(engine: Engine, user: str) -> list[str]:
    """The groups the routing config puts responder ``user`` in (responder ids are user names)."""
    return [group for person in engine.book.config.routing.responders if person.id == user for group in person.groups]


def _run(engine: Engine, alert_id: str, action: Action, raw: dict[str, Any], principal: Principal) -> Alert:
    try:
        body = BODIES[action].model_validate(raw)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, format_validation_error(exc)) from exc
    responder = principal.role is Role.responder
    try:
        return engine.command(
            alert_id,
            action,
            body,
            principal.user,
            responder_only=responder,
            supervisor=principal.role is Role.admin,
            groups=responder_groups(engine, principal.user) if responder else (),
        )
    except CommandError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc


@router.post("", response_model=Alert, status_code=status.HTTP_201_CREATED)
def raise_manual(payload: Payload, engine: Engine, principal: Raiser) -> Alert:
    """Raise an alert by hand: ``{"type", "severity", "title", "description", "lat", "lon", "district",
    "photo_jpeg_b64"}``."""
    try:
        body = ManualAlertBody.model_validate(payload)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, format_validation_error(exc)) from exc
    try:
        return engine.raise_manual(body, principal.user)
    except CommandError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc
    except KafkaError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}) from exc


@router.post("/{alert_id}/ack", response_model=Alert)
def ack(alert_id: AlertId, payload: Payload, engine: Engine, principal: Actor) -> Alert:
    """Acknowledge a new alert: ``{"version": N, "reason": "..."}`` (a responder: one that is theirs)."""
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
    """Add a note: ``{"text": "...", "photo_jpeg_b64": "..."}`` (text, a JPEG photo of at most 5 MB, or both;
    a version is optional: notes never conflict)."""
    return _run(engine, alert_id, "note", payload, principal)


@router.post("/{alert_id}/report", response_model=Alert)
def report(alert_id: AlertId, payload: Payload, engine: Engine, principal: Actor) -> Alert:
    """A responder's status on the alert: ``{"status": "en_route|on_scene|done", "note": "..."}``."""
    return _run(engine, alert_id, "report", payload, principal)


@router.post("/{alert_id}/sop", response_model=Alert)
def sop(alert_id: AlertId, payload: Payload, engine: Engine, principal: Actor) -> Alert:
    """Check or uncheck a procedure step: ``{"step": "call-river-post", "done": true}``."""
    return _run(engine, alert_id, "sop", payload, principal)


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
