"""Alerts raised by hand: the incident a report becomes, and what is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from alerting.config import DEFAULT_MANUAL_TYPES
from alerting.lifecycle import CommandError
from alerting.manual import ManualAlertBody, manual_incident, manual_photo

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 64).decode()


def _body(**overrides: object) -> ManualAlertBody:
    fields: dict[str, object] = {
        "type": "fire",
        "severity": "critical",
        "title": "Kebakaran ruko di Jl. Basuki Rahmat",
        "description": "Caller sees smoke from the second floor",
        "lat": -7.9786,
        "lon": 112.6309,
        "district": "Klojen",
        "reporter": "+62 812 0000 0000",
        "photo_jpeg_b64": JPEG,
    }
    return ManualAlertBody.model_validate(fields | overrides)


def test_a_report_becomes_a_manual_incident_of_its_own_source() -> None:
    first = manual_incident(_body(), "ani", T0, DEFAULT_MANUAL_TYPES, photo_id="p-1")
    second = manual_incident(_body(), "ani", T0, DEFAULT_MANUAL_TYPES)
    assert first.source_kind == "manual" and first.rule == "manual"
    assert first.type == "fire" and first.severity.priority == 1
    assert first.location is not None and first.location.district == "Klojen"
    assert first.evidence["raised_by"] == "ani" and first.evidence["reporter"] == "+62 812 0000 0000"
    # The photo is stored apart (up to 5 MB is more than a Kafka record holds): the incident names it.
    assert first.evidence["photo_id"] == "p-1" and "snapshot_jpeg_b64" not in first.evidence
    assert "photo_id" not in second.evidence
    assert manual_photo(_body()) == base64.b64decode(JPEG) and manual_photo(_body(photo_jpeg_b64=None)) is None
    # Two callers, two fires: never merged into one alert by the source.
    assert first.source != second.source and first.id != second.id


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"type": "ufo"}, "cannot be raised by hand; types: citizen_report"),
        ({"photo_jpeg_b64": base64.b64encode(b"GIF89a....").decode()}, "not a JPEG"),
        ({"photo_jpeg_b64": "%%%not base64"}, "not valid base64"),
    ],
)
def test_unusable_reports_are_refused_with_the_reason(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(CommandError, match=reason):
        body = _body(**overrides)
        manual_photo(body)
        manual_incident(body, "ani", T0, DEFAULT_MANUAL_TYPES)


def test_a_photo_over_the_limit_is_refused() -> None:
    big = base64.b64encode(b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024)).decode()
    with pytest.raises(CommandError, match="the limit is"):
        manual_photo(_body(photo_jpeg_b64=big))
