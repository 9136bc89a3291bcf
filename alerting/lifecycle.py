"""Operator and responder commands on an alert: the lifecycle's legal moves (pure logic, no I/O).

::

    new ──ack──▶ acknowledged ──assign──▶ assigned ──resolve──▶ resolved ──close──▶ closed
     │                 │                      ▲  │                  ▲
     └──assign─────────┼──────────────────────┘  └── report (en_route, on_scene, done)
     └──resolve / close from any open state ─────────────────────────┘

``ack`` needs ``new``; ``assign`` works on any open alert (assigning a new alert acknowledges it
too; assigning again hands it over); ``resolve`` needs an open alert; ``close`` needs a reason
(``handled``, ``false_alarm``, ``duplicate``, ``test``) and works on anything not closed yet;
``note`` works on anything. Responders ``report`` their status on an open alert they were
assigned or notified about. Every command but ``note`` and ``report`` carries the ``version`` the
client saw: if the alert changed since, the command is refused (409) rather than applied to a
state its author never saw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerting.exceptions import AlertingError
from alerting.schemas import Alert, AlertStatus, CloseReason

Action = Literal["ack", "assign", "resolve", "close", "note", "report"]
ACTIONS: tuple[Action, ...] = ("ack", "assign", "resolve", "close", "note", "report")


class CommandError(AlertingError):
    """A command that cannot be applied; ``status_code`` is the HTTP answer it deserves."""

    status_code = 400


class AlertNotFound(CommandError):
    status_code = 404


class VersionConflict(CommandError):
    status_code = 409


class IllegalTransition(CommandError):
    status_code = 409


class NotAllowed(CommandError):
    status_code = 403


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str | None = Field(None, max_length=2000, description="why, for the audit")


class AckBody(_Body):
    """``POST /api/v1/alerts/{id}/ack``."""

    version: int = Field(ge=1, description="the alert version the operator saw")


class AssignBody(_Body):
    """``POST /api/v1/alerts/{id}/assign``: to a responder or a team."""

    version: int = Field(ge=1)
    assignee: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


class ResolveBody(_Body):
    """``POST /api/v1/alerts/{id}/resolve``."""

    version: int = Field(ge=1)


class CloseBody(_Body):
    """``POST /api/v1/alerts/{id}/close``: the reason code is required."""

    version: int = Field(ge=1)
    close_reason: CloseReason


class NoteBody(BaseModel):
    """``POST /api/v1/alerts/{id}/note``: notes never conflict, so the version is optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=4000)
    version: int | None = Field(None, ge=1)


class ReportBody(BaseModel):
    """``POST /api/v1/alerts/{id}/report``: a responder's status on the alert."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["en_route", "on_scene", "done"]
    note: str | None = Field(None, max_length=2000)
    version: int | None = Field(None, ge=1)


CommandBody = AckBody | AssignBody | ResolveBody | CloseBody | NoteBody | ReportBody
BODIES: dict[Action, type[BaseModel]] = {
    "ack": AckBody,
    "assign": AssignBody,
    "resolve": ResolveBody,
    "close": CloseBody,
    "note": NoteBody,
    "report": ReportBody,
}


def apply_command(
    alert: Alert, action: Action, body: BaseModel, actor: str, now: datetime, *, responder_only: bool = False
) -> tuple[Alert, dict[str, Any]]:
    """The alert after the command, and the audit detail (who did what, from which state, why).

    ``responder_only``: the actor is a responder, who may only ``report`` and add notes.
    """
    version = getattr(body, "version", None)
    if version is not None and version != alert.version:
        raise VersionConflict(
            f"alert {alert.id} is at version {alert.version}, not {version}: it changed since you saw it "
            f"(last change: {alert.change}); reload it and try again"
        )
    if responder_only and action not in ("report", "note"):
        raise NotAllowed(f"responders may report their status and add notes, not {action}")
    detail: dict[str, Any] = {"action": action, "from_status": alert.status.value}
    reason = getattr(body, "reason", None)
    if reason:
        detail["reason"] = reason
    update: dict[str, Any]
    change: str
    if action == "ack":
        if alert.status is not AlertStatus.new:
            raise IllegalTransition(f"alert {alert.id} is {alert.status.value}; only a new alert can be acknowledged")
        update, change = (
            {"status": AlertStatus.acknowledged, "acknowledged_by": actor, "acknowledged_at": now},
            "acknowledged",
        )
    elif action == "assign":
        assert isinstance(body, AssignBody)
        if not alert.is_open:
            raise IllegalTransition(f"alert {alert.id} is {alert.status.value}; only an open alert can be assigned")
        update = {"status": AlertStatus.assigned, "assignee": body.assignee}
        update["responders"] = {**alert.responders, body.assignee: alert.responders.get(body.assignee, "notified")}
        if alert.acknowledged_by is None:
            update |= {"acknowledged_by": actor, "acknowledged_at": now}
        detail["assignee"] = body.assignee
        change = "assigned"
    elif action == "resolve":
        if not alert.is_open:
            raise IllegalTransition(f"alert {alert.id} is {alert.status.value}; only an open alert can be resolved")
        update, change = {"status": AlertStatus.resolved, "resolved_at": now}, "resolved"
    elif action == "close":
        assert isinstance(body, CloseBody)
        if alert.status is AlertStatus.closed:
            raise IllegalTransition(f"alert {alert.id} is already closed ({alert.close_reason})")
        update = {"status": AlertStatus.closed, "closed_at": now, "close_reason": body.close_reason}
        if alert.resolved_at is None:
            update["resolved_at"] = now
        detail["close_reason"] = body.close_reason
        change = "closed"
    elif action == "note":
        assert isinstance(body, NoteBody)
        update, change = {"notes": alert.notes + 1}, "noted"
        detail["text"] = body.text
    else:
        assert isinstance(body, ReportBody)
        if not alert.is_open:
            raise IllegalTransition(f"alert {alert.id} is {alert.status.value}; status reports need an open alert")
        if responder_only and actor not in alert.responders and actor != alert.assignee:
            raise NotAllowed(f"alert {alert.id} was not assigned or sent to {actor}")
        update = {"responders": {**alert.responders, actor: body.status}}
        detail["responder_status"] = body.status
        if body.note:
            detail["text"] = body.note
        change = "responder"
    updated = alert.model_copy(update={**update, "version": alert.version + 1, "change": change, "updated_at": now})
    detail["to_status"] = updated.status.value
    # model_copy does not validate: one pass through the model catches a bad update here, not downstream.
    return Alert.model_validate(updated.model_dump()), detail
