"""The engine around the rules: replay safety, state export/import, dirty tracking, forgetting."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest

from detectors.config import DetectorsConfig
from detectors.exceptions import DetectorError, RuleStateError
from detectors.schemas import Incident, Phase
from detectors.sensor_rules import (
    RuleContext,
    SensorRuleEngine,
    ThresholdRule,
    ThresholdRuleConfig,
)
from ingest.schemas import SensorReading

pytestmark = pytest.mark.unit

ReadingFactory = Callable[..., SensorReading]
EngineFactory = Callable[..., SensorRuleEngine]

FLOOD = {"name": "river-flood", "kind": "water_level", "above": 2.5, "clear_below": 2.3, "for_s": 120}
RISING = {"name": "river-rising", "type": "rate", "kind": "water_level", "rise_per_min": 0.3, "window_s": 300}
STUCK = {"name": "river-stuck", "type": "stuck", "kind": "water_level", "window_s": 600, "min_readings": 3}
SILENT = {"name": "river-silent", "type": "silent", "kind": "water_level", "after_s": 600}
ALL_RULES = [FLOOD, RISING, STUCK, SILENT]


def process_all(engine: SensorRuleEngine, readings: Iterable[SensorReading]) -> list[Incident]:
    incidents: list[Incident] = []
    for reading in readings:
        incidents.extend(engine.process(reading))
    return incidents


def through_json(state: dict[str, Any] | None) -> dict[str, Any]:
    """What a state store gives back: the dict after a JSON round trip."""
    assert state is not None
    loaded: dict[str, Any] = json.loads(json.dumps(state))
    return loaded


@pytest.fixture
def river_readings(reading_factory: ReadingFactory) -> list[SensorReading]:
    """Twenty minutes of river-01: flat, then a fast rise past the flood level."""
    values = [2.0] * 12 + [2.4, 2.9, 3.4, 3.9, 4.0, 4.0, 4.0, 4.0]
    return [reading_factory(value, at_s=60 * i) for i, value in enumerate(values)]


def test_a_reading_no_newer_than_the_last_one_is_ignored(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([{"name": "flood", "kind": "water_level", "above": 2.5}])
    assert len(engine.process(reading_factory(3.0, at_s=60))) == 1
    assert engine.take_dirty() == {"river-01"}
    # A duplicate, and an older reading that would clear the rule: both ignored, nothing changes.
    assert engine.process(reading_factory(3.0, at_s=60)) == []
    assert engine.process(reading_factory(1.0, at_s=30)) == []
    assert engine.take_dirty() == set()
    assert [i.phase for i in engine.process(reading_factory(1.0, at_s=90))] == [Phase.cleared]


def test_replay_after_importing_exported_state_emits_nothing(
    engine_factory: EngineFactory, river_readings: list[SensorReading], start: datetime
) -> None:
    before = engine_factory(ALL_RULES)
    first = process_all(before, river_readings)
    first += before.tick(start + timedelta(hours=1))
    assert {i.rule for i in first} == {"river-flood", "river-rising", "river-stuck", "river-silent"}
    saved = {sensor_id: through_json(before.export_state(sensor_id)) for sensor_id in before.take_dirty()}

    # A new worker restores the state and the partition is replayed from an older offset.
    after = engine_factory(ALL_RULES)
    for sensor_id, state in saved.items():
        after.import_state(sensor_id, state)
    assert process_all(after, river_readings) == []
    assert after.tick(start + timedelta(hours=1)) == []
    assert after.export_state("river-01") == saved["river-01"]


def test_replay_from_a_mid_stream_snapshot_continues_exactly_where_it_stopped(
    engine_factory: EngineFactory, river_readings: list[SensorReading]
) -> None:
    reference = engine_factory(ALL_RULES)
    expected = process_all(reference, river_readings)

    crashed = engine_factory(ALL_RULES)
    head = process_all(crashed, river_readings[:14])
    snapshot = through_json(crashed.export_state("river-01"))
    process_all(crashed, river_readings[14:17])  # emitted, but the state was not saved before the crash

    restored = engine_factory(ALL_RULES)
    restored.import_state("river-01", snapshot)
    tail = process_all(restored, river_readings)  # the whole partition again
    # The replay re-derives the same incidents (same ids) from the snapshot on; sinks dedupe the overlap.
    assert [i.id for i in head + tail] == [i.id for i in expected]


def test_exported_state_is_json_with_iso_timestamps(
    engine_factory: EngineFactory, river_readings: list[SensorReading]
) -> None:
    engine = engine_factory(ALL_RULES)
    process_all(engine, river_readings)
    state = engine.export_state("river-01")
    assert state is not None
    assert json.loads(json.dumps(state)) == state
    assert state["last_ts"] == river_readings[-1].ts.isoformat()
    assert set(state["rules"]) == {"river-flood", "river-rising", "river-stuck", "river-silent"}
    assert state["rules"]["river-flood"] == {
        "type": "threshold",
        "state": {
            "active": True,
            "pending_since": river_readings[13].ts.isoformat(),
            "raised_ts": river_readings[15].ts.isoformat(),
        },
    }
    # Windows hold one ISO start and seconds after it: cheap to write for long windows.
    window = state["rules"]["river-rising"]["state"]["window"]
    assert window["start"] == river_readings[-6].ts.isoformat()
    assert window["offsets_s"] == [0.0, 60.0, 120.0, 180.0, 240.0, 300.0]
    assert window["values"] == [3.4, 3.9, 4.0, 4.0, 4.0, 4.0]


def test_export_state_of_an_unknown_sensor_is_none(engine_factory: EngineFactory) -> None:
    assert engine_factory([FLOOD]).export_state("river-99") is None


def test_readings_no_rule_watches_leave_no_state(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([FLOOD])
    assert engine.process(reading_factory(80.0, sensor_id="rain-01", kind="rainfall")) == []
    assert engine.export_state("rain-01") is None
    assert engine.take_dirty() == set()


def test_take_dirty_names_sensors_changed_by_readings_and_timers(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([FLOOD, SILENT], sensors=[])
    engine.process(reading_factory(2.0, sensor_id="river-01"))
    engine.process(reading_factory(2.0, sensor_id="river-02"))
    assert engine.take_dirty() == {"river-01", "river-02"}
    assert engine.take_dirty() == set()
    engine.process(reading_factory(2.0, sensor_id="river-02", at_s=700))
    assert len(engine.tick(start + timedelta(seconds=650))) == 1  # river-01 went silent
    assert engine.take_dirty() == {"river-01", "river-02"}
    assert engine.tick(start + timedelta(seconds=660)) == []
    assert engine.take_dirty() == set()


def test_import_state_is_not_dirty_and_replaces_what_was_there(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    source = engine_factory([FLOOD])
    source.process(reading_factory(2.0, at_s=0))
    state = through_json(source.export_state("river-01"))

    engine = engine_factory([FLOOD])
    engine.process(reading_factory(2.0, at_s=500))
    engine.take_dirty()
    engine.import_state("river-01", state)
    assert engine.take_dirty() == set()
    assert engine.export_state("river-01") == state


def test_forget_drops_all_state_of_the_sensors(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([{**FLOOD, "for_s": 0}, SILENT])
    engine.process(reading_factory(3.0, at_s=200))
    engine.process(reading_factory(3.0, at_s=200, sensor_id="river-02"))
    assert sorted(engine.sensor_ids()) == ["river-01", "river-02"]
    engine.forget(engine.sensor_ids())
    assert engine.sensor_ids() == []
    assert engine.take_dirty() == set()
    assert engine.export_state("river-01") is None
    assert engine.tick(start + timedelta(days=1)) == []
    # Forgotten means forgotten: the same reading raises again, as for a sensor never seen.
    assert len(engine.process(reading_factory(3.0, at_s=200))) == 1


def test_state_of_removed_or_retyped_rules_is_dropped_on_import(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    old = engine_factory([FLOOD, {**STUCK, "name": "renamed-later"}])
    process_all(old, [reading_factory(3.0, at_s=60 * i) for i in range(4)])
    state = through_json(old.export_state("river-01"))

    new = engine_factory([{**RISING, "name": "river-flood"}])  # same name, now a rate rule
    new.import_state("river-01", state)
    exported = new.export_state("river-01")
    assert exported is not None
    assert exported["rules"] == {}
    assert exported["last_ts"] == state["last_ts"]


def test_import_starts_silence_watch_for_a_sensor_seen_before_the_rule_existed(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    old = engine_factory([FLOOD], sensors=[])
    old.process(reading_factory(2.0, at_s=0))
    new = engine_factory([FLOOD, SILENT], sensors=[])
    new.import_state("river-01", through_json(old.export_state("river-01")))
    [silent] = new.tick(start + timedelta(seconds=601))
    assert silent.ts == start + timedelta(seconds=600)  # counted from the last reading, not the restart


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        ([], "expected a mapping"),
        ({"version": 99, "rules": {}}, "unsupported version 99"),
        ({"version": 1, "last_ts": "yesterday", "rules": {}}, "not an ISO timestamp"),
        ({"version": 1, "last_ts": "2025-01-15T00:00:00", "rules": {}}, "has no time zone"),
        ({"version": 1, "rules": []}, "'rules' must be a mapping"),
        (
            {"version": 1, "kind": "water_level", "rules": {"river-flood": {"type": "threshold", "state": {}}}},
            "rule 'river-flood'",
        ),
        (
            {
                "version": 1,
                "kind": "water_level",
                "rules": {"river-flood": {"type": "threshold", "state": {"active": "yes"}}},
            },
            "expected true or false",
        ),
        (
            {
                "version": 1,
                "kind": "water_level",
                "rules": {
                    "river-stuck": {
                        "type": "stuck",
                        "state": {
                            "active": False,
                            "window": {"start": "2025-01-15T00:00:00+00:00", "offsets_s": [60, 0], "values": [1, 1]},
                        },
                    }
                },
            },
            "offsets are not increasing",
        ),
    ],
)
def test_malformed_state_is_rejected_and_changes_nothing(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, state: Any, fragment: str
) -> None:
    engine = engine_factory([FLOOD, STUCK])
    engine.process(reading_factory(2.0))
    before = engine.export_state("river-01")
    with pytest.raises(RuleStateError, match="sensor 'river-01'") as info:
        engine.import_state("river-01", state)
    assert fragment in str(info.value)
    assert isinstance(info.value, DetectorError)
    assert engine.export_state("river-01") == before


def test_started_at_must_be_aware(config_factory: Callable[..., Any], start: datetime) -> None:
    with pytest.raises(ValueError, match="started_at"):
        SensorRuleEngine(config_factory([]), started_at=start.replace(tzinfo=None))


def test_started_at_defaults_to_the_clock(config_factory: Callable[..., Any], detected_at: datetime) -> None:
    engine = SensorRuleEngine(config_factory([]), clock=lambda: detected_at)
    assert engine.started_at == detected_at


def test_a_rule_can_be_driven_directly_with_its_own_state(
    reading_factory: ReadingFactory, detected_at: datetime
) -> None:
    config = ThresholdRuleConfig(name="flood", kind="water_level", above=2.5)
    rule = ThresholdRule(config, RuleContext(clock=lambda: detected_at))
    state = rule.new_state(detected_at)
    assert rule.process(reading_factory(2.0, at_s=0), state) == []
    [raised] = rule.process(reading_factory(2.6, at_s=60), state)
    assert raised.detected_at == detected_at
    assert rule.state_from_dict(json.loads(json.dumps(rule.state_to_dict(state)))) == state


def test_many_sensors_and_readings_stay_consistent(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory(ALL_RULES, sensors=[])
    sensors = [f"river-{n:03d}" for n in range(200)]
    incidents: list[Incident] = []
    for minute in range(30):
        for n, sensor_id in enumerate(sensors):
            # Every tenth sensor floods from minute 10 on; the rest wobble below the level.
            value = 3.0 if n % 10 == 0 and minute >= 10 else 1.0 + 0.01 * (minute % 2)
            incidents.extend(engine.process(reading_factory(value, at_s=60 * minute, sensor_id=sensor_id)))
    floods = [i for i in incidents if i.rule == "river-flood"]
    assert sorted(i.source for i in floods) == sensors[::10]
    assert all(i.phase is Phase.raised for i in floods)
    assert len({i.id for i in incidents}) == len(incidents)


def test_reconfigured_engine_keeps_open_episodes_and_applies_new_thresholds(
    engine_factory: EngineFactory, config_factory: Callable[..., DetectorsConfig], reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([{"name": "flood", "kind": "water_level", "above": 2.5, "clear_below": 2.0}])
    assert [i.phase for i in engine.process(reading_factory(3.0, at_s=60))] == [Phase.raised]
    engine.take_dirty()

    lowered = config_factory([{"name": "flood", "kind": "water_level", "above": 1.5, "clear_below": 1.0}])
    new = engine.reconfigured(lowered)
    assert new.started_at == engine.started_at
    assert new.take_dirty() == {"river-01"}  # the carried state is persisted again under the new rules
    # Still the same episode: no second raise; 1.8 no longer clears it (clear_below is 1.0 now).
    assert new.process(reading_factory(3.2, at_s=120)) == []
    assert new.process(reading_factory(1.8, at_s=180)) == []
    assert [i.phase for i in new.process(reading_factory(0.9, at_s=240))] == [Phase.cleared]
    # The new threshold: 1.8 raises now where it did not before.
    assert [i.phase for i in new.process(reading_factory(1.8, at_s=300))] == [Phase.raised]

    # A rule removed by the new configuration drops its state; an added one starts afresh.
    renamed = engine.reconfigured(config_factory([{"name": "flood-2", "kind": "water_level", "above": 2.5}]))
    exported = renamed.export_state("river-01")
    assert exported is not None and exported["rules"] == {}
    assert [i.phase for i in renamed.process(reading_factory(3.0, at_s=120))] == [Phase.raised]
