"""Behaviour of each sensor rule type, driven through the engine as the worker drives it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import pytest

from detectors.schemas import Incident, Phase, Severity, incident_id
from detectors.sensor_rules import SensorRuleEngine
from ingest.schemas import Location, SensorReading

pytestmark = pytest.mark.unit

ReadingFactory = Callable[..., SensorReading]
EngineFactory = Callable[..., SensorRuleEngine]


def feed(
    engine: SensorRuleEngine, reading_factory: ReadingFactory, points: Iterable[tuple[float, float]]
) -> list[Incident]:
    """Process ``(at_s, value)`` readings of river-01 in order; every incident they caused."""
    incidents: list[Incident] = []
    for at_s, value in points:
        incidents.extend(engine.process(reading_factory(value, at_s=at_s)))
    return incidents


def phases(incidents: Iterable[Incident], start: datetime) -> list[tuple[float, Phase]]:
    """``(seconds after start, phase)`` of each incident: the shape most assertions need."""
    return [((incident.ts - start).total_seconds(), incident.phase) for incident in incidents]


FLOOD = {"name": "river-flood", "kind": "water_level", "above": 2.5, "severity": "critical"}


# -- threshold ----------------------------------------------------------------------------------


def test_threshold_fires_once_with_a_full_incident(
    engine_factory: EngineFactory,
    reading_factory: ReadingFactory,
    start: datetime,
    detected_at: datetime,
    klojen: Location,
) -> None:
    engine = engine_factory([FLOOD])
    assert engine.process(reading_factory(2.4, at_s=0)) == []
    [incident] = engine.process(reading_factory(2.71, at_s=60))
    ts = start + timedelta(seconds=60)
    assert incident.id == incident_id("river-flood", "river-01", Phase.raised, ts)
    assert (incident.type, incident.source, incident.source_kind, incident.rule) == (
        "water_level_high",
        "river-01",
        "sensor",
        "river-flood",
    )
    assert (incident.phase, incident.ts, incident.detected_at) == (Phase.raised, ts, detected_at)
    assert incident.severity is Severity.critical
    assert incident.location == klojen
    assert incident.title == "Water level 2.71 m above 2.5 m at river-01 (Klojen)"
    assert incident.evidence["value"] == 2.71
    assert incident.evidence["threshold"] == 2.5
    assert incident.evidence["unit"] == "m"
    # Still above: nothing more until it clears.
    assert feed(engine, reading_factory, [(120, 3.0), (180, 2.6)]) == []


def test_threshold_clears_when_back_under_the_level_and_can_fire_again(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([FLOOD])
    incidents = feed(engine, reading_factory, [(0, 2.7), (60, 2.5), (120, 2.4), (180, 2.3), (240, 2.8)])
    assert phases(incidents, start) == [(0, Phase.raised), (120, Phase.cleared), (240, Phase.raised)]
    cleared = incidents[1]
    assert cleared.title == "Water level back to 2.4 m (below 2.5 m) at river-01 (Klojen)"
    assert cleared.severity is Severity.critical
    assert cleared.evidence["raised_ts"] == incidents[0].ts.isoformat()


def test_threshold_with_for_s_waits_until_the_condition_has_held(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([{**FLOOD, "for_s": 300}])
    incidents = feed(engine, reading_factory, [(0, 2.7), (60, 2.8), (240, 2.9), (300, 2.9), (360, 3.0)])
    assert phases(incidents, start) == [(300, Phase.raised)]
    assert incidents[0].evidence["held_since"] == reading_factory(0, at_s=0).ts.isoformat()


def test_threshold_for_s_restarts_when_the_condition_breaks(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([{**FLOOD, "for_s": 300}])
    # Dips under the level at 200 s, so the wait restarts at 260 s and ends at 560 s.
    incidents = feed(engine, reading_factory, [(0, 2.7), (200, 2.4), (260, 2.7), (500, 2.7), (560, 2.7)])
    assert phases(incidents, start) == [(560, Phase.raised)]


def test_threshold_hysteresis_does_not_refire_between_the_clear_and_trigger_levels(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([{**FLOOD, "clear_below": 2.3}])
    readings = [(0, 2.6), (60, 2.4), (120, 2.6), (180, 2.35), (240, 2.7), (300, 2.2), (360, 2.4), (420, 2.6)]
    incidents = feed(engine, reading_factory, readings)
    assert phases(incidents, start) == [(0, Phase.raised), (300, Phase.cleared), (420, Phase.raised)]
    assert incidents[1].title == "Water level back to 2.2 m (below 2.3 m) at river-01 (Klojen)"


def test_below_rule_fires_under_the_level_and_clears_above_clear_above(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    rule = {"name": "river-dry", "kind": "water_level", "below": 0.5, "clear_above": 0.7}
    engine = engine_factory([rule])
    incidents = feed(engine, reading_factory, [(0, 0.6), (60, 0.4), (120, 0.6), (180, 0.3), (240, 0.8)])
    assert phases(incidents, start) == [(60, Phase.raised), (240, Phase.cleared)]
    assert incidents[0].type == "water_level_low"
    assert incidents[0].severity is Severity.high
    assert incidents[0].title == "Water level 0.4 m below 0.5 m at river-01 (Klojen)"
    assert incidents[1].title == "Water level back to 0.8 m (above 0.7 m) at river-01 (Klojen)"


def test_a_title_template_is_rendered_and_prefixed_when_cleared(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    rule = {**FLOOD, "title": "Banjir {where}: {value:.1f}{unit} (batas {threshold})", "incident_type": "flood"}
    engine = engine_factory([rule])
    raised, cleared = feed(engine, reading_factory, [(0, 2.74), (60, 2.0)])
    assert raised.title == "Banjir river-01 (Klojen): 2.7m (batas 2.5)"
    assert cleared.title == "Cleared: Banjir river-01 (Klojen): 2.0m (batas 2.5)"
    assert raised.type == cleared.type == "flood"


# -- rate ---------------------------------------------------------------------------------------

RISING = {"name": "river-rising", "type": "rate", "kind": "water_level", "rise_per_min": 0.3, "window_s": 600}


def test_rate_fires_once_when_rising_faster_than_the_rate(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([RISING])
    # 0.1 m/min for five minutes, then 0.5 m/min.
    readings = [(60 * i, 1.0 + 0.1 * i) for i in range(6)] + [(60 * i, 1.5 + 0.5 * (i - 5)) for i in range(6, 12)]
    incidents = feed(engine, reading_factory, readings)
    assert [incident.phase for incident in incidents] == [Phase.raised]
    [raised] = incidents
    assert raised.type == "water_level_rising"
    assert raised.evidence["rate_per_min"] > 0.3
    assert raised.evidence["window_s"] == 600
    assert raised.title.startswith("Water level rising ")
    assert raised.title.endswith(" m/min (over 0.3 m/min) at river-01 (Klojen)")


def test_rate_needs_readings_spanning_the_minimum_span(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([{**RISING, "min_span_s": 300}])
    # A 1 m jump within a minute is a steep slope, but the readings span only 60 s so far.
    assert feed(engine, reading_factory, [(0, 1.0), (60, 2.0)]) == []
    # At 300 s the window spans enough: (2.6 - 1.0) / 5 min = 0.32 m/min.
    assert phases(feed(engine, reading_factory, [(300, 2.6)]), start) == [(300, Phase.raised)]


def test_rate_clears_when_the_rate_drops_back_below(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([{**RISING, "window_s": 300, "min_span_s": 120}])
    rising = [(60 * i, 1.0 + 0.5 * i) for i in range(4)]  # 0.5 m/min
    flat = [(60 * i, 2.5) for i in range(4, 12)]
    incidents = feed(engine, reading_factory, rising + flat)
    assert [incident.phase for incident in incidents] == [Phase.raised, Phase.cleared]
    assert incidents[1].evidence["rate_per_min"] < 0.3
    assert "no longer rising fast" in incidents[1].title


def test_rate_falling(engine_factory: EngineFactory, reading_factory: ReadingFactory) -> None:
    rule = {"name": "river-draining", "type": "rate", "kind": "water_level", "fall_per_min": 0.2, "window_s": 300}
    engine = engine_factory([rule])
    incidents = feed(engine, reading_factory, [(60 * i, 3.0 - 0.3 * i) for i in range(6)])
    assert [(incident.type, incident.phase) for incident in incidents] == [("water_level_falling", Phase.raised)]
    assert incidents[0].evidence["rate_per_min"] < -0.2


# -- stuck --------------------------------------------------------------------------------------

STUCK = {"name": "river-stuck", "type": "stuck", "kind": "water_level", "window_s": 600, "min_readings": 5}


def test_stuck_fires_when_flat_for_the_whole_window(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([STUCK])
    incidents = feed(engine, reading_factory, [(60 * i, 2.1) for i in range(13)])
    assert phases(incidents, start) == [(600, Phase.raised)]
    [stuck] = incidents
    assert stuck.type == "sensor_stuck"
    assert stuck.severity is Severity.medium
    assert stuck.evidence["spread"] == 0
    assert stuck.title == "Water level sensor river-01 (Klojen) stuck at 2.1 m for 10 min"


def test_stuck_clears_when_the_value_moves_and_needs_a_new_flat_window(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([STUCK])
    readings = [(60 * i, 2.1) for i in range(11)] + [(660, 2.2)] + [(660 + 60 * i, 2.2) for i in range(1, 12)]
    incidents = feed(engine, reading_factory, readings)
    assert phases(incidents, start) == [(600, Phase.raised), (660, Phase.cleared), (1260, Phase.raised)]
    assert incidents[1].title == "Water level sensor river-01 (Klojen) moving again (2.2 m)"


def test_stuck_respects_the_tolerance(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([{**STUCK, "tolerance": 0.02}])
    jitter = [(60 * i, 2.1 + (0.01 if i % 2 else 0.0)) for i in range(11)]
    assert phases(feed(engine, reading_factory, jitter), start) == [(600, Phase.raised)]
    assert phases(feed(engine, reading_factory, [(660, 2.15)]), start) == [(660, Phase.cleared)]


def test_stuck_needs_min_readings(engine_factory: EngineFactory, reading_factory: ReadingFactory) -> None:
    engine = engine_factory([{**STUCK, "min_readings": 5}])
    # Flat for the whole window, but only three readings: too little evidence.
    assert feed(engine, reading_factory, [(0, 2.1), (300, 2.1), (600, 2.1)]) == []


def test_stuck_needs_the_window_covered_not_just_enough_readings(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([STUCK])
    # A fast sensor: twenty equal readings in twenty seconds is not ten minutes of flat line.
    assert feed(engine, reading_factory, [(i, 2.1) for i in range(20)]) == []


def test_stuck_window_slides_past_old_movement(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([STUCK])
    readings = [(0, 1.0)] + [(60 * i, 2.1) for i in range(1, 12)]
    # The move at 0-60 s leaves the window once the reading at 60 s is at or before its start.
    assert phases(feed(engine, reading_factory, readings), start) == [(660, Phase.raised)]


# -- silent -------------------------------------------------------------------------------------

SILENT = {"name": "river-silent", "type": "silent", "kind": "water_level", "after_s": 600}


def test_silent_fires_on_tick_once_and_clears_on_the_next_reading(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime, klojen: Location
) -> None:
    engine = engine_factory([SILENT], sensors=[])
    engine.process(reading_factory(2.0, at_s=0))
    assert engine.tick(start + timedelta(seconds=600)) == []
    [silent] = engine.tick(start + timedelta(seconds=700))
    assert silent.type == "sensor_silent"
    assert silent.severity is Severity.medium
    assert silent.phase is Phase.raised
    assert silent.ts == start + timedelta(seconds=600)  # when it became overdue, not the tick time
    assert silent.id == incident_id("river-silent", "river-01", Phase.raised, silent.ts)
    assert silent.title == "Water level sensor river-01 silent: no reading for over 10 min (last at 07:00 WIB)"
    assert silent.location is None  # not registered, reading had no location
    assert engine.tick(start + timedelta(seconds=900)) == []

    [cleared] = engine.process(reading_factory(2.0, at_s=1000))
    assert (cleared.phase, cleared.ts) == (Phase.cleared, start + timedelta(seconds=1000))
    assert cleared.title == "Water level sensor river-01 reporting again after 17 min"
    assert engine.tick(start + timedelta(seconds=1500)) == []
    assert len(engine.tick(start + timedelta(seconds=1601))) == 1


def test_silent_registry_sensors_that_never_report_are_silent_from_the_start(
    engine_factory: EngineFactory, start: datetime, klojen: Location
) -> None:
    engine = engine_factory([{"name": "silent", "type": "silent", "kind": "water_level"}])
    # The registry's river sensors report every 60 s, so they are silent after 3 x 60 s.
    assert engine.tick(start + timedelta(seconds=180)) == []
    incidents = engine.tick(start + timedelta(seconds=181))
    assert sorted(incident.source for incident in incidents) == ["river-01", "river-02"]
    assert {incident.ts for incident in incidents} == {start + timedelta(seconds=180)}
    river_01 = next(incident for incident in incidents if incident.source == "river-01")
    assert river_01.location == klojen
    assert river_01.evidence["last_reading_ts"] is None


def test_silent_after_s_defaults_to_300_s_for_unregistered_sensors(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    engine = engine_factory([{"name": "silent", "type": "silent", "kind": "pm25"}])
    engine.process(reading_factory(35.0, sensor_id="air-09", kind="pm25"))
    assert engine.tick(start + timedelta(seconds=300)) == []
    assert [incident.source for incident in engine.tick(start + timedelta(seconds=301))] == ["air-09"]


def test_silent_watches_explicitly_named_unregistered_sensors_from_the_start(
    engine_factory: EngineFactory, start: datetime
) -> None:
    rule = {"name": "silent", "type": "silent", "kind": "pm25", "sensor_ids": ["air-01"]}
    engine = engine_factory([rule])
    assert [incident.source for incident in engine.tick(start + timedelta(seconds=301))] == ["air-01"]


def test_tick_rejects_a_naive_time(engine_factory: EngineFactory, start: datetime) -> None:
    engine = engine_factory([SILENT])
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.tick(start.replace(tzinfo=None))


# -- routing and location -----------------------------------------------------------------------


def test_sensor_ids_narrow_a_rule_to_the_listed_sensors(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([{**FLOOD, "sensor_ids": ["river-02"]}])
    assert engine.process(reading_factory(3.0, sensor_id="river-01")) == []
    [incident] = engine.process(reading_factory(3.0, sensor_id="river-02"))
    assert incident.source == "river-02"
    assert incident.title == "Water level 3 m above 2.5 m at river-02 (Lowokwaru)"


def test_rules_apply_only_to_readings_of_their_kind(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([FLOOD, {"name": "storm", "kind": "rainfall", "above": 50}])
    # 3 mm/h would be a flood in metres, but the flood rule watches water levels only.
    assert engine.process(reading_factory(3.0, sensor_id="rain-01", kind="rainfall")) == []
    assert [i.rule for i in engine.process(reading_factory(80.0, sensor_id="rain-01", kind="rainfall", at_s=1))] == [
        "storm"
    ]
    assert [i.rule for i in engine.process(reading_factory(80.0))] == ["river-flood"]


def test_every_matching_rule_sees_the_reading(engine_factory: EngineFactory, reading_factory: ReadingFactory) -> None:
    engine = engine_factory([FLOOD, {"name": "river-alert", "kind": "water_level", "above": 2.0, "severity": "low"}])
    incidents = engine.process(reading_factory(2.6))
    assert sorted((incident.rule, incident.severity) for incident in incidents) == [
        ("river-alert", Severity.low),
        ("river-flood", Severity.critical),
    ]


def test_location_comes_from_the_registry_when_the_reading_has_none(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, klojen: Location
) -> None:
    engine = engine_factory([FLOOD])
    [incident] = engine.process(reading_factory(3.0))
    assert incident.location == klojen


def test_the_readings_own_location_wins_over_the_registry(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([FLOOD])
    moved = Location(lat=-7.9, lon=112.6, district="Blimbing")
    [incident] = engine.process(reading_factory(3.0, location=moved))
    assert incident.location == moved
    assert incident.title.endswith("at river-01 (Blimbing)")


def test_unregistered_sensors_without_location_get_none(
    engine_factory: EngineFactory, reading_factory: ReadingFactory
) -> None:
    engine = engine_factory([FLOOD])
    [incident] = engine.process(reading_factory(3.0, sensor_id="river-77"))
    assert incident.location is None
    assert incident.title == "Water level 3 m above 2.5 m at river-77"


def test_unitless_kinds_read_naturally(engine_factory: EngineFactory, reading_factory: ReadingFactory) -> None:
    engine = engine_factory([{"name": "smoke", "kind": "smoke", "above": 0.5}], sensors=[])
    [incident] = engine.process(reading_factory(0.8, sensor_id="kitchen-01", kind="smoke"))
    assert incident.title == "Smoke 0.8 above 0.5 at kitchen-01"
    assert incident.type == "smoke_high"


# -- determinism --------------------------------------------------------------------------------


def run_all(engine_factory: EngineFactory, readings: Iterable[SensorReading], start: datetime) -> list[Incident]:
    engine = engine_factory([FLOOD, RISING, STUCK, SILENT])
    incidents: list[Incident] = []
    for reading in readings:
        incidents.extend(engine.process(reading))
        incidents.extend(engine.tick(reading.ts))
    incidents.extend(engine.tick(start + timedelta(days=1)))
    return incidents


def test_the_same_input_gives_the_same_incidents_and_ids(
    engine_factory: EngineFactory, reading_factory: ReadingFactory, start: datetime
) -> None:
    values = [2.0] * 12 + [2.0 + 1.0 * i for i in range(1, 5)] + [2.2, 2.2]
    readings = [reading_factory(value, at_s=60 * i) for i, value in enumerate(values)]
    first = run_all(engine_factory, readings, start)
    second = run_all(engine_factory, readings, start)
    assert {incident.rule for incident in first} == {"river-flood", "river-rising", "river-stuck", "river-silent"}
    assert [incident.id for incident in first] == [incident.id for incident in second]
    assert first == second
    assert len({incident.id for incident in first}) == len(first)
