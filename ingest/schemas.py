"""Wire contract of sensor readings, owned by the ingest stage.

Topic ``pantau.sensor-readings.v1``, key: the sensor id (UTF-8), value: one JSON reading. The ``.v1``
suffix is the schema version, so producers add no version field. Unknown extra fields are ignored.
A reading's identity is ``(sensor_id, ts)``: storing the same reading twice keeps one row. Its
correlation id (:func:`reading_correlation_id`, ``<sensor id>@<UTC time>``) is derived from that
identity: the incidents it triggers carry it, and the services log it (``docs/operations.md``, Logs).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from pantau.contract import Contract, Line
from pantau.topics import TopicSpec

SCHEMA_VERSION = 1
TOPIC_SENSOR_READINGS = f"pantau.sensor-readings.v{SCHEMA_VERSION}"
READINGS_TOPIC = TopicSpec(TOPIC_SENSOR_READINGS, partitions=4)

SENSOR_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


def reading_correlation_id(sensor_id: str, ts: datetime) -> str:
    """``<sensor id>@<ts in UTC, ISO-8601>``: the same reading gives the same id whatever zone its
    time was written in (``@`` cannot occur in a sensor id, so the id splits back unambiguously)."""
    return f"{sensor_id}@{ts.astimezone(UTC).isoformat().replace('+00:00', 'Z')}"


class Location(Contract):
    """Where something is: WGS84 coordinates and the city district."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    district: Line | None = Field(None, max_length=128)


class KindSpec(BaseModel):
    """What a known sensor kind measures: its canonical unit, accepted spellings and valid range."""

    model_config = ConfigDict(frozen=True)

    unit: str
    aliases: frozenset[str] = frozenset()
    min_value: float | None = None
    max_value: float | None = None
    integral: bool = False


KNOWN_KINDS: dict[str, KindSpec] = {
    "water_level": KindSpec(unit="m", aliases=frozenset({"meter", "metre", "meters", "metres"})),
    "rainfall": KindSpec(unit="mm/h", aliases=frozenset({"mm/hr", "mmh"}), min_value=0),
    "pm25": KindSpec(unit="µg/m³", aliases=frozenset({"ug/m3", "µg/m3", "μg/m³", "ug/m³"}), min_value=0),
    "smoke": KindSpec(unit="ratio", aliases=frozenset({"", "1", "fraction"}), min_value=0, max_value=1),
    "temperature": KindSpec(unit="°C", aliases=frozenset({"C", "degC", "celsius"}), min_value=-90, max_value=90),
    "traffic_density": KindSpec(unit="ratio", aliases=frozenset({"", "1", "fraction"}), min_value=0, max_value=1),
    "panic_button": KindSpec(
        unit="state", aliases=frozenset({"", "bool", "0/1"}), min_value=0, max_value=1, integral=True
    ),
}


class SensorReading(Contract):
    """One measurement of one sensor at one instant.

    For the known kinds (``KNOWN_KINDS``) the unit must be the canonical one or an accepted spelling
    (it is normalised to the canonical unit) and the value must lie in the kind's range: a water
    level in centimetres would otherwise trip every rule written in metres. Other kinds pass as given.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    schema_version: ClassVar[int] = SCHEMA_VERSION

    sensor_id: Line = Field(pattern=SENSOR_ID_PATTERN)
    kind: Line = Field(pattern=KIND_PATTERN)
    value: float
    unit: Line = Field("", max_length=32)
    ts: AwareDatetime
    location: Location | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value

    @field_validator("ts")
    @classmethod
    def _plausible_ts(cls, ts: datetime) -> datetime:
        if not 2000 <= ts.year <= 2200:
            raise ValueError("ts is outside the years 2000-2200")
        return ts

    @model_validator(mode="after")
    def _check_kind(self) -> SensorReading:
        spec = KNOWN_KINDS.get(self.kind)
        if spec is None:
            return self
        if self.unit != spec.unit:
            if self.unit not in spec.aliases:
                raise ValueError(f"unit {self.unit!r} is not valid for kind {self.kind!r} (expected {spec.unit!r})")
            object.__setattr__(self, "unit", spec.unit)
        if spec.min_value is not None and self.value < spec.min_value:
            raise ValueError(f"{self.kind} value {self.value} is below {spec.min_value}")
        if spec.max_value is not None and self.value > spec.max_value:
            raise ValueError(f"{self.kind} value {self.value} is above {spec.max_value}")
        if spec.integral and self.value != int(self.value):
            raise ValueError(f"{self.kind} value must be 0 or 1")
        return self

    def key(self) -> bytes:
        """The Kafka key: the sensor id, so one sensor's readings stay in order on one partition."""
        return self.sensor_id.encode()

    @property
    def correlation_id(self) -> str:
        """This reading's id in logs and on the incidents it triggers (see :func:`reading_correlation_id`)."""
        return reading_correlation_id(self.sensor_id, self.ts)
