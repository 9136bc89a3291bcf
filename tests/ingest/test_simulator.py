"""The Malang city simulator and the demo configuration that mirrors its registry."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.config import SensorConfig
from ingest.schemas import KNOWN_KINDS, SensorReading
from ingest.simulator import (
    FLOOD,
    FLOOD_LEVEL_M,
    INCIDENT_CYCLE_S,
    PANIC,
    SAMPLE_SENSORS,
    SILENT,
    SMOKE,
    STORM,
    STUCK,
    CitySimulator,
    readings_for_load,
)

pytestmark = pytest.mark.unit

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "config" / "demo.yaml"
START = datetime(2025, 1, 15, 0, 30, tzinfo=UTC)  # 07:30 WIB, the morning rush


def run(sim: CitySimulator, start: datetime, duration_s: float, step_s: float = 1.0) -> list[SensorReading]:
    """Every reading from ``start`` to ``start + duration_s``, stepping the clock by ``step_s``."""
    readings: list[SensorReading] = []
    elapsed_s = 0.0
    while elapsed_s < duration_s:
        elapsed_s = min(elapsed_s + step_s, duration_s)
        readings.extend(sim.step(start + timedelta(seconds=elapsed_s)))
    return readings


def by_sensor(readings: list[SensorReading]) -> dict[str, list[SensorReading]]:
    grouped: dict[str, list[SensorReading]] = defaultdict(list)
    for reading in readings:
        grouped[reading.sensor_id].append(reading)
    return grouped


def offset_s(reading: SensorReading, start: datetime = START) -> float:
    return (reading.ts - start).total_seconds()


@pytest.fixture(scope="module")
def half_hour() -> list[SensorReading]:
    return run(CitySimulator(seed=7, start=START), START, 30 * 60)


@pytest.fixture(scope="module")
def one_cycle() -> dict[str, list[SensorReading]]:
    return by_sensor(run(CitySimulator(seed=7, start=START), START, INCIDENT_CYCLE_S))


@pytest.fixture(scope="module")
def demo_config() -> dict[str, Any]:
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# --- the registry and the demo configuration ---


def test_registry_is_a_plausible_malang() -> None:
    ids = [sensor.id for sensor in SAMPLE_SENSORS]
    assert len(ids) == len(set(ids))
    assert 40 <= len(SAMPLE_SENSORS) <= 60
    assert {sensor.kind for sensor in SAMPLE_SENSORS} == set(KNOWN_KINDS)
    districts = {sensor.location.district for sensor in SAMPLE_SENSORS if sensor.location is not None}
    assert districts == {"Klojen", "Blimbing", "Kedungkandang", "Sukun", "Lowokwaru"}
    for sensor in SAMPLE_SENSORS:
        assert sensor.location is not None
        assert -8.06 < sensor.location.lat < -7.90
        assert 112.57 < sensor.location.lon < 112.70
        assert sensor.owner
    rivers = {sensor.id.split("-")[1] for sensor in SAMPLE_SENSORS if sensor.kind == "water_level"}
    assert rivers == {"brantas", "amprong", "bango", "metro"}
    assert CitySimulator().sensors == SAMPLE_SENSORS


def test_demo_yaml_sensors_equal_the_simulator_registry(demo_config: dict[str, Any]) -> None:
    assert set(demo_config) <= {"timezone", "sensors", "sensor_rules", "alerting"}
    assert demo_config["timezone"] == "Asia/Jakarta"
    sensors = [SensorConfig.model_validate(entry) for entry in demo_config["sensors"]]
    assert [s.id for s in sensors] == [s.id for s in SAMPLE_SENSORS]
    assert [s.kind for s in sensors] == [s.kind for s in SAMPLE_SENSORS]
    assert [s.location for s in sensors] == [s.location for s in SAMPLE_SENSORS]
    assert sensors == list(SAMPLE_SENSORS)  # owner, interval_s and name too


def test_demo_yaml_is_a_valid_detectors_config() -> None:
    from pantau.config import load_config_file, parse_section

    detectors_config = pytest.importorskip("detectors.config")
    config = parse_section(detectors_config.DetectorsConfig, load_config_file(DEMO_CONFIG), str(DEMO_CONFIG))
    rules = {rule.name: rule for rule in config.sensor_rules}
    assert {"river-flood", "river-rising", "heavy-rain", "smoke", "panic", "sensor-silent", "stuck-gauge"} <= set(rules)
    assert rules["river-flood"].above == FLOOD_LEVEL_M


# --- readings ---


def test_every_reading_of_half_an_hour_is_valid_with_its_canonical_unit(half_hour: list[SensorReading]) -> None:
    registry = {sensor.id: sensor for sensor in SAMPLE_SENSORS}
    assert len(half_hour) > 2000
    for reading in half_hour:
        assert SensorReading.model_validate(reading.model_dump()) == reading
        assert reading.unit == KNOWN_KINDS[reading.kind].unit
        assert reading.ts.tzinfo is not None
        assert reading.kind == registry[reading.sensor_id].kind
        assert reading.location == registry[reading.sensor_id].location
    assert set(by_sensor(half_hour)) == set(registry)


def test_each_sensor_reports_on_its_interval_with_bounded_jitter(half_hour: list[SensorReading]) -> None:
    registry = {sensor.id: sensor for sensor in SAMPLE_SENSORS}
    for sensor_id, readings in by_sensor(half_hour).items():
        interval_s = registry[sensor_id].interval_s
        gaps_s = [(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(readings)]
        assert all(gap > 0 for gap in gaps_s), sensor_id
        if sensor_id in SILENT.sensor_ids:
            continue
        assert all(0.75 * interval_s <= gap <= 1.25 * interval_s for gap in gaps_s), sensor_id
        assert abs(len(readings) - 30 * 60 / interval_s) <= 1, sensor_id


def test_step_returns_readings_due_up_to_now_in_time_order() -> None:
    sim = CitySimulator(seed=3, start=START)
    assert sim.step(START - timedelta(seconds=1)) == []
    now = START + timedelta(seconds=90)
    readings = sim.step(now)
    assert readings
    assert all(START <= r.ts <= now for r in readings)
    assert [r.ts for r in readings] == sorted(r.ts for r in readings)
    assert sim.step(now) == []  # nothing is returned twice


def test_readings_do_not_depend_on_how_often_step_is_called() -> None:
    fine = run(CitySimulator(seed=11, start=START), START, 600, step_s=1.0)
    coarse = run(CitySimulator(seed=11, start=START), START, 600, step_s=97.0)
    assert coarse == fine


def test_same_seed_same_readings_other_seed_other_readings() -> None:
    first = run(CitySimulator(seed=42, start=START), START, 600)
    again = run(CitySimulator(seed=42, start=START), START, 600)
    other = run(CitySimulator(seed=43, start=START), START, 600)
    assert first == again
    assert [(r.sensor_id, r.ts, r.value) for r in other] != [(r.sensor_id, r.ts, r.value) for r in first]


def test_without_start_the_first_step_anchors_the_schedule() -> None:
    sim = CitySimulator(seed=7)
    assert sim.start is None
    assert sim.step(START) == []
    assert sim.start == START
    assert run(sim, START, 120) == run(CitySimulator(seed=7, start=START), START, 120)


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CitySimulator(start=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        CitySimulator().step(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="time_scale"):
        CitySimulator(time_scale=0)


def test_daily_cycles_over_a_simulated_day() -> None:
    # time_scale 48: the 30 minutes of readings cover a whole day, starting at midnight WIB.
    midnight_wib = datetime(2025, 1, 15, 17, 0, tzinfo=UTC)
    readings = run(
        CitySimulator(seed=7, start=midnight_wib, incidents=False, time_scale=48), midnight_wib, 30 * 60, step_s=10
    )
    values: dict[str, list[float]] = defaultdict(list)
    for reading in readings:
        values[reading.kind].append(reading.value)
    assert 21 < min(values["temperature"]) < 23.5 and 31 < max(values["temperature"]) < 34
    assert min(values["pm25"]) > 8 and 45 < max(values["pm25"]) < 70
    assert min(values["traffic_density"]) < 0.2 and max(values["traffic_density"]) > 0.85
    assert min(values["water_level"]) > 0.7 and max(values["water_level"]) < 1.6
    assert max(values["smoke"]) < 0.1
    assert set(values["panic_button"]) == {0.0}


# --- scripted incidents ---


def test_a_scripted_flood_passes_the_flood_mark_within_one_cycle(
    one_cycle: dict[str, list[SensorReading]],
) -> None:
    flooded = {
        sensor_id
        for sensor_id, readings in one_cycle.items()
        if readings[0].kind == "water_level" and max(r.value for r in readings) > FLOOD_LEVEL_M
    }
    assert flooded == {"wl-brantas-02"}
    gauge = one_cycle["wl-brantas-02"]
    peak = max(gauge, key=lambda r: r.value)
    # rising fast: more than 0.05 m/min over the five minutes before the peak ...
    before = [r for r in gauge if 0 < (peak.ts - r.ts).total_seconds() <= 300]
    assert (peak.value - before[0].value) / ((peak.ts - before[0].ts).total_seconds() / 60) > 0.05
    # ... and back under the 2.3 m clearing level before the cycle ends
    assert gauge[-1].value < 2.3
    assert FLOOD.start_s < offset_s(peak) < FLOOD.end_s


def test_the_storm_holds_heavy_rain_for_over_a_minute(one_cycle: dict[str, list[SensorReading]]) -> None:
    for sensor_id in STORM.sensor_ids:
        heavy = [r for r in one_cycle[sensor_id] if r.value > 50]
        assert len(heavy) >= 3
        assert (heavy[-1].ts - heavy[0].ts).total_seconds() > 60
        assert all(STORM.start_s <= offset_s(r) <= STORM.end_s for r in heavy)


def test_the_panic_button_is_pressed_then_released(one_cycle: dict[str, list[SensorReading]]) -> None:
    (button,) = PANIC.sensor_ids
    states = [r.value for r in one_cycle[button]]
    first_press = states.index(1.0)
    assert first_press > 0 and states[first_press - 1] == 0.0
    assert states[-1] == 0.0
    pressed = [r for r in one_cycle[button] if r.value == 1.0]
    assert all(PANIC.start_s <= offset_s(r) < PANIC.end_s for r in pressed)
    others = [r for sid, rs in one_cycle.items() if sid != button and rs[0].kind == "panic_button" for r in rs]
    assert all(r.value == 0.0 for r in others)


def test_smoke_in_the_school(one_cycle: dict[str, list[SensorReading]]) -> None:
    (detector,) = SMOKE.sensor_ids
    smoky = [r for r in one_cycle[detector] if r.value > 0.3]
    assert len(smoky) >= 3
    assert one_cycle[detector][-1].value < 0.1
    others = [r for sid, rs in one_cycle.items() if sid != detector and rs[0].kind == "smoke" for r in rs]
    assert max(r.value for r in others) < 0.3


def test_the_silent_gauge_sends_nothing_for_over_three_minutes(
    one_cycle: dict[str, list[SensorReading]],
) -> None:
    (gauge,) = SILENT.sensor_ids
    readings = one_cycle[gauge]
    longest_gap_s = max((b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(readings))
    assert longest_gap_s > 180 + 30
    assert not [r for r in readings if SILENT.start_s <= offset_s(r) < SILENT.end_s]


def test_the_stuck_gauge_repeats_one_value_for_over_ten_minutes(
    one_cycle: dict[str, list[SensorReading]],
) -> None:
    (gauge,) = STUCK.sensor_ids
    stuck = [r for r in one_cycle[gauge] if STUCK.start_s <= offset_s(r) < STUCK.end_s]
    assert len({r.value for r in stuck}) == 1
    assert len(stuck) >= 10
    assert (stuck[-1].ts - stuck[0].ts).total_seconds() > 600
    # healthy gauges never repeat a value ten times in a row
    for sensor_id, readings in one_cycle.items():
        if readings[0].kind != "water_level" or sensor_id == gauge:
            continue
        values = [r.value for r in readings]
        assert all(len(set(values[i : i + 10])) > 1 for i in range(len(values) - 9)), sensor_id


def test_the_script_repeats_every_cycle() -> None:
    readings = by_sensor(run(CitySimulator(seed=7, start=START), START, 2 * INCIDENT_CYCLE_S, step_s=5))
    floods = [offset_s(r) for r in readings["wl-brantas-02"] if r.value > FLOOD_LEVEL_M]
    assert any(t < INCIDENT_CYCLE_S for t in floods) and any(t > INCIDENT_CYCLE_S for t in floods)


def test_no_incidents_when_the_script_is_off() -> None:
    readings = run(CitySimulator(seed=7, start=START, incidents=False), START, INCIDENT_CYCLE_S, step_s=5)
    assert set(by_sensor(readings)) == {sensor.id for sensor in SAMPLE_SENSORS}
    for reading in readings:
        if reading.kind == "water_level":
            assert reading.value < 2.0
        elif reading.kind == "panic_button":
            assert reading.value == 0.0
        elif reading.kind == "smoke":
            assert reading.value < 0.3
        elif reading.kind == "rainfall":
            assert reading.value < 50


# --- load generator ---


def test_readings_for_load_yields_count_valid_readings_increasing_per_sensor() -> None:
    readings = list(readings_for_load(count=5000, sensors=37, start=START, rate_per_s=2000.0, seed=1))
    assert len(readings) == 5000
    last_ts: dict[str, datetime] = {}
    for reading in readings:
        assert SensorReading.model_validate(reading.model_dump()) == reading
        assert reading.unit == KNOWN_KINDS[reading.kind].unit
        previous = last_ts.get(reading.sensor_id)
        assert previous is None or reading.ts > previous
        last_ts[reading.sensor_id] = reading.ts
    assert len(last_ts) == 37
    assert readings[-1].ts - START == timedelta(seconds=4999 / 2000.0)
    again = list(readings_for_load(count=5000, sensors=37, start=START, rate_per_s=2000.0, seed=1))
    assert again == readings


def test_readings_for_load_stays_strictly_increasing_beyond_microsecond_resolution() -> None:
    readings = list(readings_for_load(count=1000, sensors=1, start=START, rate_per_s=1e8, seed=1))
    assert all(b.ts > a.ts for a, b in itertools.pairwise(readings))
    assert list(readings_for_load(count=0, sensors=3, start=START, rate_per_s=1.0, seed=1)) == []
    with pytest.raises(ValueError):
        list(readings_for_load(count=1, sensors=0, start=START, rate_per_s=1.0, seed=1))
    with pytest.raises(ValueError):
        list(readings_for_load(count=1, sensors=1, start=START, rate_per_s=0.0, seed=1))
