"""Operator and responder commands on an alert: the lifecycle's legal moves (pure logic, no I/O).

::

    new ──ack──▶ acknowledged ──assign──▶ assigned ──resolve──▶ resolved ──close──▶ closed
     │                 │                      ▲  │                  ▲
     └──assign─────────┼──────────────────────┘  └── report (en_route, on_scene, done)
     └──resolve / close from any open state ─────────────────────────┘

``ack`` needs ``new``; ``assign`` works on any open alert (assigning a new alert acknowledges it
too; assigning again hands it over); ``resolve`` needs an open alert; ``close`` needs a reason
(``handled``, ``false_alarm``, ``duplicate``, ``test``) and works on anything not closed yet;
``note`` works on anything; ``sop`` checks or unchecks one step of the alert type's standard
operating procedure, and ``resolve`` (or ``close`` as ``handled`` of an unresolved alert) needs
every required step checked, unless a supervisor (admin) overrides with a reason. Responders
``report`` their status on an open alert they were assigned or notified about, and ``ack`` a new
one (directly or through one of their groups: assigned to it, or sent to it by its route). A note
may carry a photo from the scene (a JPEG of at most 5 MB, stored apart from the audit). Every
command but ``note`` and ``report`` carries the ``version`` the client saw: if the alert changed
since, the command is refused (409) rather than applied to a state its author never saw.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting.config import SopStep
from alerting.exceptions import AlertingError
from alerting.schemas import Alert, AlertStatus, CloseReason

Action = Literal["ack", "assign", "resolve", "close", "note", "report", "sop"]
ACTIONS: tuple[Action, ...] = ("ack", "assign", "resolve", "close", "note", "report", "sop")


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


MAX_PHOTO_BYTES = 5 * 1024 * 1024
JPEG_MAGIC = b"\xff\xd8\xff"
_MAX_PHOTO_B64_CHARS = 4 * ((MAX_PHOTO_BYTES + 2) // 3)


def decode_jpeg_b64(value: str, field: str = "photo_jpeg_b64") -> bytes:
    """The JPEG photo in ``value`` (base64); :class:`CommandError` (400) when it is not valid base64,
    larger than ``MAX_PHOTO_BYTES`` or not a JPEG."""
    if len(value) > _MAX_PHOTO_B64_CHARS:
        raise CommandError(f"the photo is too big: the limit is {MAX_PHOTO_BYTES} bytes")
    try:
        photo = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CommandError(f"{field} is not valid base64") from exc
    if len(photo) > MAX_PHOTO_BYTES:
        raise CommandError(f"the photo is {len(photo)} bytes; the limit is {MAX_PHOTO_BYTES}")
    if not photo.startswith(JPEG_MAGIC):
        raise CommandError("the photo is not a JPEG")
    return photo


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


class _OverridableBody(_Body):
    override_reason: str | None = Field(
        None, min_length=3, max_length=2000, description="a supervisor resolving with SOP steps still open: why"
    )


class ResolveBody(_OverridableBody):
    """``POST /api/v1/alerts/{id}/resolve``."""

    version: int = Field(ge=1)


class CloseBody(_OverridableBody):
    """``POST /api/v1/alerts/{id}/close``: the reason code is required."""

    version: int = Field(ge=1)
    close_reason: CloseReason


class NoteBody(BaseModel):
    """``POST /api/v1/alerts/{id}/note``: notes never conflict, so the version is optional. A note may
    carry a photo from the scene (``photo_jpeg_b64``, a JPEG of at most 5 MB); it needs text, a photo
    or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field("", max_length=4000)
    version: int | None = Field(None, ge=1)
    photo_jpeg_b64: str | None = Field(None, min_length=1, description="a JPEG photo from the scene, base64")

    @model_validator(mode="after")
    def _text_or_photo(self) -> Self:
        if not self.text and not self.photo_jpeg_b64:
            raise ValueError("a note needs text, a photo (photo_jpeg_b64) or both")
        return self


class ReportBody(BaseModel):
    """``POST /api/v1/alerts/{id}/report``: a responder's status on the alert."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["en_route", "on_scene", "done"]
    note: str | None = Field(None, max_length=2000)
    version: int | None = Field(None, ge=1)


class SopBody(BaseModel):
    """``POST /api/v1/alerts/{id}/sop``: check (or uncheck) one step of the alert's procedure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str = Field(min_length=1, max_length=64)
    done: bool = True
    version: int | None = Field(None, ge=1)


CommandBody = AckBody | AssignBody | ResolveBody | CloseBody | NoteBody | ReportBody | SopBody
BODIES: dict[Action, type[BaseModel]] = {
    "ack": AckBody,
    "assign": AssignBody,
    "resolve": ResolveBody,
    "close": CloseBody,
    "note": NoteBody,
    "report": ReportBody,
    "sop": SopBody,
}


def _check_sop(alert: Alert, body: BaseModel, sop: Sequence[SopStep], supervisor: bool, detail: dict[str, Any]) -> None:
    """Resolving needs the required steps done; a supervisor may override, with a reason."""
    missing = [step.id for step in sop if step.required and step.id not in alert.sop_done]
    if not missing:
        return
    override = getattr(body, "override_reason", None)
    if override and supervisor:
        detail["sop_override"] = {"reason": override, "steps_open": missing}
        return
    if override:
        raise NotAllowed("only a supervisor (admin) may resolve with procedure steps still open")
    raise IllegalTransition(
        f"alert {alert.id}: procedure steps still open: {', '.join(missing)}; check them first "
        "(or a supervisor resolves with override_reason)"
    )


def is_theirs(alert: Alert, actor: str, groups: Collection[str] = (), sent: bool = False) -> bool:
    """Whether the alert is the responder's: assigned to them or one of their ``groups``, listed in its
    ``responders`` (themselves or a group of theirs), or ``sent`` to them (pushed, or routed to a group
    of theirs: the engine knows)."""
    mine = {actor, *groups}
    return sent or alert.assignee in mine or not mine.isdisjoint(alert.responders)


def apply_command(
    alert: Alert,
    action: Action,
    body: BaseModel,
    actor: str,
    now: datetime,
    *,
    responder_only: bool = False,
    sop: Sequence[SopStep] = (),
    supervisor: bool = False,
    groups: Collection[str] = (),
    sent: bool = False,
) -> tuple[Alert, dict[str, Any]]:
    """The alert after the command, and the audit detail (who did what, from which state, why).

    ``responder_only``: the actor is a responder, who may only ``report``, add notes and ``ack`` a
    new alert that is theirs (see :func:`is_theirs`, with ``groups``, the responder's groups, and
    ``sent``, whether the alert was sent to them or their groups).
    ``sop``: the procedure of the alert's type; ``supervisor``: the actor may override it.
    """
    version = getattr(body, "version", None)
    if version is not None and version != alert.version:
        raise VersionConflict(
            f"alert {alert.id} is at version {alert.version}, not {version}: it changed since you saw it "
            f"(last change: {alert.change}); reload it and try again"
        )
    if responder_only and action not in ("report", "note", "ack"):
        raise NotAllowed(f"responders may report their status and add notes, not {action}")
    if responder_only and action == "note" and not is_theirs(alert, actor, groups, sent):
        raise NotAllowed(f"alert {alert.id} was not assigned or sent to {actor} or their groups: no notes from them")
    if responder_only and action == "ack" and not is_theirs(alert, actor, groups, sent):
        raise NotAllowed(f"alert {alert.id} was not assigned or sent to {actor} or their groups: they may not ack it")
    if responder_only and action == "ack" and alert.status is not AlertStatus.new:
        raise NotAllowed(f"alert {alert.id} is {alert.status.value}: a responder may acknowledge only a new alert")
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
        _check_sop(alert, body, sop, supervisor, detail)
        update, change = {"status": AlertStatus.resolved, "resolved_at": now}, "resolved"
    elif action == "close":
        assert isinstance(body, CloseBody)
        if alert.status is AlertStatus.closed:
            raise IllegalTransition(f"alert {alert.id} is already closed ({alert.close_reason})")
        if body.close_reason == "handled" and alert.resolved_at is None:
            _check_sop(alert, body, sop, supervisor, detail)
        update = {"status": AlertStatus.closed, "closed_at": now, "close_reason": body.close_reason}
        if alert.resolved_at is None:
            update["resolved_at"] = now
        detail["close_reason"] = body.close_reason
        change = "closed"
    elif action == "note":
        assert isinstance(body, NoteBody)
        update, change = {"notes": alert.notes + 1}, "noted"
        if body.text:
            detail["text"] = body.text
    elif action == "sop":
        assert isinstance(body, SopBody)
        if not alert.is_open:
            raise IllegalTransition(f"alert {alert.id} is {alert.status.value}; procedure steps need an open alert")
        known = {step.id: step for step in sop}
        if body.step not in known:
            valid = ", ".join(known) or "none: this alert type has no procedure"
            raise CommandError(f"alert {alert.id} ({alert.type}) has no procedure step {body.step!r}; steps: {valid}")
        done = dict(alert.sop_done)
        if body.done:
            done[body.step] = actor
        else:
            done.pop(body.step, None)
        update, change = {"sop_done": done}, "sop"
        detail |= {"step": body.step, "done": body.done}
    else:
        assert isinstance(body, ReportBody)
        if not alert.is_open:
            raise IllegalTransition(f"alert {alert.id} is {alert.status.value}; status reports need an open alert")
        if responder_only and not is_theirs(alert, actor, groups, sent):
            raise NotAllowed(f"alert {alert.id} was not assigned or sent to {actor} or their groups")
        update = {"responders": {**alert.responders, actor: body.status}}
        detail["responder_status"] = body.status
        if body.note:
            detail["text"] = body.note
        change = "responder"
    updated = alert.model_copy(update={**update, "version": alert.version + 1, "change": change, "updated_at": now})
    detail["to_status"] = updated.status.value
    # model_copy does not validate: one pass through the model catches a bad update here, not downstream.
    return Alert.model_validate(updated.model_dump()), detail
