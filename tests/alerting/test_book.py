"""The alert book: dedup by identity, reopen, flapping, explained priority and correlation (no I/O)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from alerting.book import AlertBook
from alerting.config import AlertingConfig
from alerting.lifecycle import ResolveBody, apply_command
from alerting.schemas import AlertStatus
from alerting.silences import SilenceCreate
from detectors.schemas import Incident, Phase, Severity
from ingest.schemas import Location

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)  # 14:00 in Jakarta
JAKARTA = ZoneInfo("Asia/Jakarta")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def incident_factory() -> Callable[..., Incident]:
    counter = itertools.count()

    def make(
        type_: str = "water_level",
        source: str = "river-01",
        *,
        ts: datetime = T0,
        phase: Phase = Phase.raised,
        severity: Severity = Severity.high,
        confidence: float | None = 1.0,
        zone: str | None = None,
        district: str | None = "Klojen",
        kind: str = "sensor",
        object_class: str | None = None,
    ) -> Incident:
        return Incident.model_validate(
            {
                "id": f"inc-{next(counter)}",
                "type": type_,
                "source": source,
                "source_kind": kind,
                "rule": "r",
                "phase": phase,
                "ts": ts,
                "detected_at": ts,
                "severity": severity,
                "confidence": confidence,
                "object_class": object_class,
                "zone": zone,
                "location": Location(lat=-7.98, lon=112.63, district=district) if district else None,
                "title": f"{type_} at {source}",
                "evidence": {"snapshot_jpeg_b64": "AAAA", "bbox_xyxy": [0, 0, 1, 1]},
            }
        )

    return make


@pytest.fixture
def book_factory() -> Callable[..., tuple[AlertBook, Clock]]:
    def make(sensor_criticality: dict[str, str] | None = None, **config: Any) -> tuple[AlertBook, Clock]:
        clock = Clock()
        ids = (f"alert-{n}" for n in itertools.count(1))
        book = AlertBook(AlertingConfig.model_validate(config), JAKARTA, clock, lambda: next(ids), sensor_criticality)
        return book, clock

    return make


def test_repeats_count_on_the_open_alert_and_evidence_drops_the_inline_snapshot(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, _ = book_factory()
    first = book.apply(incident_factory())[0]
    second = book.apply(incident_factory(ts=T0 + timedelta(seconds=30)))[0]
    assert (first.id, second.id, second.count, second.version, second.change) == (
        "alert-1",
        "alert-1",
        2,
        2,
        "repeated",
    )
    assert second.last_seen == T0 + timedelta(seconds=30)
    assert "snapshot_jpeg_b64" not in second.evidence and second.evidence["incident_id"] == "inc-1"
    other_zone = book.apply(incident_factory(zone="north"))[0]
    assert other_zone.id == "alert-2"  # zone is part of the default identity


def test_identity_is_configurable(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, _ = book_factory(identity=["type", "district"])
    a = book.apply(incident_factory(source="river-01"))[0]
    b = book.apply(incident_factory(source="river-02"))[0]
    assert a.id == b.id and b.count == 2
    with pytest.raises(ValidationError, match="must include type"):
        AlertingConfig.model_validate({"identity": ["source"]})


def test_a_resolved_alert_reopens_within_the_window_and_a_new_one_opens_after_it(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, clock = book_factory(reopen_window_s=600)
    alert = book.apply(incident_factory())[0]
    resolved, _ = apply_command(alert, "resolve", ResolveBody(version=1), "ops-1", clock.now)
    book.put(resolved)
    clock.now = T0 + timedelta(minutes=5)
    again = book.apply(incident_factory(ts=clock.now))[0]
    assert (again.id, again.status, again.change, again.count) == (alert.id, AlertStatus.new, "reopened", 2)
    assert again.resolved_at is None and again.acknowledged_by is None
    resolved2, _ = apply_command(again, "resolve", ResolveBody(version=again.version), "ops-1", clock.now)
    book.put(resolved2)
    clock.now = T0 + timedelta(minutes=16)
    fresh = book.apply(incident_factory(ts=clock.now))[0]
    assert fresh.id != alert.id and fresh.change == "opened"


def test_a_condition_raised_again_too_often_is_flapping(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, clock = book_factory(flapping={"max_transitions": 3, "window_s": 600})
    alert = book.apply(incident_factory())[0]
    for n in range(1, 4):
        clock.now = T0 + timedelta(minutes=n)
        book.apply(incident_factory(ts=clock.now, phase=Phase.cleared))
        alert = book.apply(incident_factory(ts=clock.now + timedelta(seconds=10)))[0]
        assert alert.flapping is (n >= 3), n
    clock.now = T0 + timedelta(minutes=30)  # quiet for longer than the window
    alert = book.apply(incident_factory(ts=clock.now))[0]
    assert not alert.flapping


def test_priority_is_explained_from_severity_confidence_corroboration_and_night(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, _ = book_factory(
        types={"smoke": {"severity": "critical", "name": "smoke"}},
        night={"hours": "22:00-05:00", "types": ["intrusion"]},
    )
    smoke = book.apply(incident_factory("smoke", "school-01", severity=Severity.medium, confidence=0.9))[0]
    assert smoke.priority == 1
    assert smoke.priority_reason == "P1: critical smoke 0.90 at school-01 in Klojen"
    low = book.apply(
        incident_factory("intrusion", "cam-9", severity=Severity.medium, confidence=0.3, district="Sukun")
    )[0]
    assert low.priority == 4 and "confidence under 0.50: one lower" in low.priority_reason
    person = book.apply(
        incident_factory(
            "intrusion",
            "cam-7",
            kind="camera",
            severity=Severity.high,
            confidence=0.87,
            object_class="person",
            district="Blimbing",
        )
    )[0]
    assert person.priority == 2
    assert person.priority_reason.startswith("P2: high intrusion (person) 0.87 at cam-7")
    assert (person.confidence, person.object_class) == (0.87, "person")
    # A camera without object confirmation: motion only, no number, and one lower.
    motion = book.apply(
        incident_factory(
            "intrusion", "cam-8", kind="camera", severity=Severity.high, confidence=None, district="Lowokwaru"
        )
    )[0]
    assert motion.priority == 3 and "motion only, no object check: one lower" in motion.priority_reason
    assert motion.confidence is None
    # Another source alerting in the same district within 5 min corroborates: one higher.
    crowd = book.apply(incident_factory("crowd", "cam-river", kind="camera", severity=Severity.medium, zone="bank"))[0]
    assert crowd.priority == 2
    assert crowd.priority_reason.endswith("+ smoke on school-01 in the same district within 5 min")
    night = T0.replace(hour=16)  # 23:00 in Jakarta
    at_night = book.apply(
        incident_factory("intrusion", "cam-7", ts=night, severity=Severity.high, district="Blimbing")
    )[0]
    assert at_night.priority == 1 and "night hours (23:00)" in at_night.priority_reason


def test_a_worse_repeat_raises_priority_and_a_milder_one_never_lowers_it(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, _ = book_factory()
    assert book.apply(incident_factory(severity=Severity.medium))[0].priority == 3
    assert book.apply(incident_factory(severity=Severity.critical))[0].priority == 1
    assert book.apply(incident_factory(severity=Severity.low))[0].priority == 1


CORRELATION = {
    "correlations": [
        {
            "name": "flood-risk",
            "when": [{"types": ["water_level"]}, {"types": ["crowd"], "source_kinds": ["camera"]}],
            "same": "district",
            "within_s": 300,
            "then": {"type": "flood_risk", "priority": 1, "title": "Flood risk in {district}"},
        }
    ]
}


def test_correlation_raises_one_alert_for_matching_sources_in_the_same_district(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, _ = book_factory(**CORRELATION)
    level = book.apply(incident_factory("water_level", "river-01", severity=Severity.medium))
    assert len(level) == 1
    elsewhere = book.apply(incident_factory("crowd", "cam-far", kind="camera", district="Sukun"))
    assert len(elsewhere) == 1  # another district: nothing to correlate
    changes = book.apply(incident_factory("crowd", "cam-bank", kind="camera", ts=T0 + timedelta(minutes=2)))
    assert len(changes) == 2
    flood = changes[1]
    assert (flood.type, flood.priority, flood.source_kind, flood.title) == (
        "flood_risk",
        1,
        "correlation",
        "Flood risk in Klojen",
    )
    assert set(flood.related) == {level[0].id, changes[0].id}
    assert "water level on river-01 + crowd on cam-bank" in flood.priority_reason
    # A repeat of a member changes nothing; a new member joining updates the same correlation alert.
    assert len(book.apply(incident_factory("crowd", "cam-bank", kind="camera", ts=T0 + timedelta(minutes=3)))) == 1
    joined = book.apply(incident_factory("water_level", "river-02", ts=T0 + timedelta(minutes=4)))
    assert joined[-1].id == flood.id and joined[-1].change == "correlated" and len(joined[-1].related) == 3


def test_correlation_needs_the_members_within_the_window(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, _ = book_factory(**CORRELATION)
    book.apply(incident_factory("water_level", "river-01"))
    late = book.apply(incident_factory("crowd", "cam-bank", kind="camera", ts=T0 + timedelta(minutes=6)))
    assert len(late) == 1


def test_cleared_marks_the_condition_inactive_once(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, _ = book_factory()
    book.apply(incident_factory())
    cleared = book.apply(incident_factory(phase=Phase.cleared))
    assert [a.condition_active for a in cleared] == [False] and cleared[0].status is AlertStatus.new
    assert book.apply(incident_factory(phase=Phase.cleared)) == []
    assert book.apply(incident_factory(phase=Phase.cleared, source="nowhere")) == []


def test_a_silence_suppresses_matching_alerts_and_its_expiry_releases_them(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, clock = book_factory()
    request = SilenceCreate.model_validate(
        {"matchers": {"sensors": ["river-01"]}, "duration_s": 600, "reason": "works"}
    )
    book.silences["s1"] = request.to_silence("s1", "ops-ani", T0)
    held = book.apply(incident_factory())[0]
    free = book.apply(incident_factory(source="river-02"))[0]
    assert (held.suppressed, held.suppressed_by, free.suppressed) == (True, ["s1"], False)
    # A silenced source corroborates nothing: river-02 kept its own priority.
    assert "same district" not in free.priority_reason
    clock.now = T0 + timedelta(minutes=11)
    released = book.resuppress()
    assert [(a.id, a.change, a.suppressed) for a in released] == [(held.id, "unsuppressed", False)]
    assert book.silences == {}


def test_a_sensors_criticality_weighs_its_alerts(
    book_factory: Callable[..., tuple[AlertBook, Clock]], incident_factory: Callable[..., Incident]
) -> None:
    book, _ = book_factory(sensor_criticality={"school-01": "critical", "farm-09": "low"}, corroboration_window_s=0)
    school = book.apply(incident_factory("smoke", "school-01", severity=Severity.high))[0]
    assert school.priority == 1 and school.priority_reason.endswith("+ critical site")
    farm = book.apply(incident_factory("smoke", "farm-09", severity=Severity.high))[0]
    assert farm.priority == 3 and "low-criticality site: one lower" in farm.priority_reason
    plain = book.apply(incident_factory("smoke", "shop-02", severity=Severity.high))[0]
    assert plain.priority == 2
