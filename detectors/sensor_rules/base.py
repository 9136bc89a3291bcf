"""What every sensor rule shares: its context, the rule base class, incident building and state helpers.

A rule holds its (validated, frozen) config and keeps no per-sensor data itself: the engine owns one
state object per (sensor, rule) and hands it to :meth:`SensorRule.process`, which mutates it and
returns the incidents the reading caused. States convert to and from JSON-able dicts so the engine's
owner can persist them and resume after a restart without re-firing.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from detectors.exceptions import RuleStateError
from detectors.schemas import Incident, Phase, incident_id
from detectors.sensor_rules.config import RuleConfigBase
from ingest.config import SensorConfig
from ingest.schemas import KNOWN_KINDS, Location, SensorReading
from pantau.timeutil import utcnow

_TITLE_MAX_LEN = 500
_KIND_LABELS = {"pm25": "PM2.5"}
# Units that read worse than no unit at all in a sentence ("smoke 0.8 ratio").
_SILENT_UNITS = frozenset({"", "ratio", "state"})


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What rules need from their surroundings: the clock, the sensor registry and the local time zone."""

    clock: Callable[[], datetime] = utcnow
    sensors: Mapping[str, SensorConfig] = field(default_factory=dict)
    tz: tzinfo = UTC

    def location_of(self, sensor_id: str, location: Location | None) -> Location | None:
        """The reading's own location, or else the registered sensor's."""
        if location is not None:
            return location
        sensor = self.sensors.get(sensor_id)
        return sensor.location if sensor is not None else None


class RuleState(Protocol):
    """Per-(sensor, rule) state: mutable, and convertible to and from a JSON-able dict."""

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self: ...


C = TypeVar("C", bound=RuleConfigBase)
S = TypeVar("S", bound=RuleState)


class SensorRule(ABC, Generic[C, S]):
    """One configured rule. Subclasses implement :meth:`process` and say how to make a fresh state."""

    type_name: ClassVar[str]
    state_type: ClassVar[type[Any]]
    # Rules with a timer are also driven by the engine's tick() through expire().
    has_timer: ClassVar[bool] = False

    def __init__(self, config: C, context: RuleContext | None = None) -> None:
        self.config = config
        self.context = context or RuleContext()
        self.name = config.name
        self.kind = config.kind
        self.sensor_ids: frozenset[str] | None = None if config.sensor_ids is None else frozenset(config.sensor_ids)
        self.incident_type = config.effective_incident_type

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, kind={self.kind!r})"

    def applies_to(self, sensor_id: str) -> bool:
        """Whether the rule watches this sensor (of the rule's kind)."""
        return self.sensor_ids is None or sensor_id in self.sensor_ids

    @abstractmethod
    def new_state(self, since: datetime) -> S:
        """A fresh state for a sensor first watched at ``since``."""

    @abstractmethod
    def process(self, reading: SensorReading, state: S) -> list[Incident]:
        """Update ``state`` with ``reading`` and return the incidents it caused (usually none).

        The caller guarantees that readings of one sensor arrive in strictly increasing ``ts``.
        """

    def expire(self, sensor_id: str, now: datetime, state: S) -> list[Incident]:
        """Incidents due by ``now`` without any reading (timer rules only)."""
        return []

    def expected_sensors(self) -> list[str]:
        """Sensors a timer rule watches from the start, before they ever report."""
        return []

    def state_to_dict(self, state: S) -> dict[str, Any]:
        return state.to_dict()

    def state_from_dict(self, data: Mapping[str, Any]) -> S:
        try:
            state: S = self.state_type.from_dict(data)
        except RuleStateError as exc:
            raise RuleStateError(f"rule {self.name!r}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise RuleStateError(f"rule {self.name!r}: unreadable state ({type(exc).__name__}: {exc})") from exc
        return state

    # -- building incidents -------------------------------------------------------------------

    def _fields(self, sensor_id: str, location: Location | None) -> dict[str, Any]:
        """Placeholders every title template may use (see RuleConfigBase.title_samples)."""
        sensor = self.context.sensors.get(sensor_id)
        district = location.district if location is not None and location.district else ""
        return {
            "rule": self.name,
            "sensor_id": sensor_id,
            "sensor_name": sensor.name if sensor is not None and sensor.name else sensor_id,
            "kind": self.kind,
            "kind_label": kind_label(self.kind),
            "district": district,
            "where": f"{sensor_id} ({district})" if district else sensor_id,
            "severity": self.config.severity.value,
        }

    def _title(self, default: str, fields: Mapping[str, Any], phase: Phase) -> str:
        template = self.config.title
        if template is None:
            return default[:_TITLE_MAX_LEN]
        try:
            rendered = template.format_map(fields)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError):
            # Checked against sample values at load time; an odd runtime value must not lose the incident.
            return default[:_TITLE_MAX_LEN]
        if phase is Phase.cleared:
            rendered = f"Cleared: {rendered}"
        return rendered[:_TITLE_MAX_LEN]

    def _incident(
        self,
        *,
        sensor_id: str,
        phase: Phase,
        ts: datetime,
        location: Location | None,
        title: str,
        evidence: dict[str, Any],
    ) -> Incident:
        return Incident(
            id=incident_id(self.name, sensor_id, phase, ts),
            type=self.incident_type,
            source=sensor_id,
            source_kind="sensor",
            rule=self.name,
            phase=phase,
            ts=ts,
            detected_at=self.context.clock(),
            severity=self.config.severity,
            location=location,
            title=title,
            evidence=evidence,
        )


# -- formatting ---------------------------------------------------------------------------------


def kind_label(kind: str) -> str:
    """``water_level`` → ``Water level``."""
    return _KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()


def fmt_num(value: float) -> str:
    """A reading value for people: at most three decimals, no float noise, no exponent."""
    return f"{round(value, 3):.10g}"


def unit_suffix(unit: str) -> str:
    """`` m`` for metres; nothing for unitless kinds."""
    return "" if unit in _SILENT_UNITS else f" {unit}"


def kind_unit(kind: str) -> str:
    spec = KNOWN_KINDS.get(kind)
    return spec.unit if spec is not None else ""


def fmt_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    hours = seconds / 3600
    return f"{hours:.0f} h" if hours >= 10 else f"{hours:.1f} h".replace(".0 h", " h")


# -- state (de)serialisation --------------------------------------------------------------------


def ts_to_json(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def ts_from_json(value: object, key: str) -> datetime | None:
    """An aware datetime from an ISO string (or None); :class:`RuleStateError` for anything else."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RuleStateError(f"state key {key!r}: expected an ISO timestamp, got {type(value).__name__}")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise RuleStateError(f"state key {key!r}: {value!r} is not an ISO timestamp") from exc
    if ts.tzinfo is None:
        raise RuleStateError(f"state key {key!r}: timestamp {value!r} has no time zone")
    return ts


def required_bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise RuleStateError(f"state key {key!r}: expected true or false, got {value!r}")
    return value


def required_ts(data: Mapping[str, Any], key: str) -> datetime:
    ts = ts_from_json(data.get(key), key)
    if ts is None:
        raise RuleStateError(f"state key {key!r} is missing")
    return ts


def window_to_json(window: Iterable[tuple[datetime, float]]) -> dict[str, Any]:
    """``{"start": iso_ts, "offsets_s": [...], "values": [...]}``: one ISO timestamp and seconds after
    it, because formatting every entry as ISO would make persisting an hour-long window the worker's
    bottleneck (isoformat costs several times a subtraction)."""
    entries = list(window)
    if not entries:
        return {"start": None, "offsets_s": [], "values": []}
    start = entries[0][0]
    return {
        "start": start.isoformat(),
        "offsets_s": [(ts - start).total_seconds() for ts, _value in entries],
        "values": [value for _ts, value in entries],
    }


def window_from_json(value: object, key: str) -> list[tuple[datetime, float]]:
    """The entries of a :func:`window_to_json` dict, checked to be in strictly increasing time."""
    if not isinstance(value, Mapping):
        raise RuleStateError(f"state key {key!r}: expected a mapping with start, offsets_s and values")
    offsets, values = value.get("offsets_s"), value.get("values")
    if not isinstance(offsets, list) or not isinstance(values, list) or len(offsets) != len(values):
        raise RuleStateError(f"state key {key!r}: offsets_s and values must be lists of the same length")
    if not offsets:
        return []
    start = ts_from_json(value.get("start"), f"{key}.start")
    if start is None:
        raise RuleStateError(f"state key {key!r}: a non-empty window needs a start")
    entries: list[tuple[datetime, float]] = []
    previous_s = -1.0
    for offset_s, reading_value in zip(offsets, values, strict=True):
        if not _is_number(offset_s) or not _is_number(reading_value):
            raise RuleStateError(f"state key {key!r}: offsets and values must be numbers")
        if offset_s <= previous_s:
            raise RuleStateError(f"state key {key!r}: offsets are not increasing")
        previous_s = offset_s
        entries.append((start + timedelta(seconds=offset_s), float(reading_value)))
    return entries


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
