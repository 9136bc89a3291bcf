"""What a responder may do (no I/O): acknowledge a new alert that is theirs (directly, through a
group, or because it was sent to them), report on it, and add notes with a photo from the scene."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from alerting.lifecycle import (
    MAX_PHOTO_BYTES,
    AckBody,
    AssignBody,
    CommandError,
    NotAllowed,
    NoteBody,
    ReportBody,
    apply_command,
    decode_jpeg_b64,
    is_theirs,
)
from alerting.schemas import AlertStatus
from tests.alerting.conftest import T0, AlertFactory

pytestmark = pytest.mark.unit
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256))


def test_a_responder_acknowledges_a_new_alert_of_theirs_or_their_groups(alert_factory: AlertFactory) -> None:
    # Reopened alerts keep their assignee: new again, and still the team's.
    reopened = alert_factory(assignee="rescue-klojen", responders={"rescue-klojen": "notified"})
    acked, detail = apply_command(
        reopened, "ack", AckBody(version=1), "budi", T0, responder_only=True, groups=["rescue-klojen"]
    )
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_at) == (AlertStatus.acknowledged, "budi", T0)
    assert detail == {"action": "ack", "from_status": "new", "to_status": "acknowledged"}
    mine = alert_factory(assignee="budi")
    assert apply_command(mine, "ack", AckBody(version=1), "budi", T0, responder_only=True)[0].acknowledged_by == "budi"
    # Sent to them (pushed, or routed to a group of theirs: the engine says so).
    routed = alert_factory()
    assert apply_command(routed, "ack", AckBody(version=1), "budi", T0, responder_only=True, sent=True)[0].status is (
        AlertStatus.acknowledged
    )


def test_a_responder_may_not_acknowledge_someone_elses_alert_or_anything_but_a_new_one(
    alert_factory: AlertFactory,
) -> None:
    others = alert_factory(assignee="rescue-sukun", responders={"rescue-sukun": "notified", "sari": "en_route"})
    with pytest.raises(NotAllowed, match="not assigned or sent to budi or their groups: they may not ack"):
        apply_command(others, "ack", AckBody(version=1), "budi", T0, responder_only=True, groups=["rescue-klojen"])
    assigned = alert_factory(status="assigned", assignee="rescue-klojen")
    with pytest.raises(NotAllowed, match="is assigned: a responder may acknowledge only a new alert"):
        apply_command(assigned, "ack", AckBody(version=1), "budi", T0, responder_only=True, groups=["rescue-klojen"])
    with pytest.raises(NotAllowed, match="not assign"):
        apply_command(
            assigned, "assign", AssignBody(version=1, assignee="budi"), "budi", T0, responder_only=True, sent=True
        )


def test_group_members_report_on_their_groups_alerts(alert_factory: AlertFactory) -> None:
    team = alert_factory(status="assigned", assignee="rescue-klojen", responders={"rescue-klojen": "notified"})
    with pytest.raises(NotAllowed, match="not assigned or sent to budi"):
        apply_command(team, "report", ReportBody(status="en_route"), "budi", T0, responder_only=True)
    on_scene, detail = apply_command(
        team, "report", ReportBody(status="on_scene"), "budi", T0, responder_only=True, groups=["rescue-klojen"]
    )
    assert on_scene.responders == {"rescue-klojen": "notified", "budi": "on_scene"}
    assert detail["responder_status"] == "on_scene"


@pytest.mark.parametrize(
    ("assignee", "responders", "groups", "sent", "expected"),
    [
        ("budi", {}, (), False, True),
        ("team", {}, ("team",), False, True),
        (None, {"team": "notified"}, ("team",), False, True),
        (None, {"budi": "done"}, (), False, True),
        (None, {}, (), True, True),
        ("sari", {"sari": "en_route"}, ("team",), False, False),
        (None, {}, (), False, False),
    ],
)
def test_whose_alert_it_is(
    alert_factory: AlertFactory,
    assignee: str | None,
    responders: dict[str, str],
    groups: tuple[str, ...],
    sent: bool,
    expected: bool,
) -> None:
    alert = alert_factory(assignee=assignee, responders=responders)
    assert is_theirs(alert, "budi", groups, sent) is expected


def test_a_note_may_carry_a_photo_and_needs_text_or_a_photo(alert_factory: AlertFactory) -> None:
    photo = base64.b64encode(JPEG).decode()
    body = NoteBody(photo_jpeg_b64=photo)
    noted, detail = apply_command(alert_factory(assignee="budi"), "note", body, "budi", T0, responder_only=True)
    assert noted.notes == 1 and noted.change == "noted"
    assert "text" not in detail and "photo_jpeg_b64" not in detail  # the bytes never go into the audit
    assert NoteBody(text="smoke from the roof", photo_jpeg_b64=photo).text == "smoke from the roof"
    with pytest.raises(ValidationError, match="needs text, a photo"):
        NoteBody.model_validate({})
    with pytest.raises(ValidationError):
        NoteBody.model_validate({"text": ""})
    with pytest.raises(ValidationError):
        NoteBody.model_validate({"text": "x", "photo_jpeg_b64": ""})


def test_photos_are_checked_as_manual_reports_are() -> None:
    assert decode_jpeg_b64(base64.b64encode(JPEG).decode()) == JPEG
    with pytest.raises(CommandError, match="not valid base64"):
        decode_jpeg_b64("%%% not base64")
    with pytest.raises(CommandError, match="not a JPEG"):
        decode_jpeg_b64(base64.b64encode(b"GIF89a....").decode())
    with pytest.raises(CommandError, match="the limit is"):
        decode_jpeg_b64(base64.b64encode(b"\xff\xd8\xff" + bytes(MAX_PHOTO_BYTES)).decode())
    exactly = base64.b64encode(b"\xff\xd8\xff" + bytes(MAX_PHOTO_BYTES - 3)).decode()
    assert len(decode_jpeg_b64(exactly)) == MAX_PHOTO_BYTES


def test_a_responder_adds_notes_only_to_alerts_that_are_theirs(alert_factory: AlertFactory) -> None:
    note = NoteBody(text="smoke from the roof")
    with pytest.raises(NotAllowed, match="no notes from them"):
        apply_command(alert_factory(), "note", note, "budi", T0, responder_only=True)
    theirs = apply_command(alert_factory(), "note", note, "budi", T0, responder_only=True, sent=True)[0]
    assert theirs.notes == 1  # pushed to them: theirs
    by_group = alert_factory(assignee="rescue-klojen")
    assert (
        apply_command(by_group, "note", note, "budi", T0, responder_only=True, groups=["rescue-klojen"])[0].notes == 1
    )
    assert apply_command(alert_factory(), "note", note, "ani", T0)[0].notes == 1  # operators note any alert
