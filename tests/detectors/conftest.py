"""Factories for the sensor rule tests: readings, registry sensors, configs and engines; the real
footage of the camera tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from detectors.config import DetectorsConfig
from detectors.sensor_rules.engine import SensorRuleEngine
from ingest.config import SensorConfig
from ingest.schemas import Location, SensorReading
from pantau.footage import ensure_opencv_footage

START = datetime(2025, 1, 15, 0, 0, tzinfo=UTC)  # 07:00 WIB
DETECTED_AT = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
KLOJEN = Location(lat=-7.98, lon=112.63, district="Klojen")


class ReadingFactory(Protocol):
    def __call__(
        self,
        value: float,
        *,
        at_s: float = ...,
        sensor_id: str = ...,
        kind: str = ...,
        unit: str | None = ...,
        location: Location | None = ...,
    ) -> SensorReading: ...


class EngineFactory(Protocol):
    def __call__(
        self,
        rules: Sequence[dict[str, Any]],
        *,
        sensors: Sequence[SensorConfig] | None = ...,
        started_at: datetime = ...,
    ) -> SensorRuleEngine: ...


_UNITS = {"water_level": "m", "rainfall": "mm/h", "pm25": "µg/m³", "smoke": "ratio"}


@pytest.fixture
def reading_factory() -> ReadingFactory:
    """A reading ``at_s`` seconds after START; river-01's water level unless told otherwise."""

    def make(
        value: float,
        *,
        at_s: float = 0.0,
        sensor_id: str = "river-01",
        kind: str = "water_level",
        unit: str | None = None,
        location: Location | None = None,
    ) -> SensorReading:
        return SensorReading(
            sensor_id=sensor_id,
            kind=kind,
            value=value,
            unit=_UNITS.get(kind, "") if unit is None else unit,
            ts=START + timedelta(seconds=at_s),
            location=location,
        )

    return make


@pytest.fixture
def sensor_factory() -> Callable[..., SensorConfig]:
    """A registry entry; river-01 style defaults."""

    def make(
        sensor_id: str = "river-01",
        kind: str = "water_level",
        location: Location | None = KLOJEN,
        interval_s: float = 60.0,
        name: str | None = None,
    ) -> SensorConfig:
        return SensorConfig(id=sensor_id, kind=kind, location=location, interval_s=interval_s, name=name)

    return make


@pytest.fixture
def default_sensors(sensor_factory: Callable[..., SensorConfig]) -> list[SensorConfig]:
    return [
        sensor_factory("river-01"),
        sensor_factory("river-02", location=Location(lat=-7.95, lon=112.61, district="Lowokwaru")),
        sensor_factory("rain-01", kind="rainfall", interval_s=120.0),
    ]


@pytest.fixture
def config_factory(default_sensors: list[SensorConfig]) -> Callable[..., DetectorsConfig]:
    """A validated DetectorsConfig from raw rule dicts (as they come out of YAML)."""

    def make(
        rules: Sequence[dict[str, Any]],
        sensors: Sequence[SensorConfig] | None = None,
        **extra: Any,
    ) -> DetectorsConfig:
        registry = default_sensors if sensors is None else sensors
        return DetectorsConfig.model_validate(
            {"sensors": [s.model_dump() for s in registry], "sensor_rules": list(rules), **extra}
        )

    return make


@pytest.fixture
def engine_factory(config_factory: Callable[..., DetectorsConfig]) -> EngineFactory:
    """An engine whose clock is frozen at DETECTED_AT, started at START."""

    def make(
        rules: Sequence[dict[str, Any]],
        *,
        sensors: Sequence[SensorConfig] | None = None,
        started_at: datetime = START,
    ) -> SensorRuleEngine:
        return SensorRuleEngine(config_factory(rules, sensors), clock=lambda: DETECTED_AT, started_at=started_at)

    return make


@pytest.fixture
def start() -> datetime:
    """When the engines built by engine_factory start (the readings' time origin)."""
    return START


@pytest.fixture
def detected_at() -> datetime:
    """What the engines' frozen clock says."""
    return DETECTED_AT


@pytest.fixture
def klojen() -> Location:
    return KLOJEN


@pytest.fixture(scope="session")
def footage_dir() -> Path:
    """The folder holding real CCTV (``vtest.avi``, ``tree.avi``) from Debian's opencv-doc, checked
    against the pinned sha256 (fetched with apt-get the first time, then cached)."""
    return ensure_opencv_footage()
