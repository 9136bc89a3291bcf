"""Alert lifecycle commands (no I/O): legal moves, version checks, responder limits, audit detail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from alerting.config import SopStep
from alerting.lifecycle import (
    AckBody,
    AssignBody,
    CloseBody,
    CommandError,
    IllegalTransition,
    NotAllowed,
    NoteBody,
    ReportBody,
    ResolveBody,
    SopBody,
    VersionConflict,
    apply_command,
)
from alerting.schemas import Alert, AlertStatus
from detectors.schemas import Severity

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


@pytest.fixture
def new_alert() -> Alert:
    return Alert(
        id="a1",
        status=AlertStatus.new,
        priority=2,
        priority_reason="P2: high water level at river-01",
        severity=Severity.high,
        type="water_level",
        source="river-01",
        source_kind="sensor",
        title="River high",
        first_seen=T0,
        last_seen=T0,
        count=1,
        last_incident_id="i1",
        version=1,
        change="opened",
        updated_at=T0,
    )


def test_the_whole_lifecycle_with_its_audit_detail(new_alert: Alert) -> None:
    now = T0 + timedelta(minutes=1)
    acked, detail = apply_command(new_alert, "ack", AckBody(version=1, reason="seen"), "ops-ani", now)
    assert (acked.status, acked.acknowledged_by, acked.version, acked.change) == (
        AlertStatus.acknowledged,
        "ops-ani",
        2,
        "acknowledged",
    )
    assert detail == {"action": "ack", "from_status": "new", "to_status": "acknowledged", "reason": "seen"}
    assigned, detail = apply_command(acked, "assign", AssignBody(version=2, assignee="budi"), "ops-ani", now)
    assert assigned.status is AlertStatus.assigned and assigned.responders == {"budi": "notified"}
    assert detail["assignee"] == "budi"
    en_route, detail = apply_command(
        assigned, "report", ReportBody(status="en_route"), "budi", now, responder_only=True
    )
    assert en_route.responders == {"budi": "en_route"} and detail["responder_status"] == "en_route"
    noted, detail = apply_command(en_route, "note", NoteBody(text="road flooded, detour"), "budi", now)
    assert noted.notes == 1 and detail["text"] == "road flooded, detour"
    resolved, _ = apply_command(noted, "resolve", ResolveBody(version=noted.version), "ops-ani", now)
    assert resolved.status is AlertStatus.resolved and resolved.resolved_at == now
    closed, detail = apply_command(
        resolved, "close", CloseBody(version=resolved.version, close_reason="handled"), "ops-ani", now
    )
    assert (closed.status, closed.close_reason, detail["close_reason"]) == (AlertStatus.closed, "handled", "handled")


def test_a_stale_version_is_a_conflict_that_says_what_changed(new_alert: Alert) -> None:
    acked, _ = apply_command(new_alert, "ack", AckBody(version=1), "ops-1", T0)
    with pytest.raises(VersionConflict, match=r"at version 2, not 1.*last change: acknowledged"):
        apply_command(acked, "resolve", ResolveBody(version=1), "ops-2", T0)


@pytest.mark.parametrize(
    ("status", "action", "body"),
    [
        (AlertStatus.acknowledged, "ack", AckBody(version=1)),
        (AlertStatus.resolved, "assign", AssignBody(version=1, assignee="x")),
        (AlertStatus.resolved, "resolve", ResolveBody(version=1)),
        (AlertStatus.closed, "close", CloseBody(version=1, close_reason="test")),
        (AlertStatus.closed, "report", ReportBody(status="done")),
    ],
)
def test_illegal_transitions_are_refused(new_alert: Alert, status: AlertStatus, action: str, body: object) -> None:
    alert = new_alert.model_copy(update={"status": status})
    with pytest.raises(IllegalTransition, match=status.value):
        apply_command(alert, action, body, "ops-1", T0)  # type: ignore[arg-type]


def test_assigning_a_new_alert_acknowledges_it_and_close_works_from_any_open_state(new_alert: Alert) -> None:
    assigned, _ = apply_command(new_alert, "assign", AssignBody(version=1, assignee="rescue-klojen"), "ops-1", T0)
    assert assigned.acknowledged_by == "ops-1"
    closed, _ = apply_command(new_alert, "close", CloseBody(version=1, close_reason="false_alarm"), "ops-1", T0)
    assert closed.status is AlertStatus.closed and closed.resolved_at == T0


def test_responders_may_only_report_and_note_on_alerts_sent_to_them(new_alert: Alert) -> None:
    with pytest.raises(NotAllowed, match="not ack"):
        apply_command(new_alert, "ack", AckBody(version=1), "budi", T0, responder_only=True)
    with pytest.raises(NotAllowed, match="not assigned or sent to budi"):
        apply_command(new_alert, "report", ReportBody(status="on_scene"), "budi", T0, responder_only=True)


def test_bodies_refuse_bad_input() -> None:
    with pytest.raises(ValidationError):
        CloseBody.model_validate({"version": 1, "close_reason": "bored"})
    with pytest.raises(ValidationError):
        AckBody.model_validate({"version": 0})
    with pytest.raises(ValidationError):
        AssignBody.model_validate({"version": 1, "assignee": "no spaces please"})
    with pytest.raises(ValidationError):
        NoteBody.model_validate({"text": ""})
    with pytest.raises(ValidationError):
        AckBody.model_validate({"version": 1, "extra": True})


FLOOD_SOP = [
    SopStep(id="call-river-post", text={"en": "Call the river post", "id": "Hubungi pos sungai"}),
    SopStep(id="dispatch-rescue", text={"en": "Dispatch the rescue team"}),
    SopStep(id="notify-district", text={"en": "Notify the district head"}, required=False),
]


def test_resolving_needs_the_required_procedure_steps(new_alert: Alert) -> None:
    with pytest.raises(IllegalTransition, match="call-river-post, dispatch-rescue"):
        apply_command(new_alert, "resolve", ResolveBody(version=1), "ani", T0, sop=FLOOD_SOP)
    alert = new_alert
    for step in ("call-river-post", "dispatch-rescue"):
        alert, detail = apply_command(alert, "sop", SopBody(step=step), "ani", T0, sop=FLOOD_SOP)
        assert detail == {"action": "sop", "from_status": "new", "to_status": "new", "step": step, "done": True}
    assert alert.sop_done == {"call-river-post": "ani", "dispatch-rescue": "ani"}
    assert alert.change == "sop" and alert.version == 3
    # Unchecking takes a step back out; the optional step never gates.
    unchecked, _ = apply_command(alert, "sop", SopBody(step="dispatch-rescue", done=False), "budi", T0, sop=FLOOD_SOP)
    assert unchecked.sop_done == {"call-river-post": "ani"}
    resolved, _ = apply_command(alert, "resolve", ResolveBody(version=3), "ani", T0, sop=FLOOD_SOP)
    assert resolved.status is AlertStatus.resolved
    # Closing as handled is resolving too; closing as a false alarm needs no procedure.
    with pytest.raises(IllegalTransition, match="procedure steps still open"):
        apply_command(new_alert, "close", CloseBody(version=1, close_reason="handled"), "ani", T0, sop=FLOOD_SOP)
    closed, _ = apply_command(
        new_alert, "close", CloseBody(version=1, close_reason="false_alarm"), "ani", T0, sop=FLOOD_SOP
    )
    assert closed.status is AlertStatus.closed


def test_only_a_supervisor_overrides_the_procedure_and_the_override_is_audited(new_alert: Alert) -> None:
    body = ResolveBody(version=1, override_reason="river post unreachable, team already on site")
    with pytest.raises(NotAllowed, match="supervisor"):
        apply_command(new_alert, "resolve", body, "ani", T0, sop=FLOOD_SOP)
    resolved, detail = apply_command(new_alert, "resolve", body, "sari", T0, sop=FLOOD_SOP, supervisor=True)
    assert resolved.status is AlertStatus.resolved
    assert detail["sop_override"] == {
        "reason": "river post unreachable, team already on site",
        "steps_open": ["call-river-post", "dispatch-rescue"],
    }


def test_procedure_steps_must_exist_and_responders_cannot_check_them(new_alert: Alert) -> None:
    with pytest.raises(CommandError, match="no procedure step 'sing'; steps: call-river-post"):
        apply_command(new_alert, "sop", SopBody(step="sing"), "ani", T0, sop=FLOOD_SOP)
    with pytest.raises(CommandError, match="has no procedure"):
        apply_command(new_alert, "sop", SopBody(step="call-river-post"), "ani", T0)
    with pytest.raises(NotAllowed):
        apply_command(new_alert, "sop", SopBody(step="call-river-post"), "budi", T0, responder_only=True, sop=FLOOD_SOP)
