"""Silent rules: a sensor that stopped reporting. Driven by the engine's timer, not by readings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self

from detectors.schemas import Incident, Phase
from detectors.sensor_rules.base import (
    RuleContext,
    SensorRule,
    fmt_duration,
    kind_label,
    required_bool,
    required_ts,
    ts_from_json,
    ts_to_json,
)
from detectors.sensor_rules.config import SilentRuleConfig
from ingest.schemas import SensorReading

DEFAULT_AFTER_S = 300.0
INTERVALS_BEFORE_SILENT = 3


@dataclass(slots=True)
class SilentState:
    """``last_ts``: the newest reading's ts (None: never reported); ``watching_since``: when the engine
    started expecting readings, the silence clock's origin until the first reading."""

    watching_since: datetime
    last_ts: datetime | None = None
    active: bool = False
    raised_ts: datetime | None = None

    @property
    def reference_ts(self) -> datetime:
        return self.last_ts if self.last_ts is not None else self.watching_since

    def to_dict(self) -> dict[str, Any]:
        return {
            "watching_since": ts_to_json(self.watching_since),
            "last_ts": ts_to_json(self.last_ts),
            "active": self.active,
            "raised_ts": ts_to_json(self.raised_ts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            watching_since=required_ts(data, "watching_since"),
            last_ts=ts_from_json(data.get("last_ts"), "last_ts"),
            active=required_bool(data, "active"),
            raised_ts=ts_from_json(data.get("raised_ts"), "raised_ts"),
        )


class SilentRule(SensorRule[SilentRuleConfig, SilentState]):
    """Raises from :meth:`expire` when a sensor's newest reading is more than ``after_s`` old; the
    next reading clears it.

    The raised incident's ``ts`` is the moment the sensor became overdue (last reading + after_s),
    not the tick time, so the id is the same however late or often the engine ticks.
    """

    type_name = "silent"
    state_type = SilentState
    has_timer = True

    def __init__(self, config: SilentRuleConfig, context: RuleContext | None = None) -> None:
        super().__init__(config, context)
        self._after: dict[str, timedelta] = {}

    def after_s(self, sensor_id: str) -> float:
        """Seconds without a reading before ``sensor_id`` counts as silent."""
        return self._after_for(sensor_id).total_seconds()

    def _after_for(self, sensor_id: str) -> timedelta:
        after = self._after.get(sensor_id)
        if after is None:
            if self.config.after_s is not None:
                after_s = self.config.after_s
            else:
                sensor = self.context.sensors.get(sensor_id)
                after_s = INTERVALS_BEFORE_SILENT * sensor.interval_s if sensor is not None else DEFAULT_AFTER_S
            after = self._after[sensor_id] = timedelta(seconds=after_s)
        return after

    def expected_sensors(self) -> list[str]:
        """Sensors to watch before they ever report: the registered ones of this kind, and any the
        rule names explicitly (an operator who lists a sensor expects to hear when it never shows up)."""
        registered = [
            sensor.id
            for sensor in self.context.sensors.values()
            if sensor.kind == self.kind and self.applies_to(sensor.id)
        ]
        named = [sensor_id for sensor_id in self.config.sensor_ids or () if sensor_id not in self.context.sensors]
        return registered + named

    def new_state(self, since: datetime) -> SilentState:
        return SilentState(watching_since=since)

    def process(self, reading: SensorReading, state: SilentState) -> list[Incident]:
        incidents: list[Incident] = []
        if state.active:
            incidents.append(self._cleared(reading, state))
            state.active = False
            state.raised_ts = None
        state.last_ts = reading.ts
        return incidents

    def expire(self, sensor_id: str, now: datetime, state: SilentState) -> list[Incident]:
        if state.active:
            return []
        overdue_at = state.reference_ts + self._after_for(sensor_id)
        if now <= overdue_at:
            return []
        state.active = True
        state.raised_ts = overdue_at
        return [self._raised(sensor_id, now, state, overdue_at)]

    def _raised(self, sensor_id: str, now: datetime, state: SilentState, overdue_at: datetime) -> Incident:
        location = self.context.location_of(sensor_id, None)
        fields = self._fields(sensor_id, location)
        after_s = self.after_s(sensor_id)
        last_seen = self._local(state.last_ts, overdue_at) if state.last_ts is not None else "never"
        label = kind_label(self.kind)
        if state.last_ts is not None:
            default = (
                f"{label} sensor {fields['where']} silent: no reading for over {fmt_duration(after_s)} "
                f"(last at {last_seen})"
            )
        else:
            default = (
                f"{label} sensor {fields['where']} silent: no reading since watching began "
                f"({fmt_duration(after_s)} ago)"
            )
        fields.update(after_s=after_s, last_seen=last_seen)
        return self._incident(
            sensor_id=sensor_id,
            phase=Phase.raised,
            ts=overdue_at,
            location=location,
            title=self._title(default, fields, Phase.raised),
            evidence={
                "after_s": after_s,
                "last_reading_ts": ts_to_json(state.last_ts),
                "watching_since": ts_to_json(state.watching_since),
                "silent_for_s": (now - state.reference_ts).total_seconds(),
            },
        )

    def _cleared(self, reading: SensorReading, state: SilentState) -> Incident:
        sensor_id = reading.sensor_id
        location = self.context.location_of(sensor_id, reading.location)
        fields = self._fields(sensor_id, location)
        after_s = self.after_s(sensor_id)
        silent_for_s = (reading.ts - state.reference_ts).total_seconds()
        default = f"{fields['kind_label']} sensor {fields['where']} reporting again after {fmt_duration(silent_for_s)}"
        last_seen = self._local(state.last_ts, reading.ts) if state.last_ts is not None else "never"
        fields.update(after_s=after_s, last_seen=last_seen)
        return self._incident(
            sensor_id=sensor_id,
            phase=Phase.cleared,
            ts=reading.ts,
            location=location,
            title=self._title(default, fields, Phase.cleared),
            evidence={
                "after_s": after_s,
                "last_reading_ts": ts_to_json(state.last_ts),
                "silent_for_s": silent_for_s,
                "raised_ts": ts_to_json(state.raised_ts),
                "value": reading.value,
                "unit": reading.unit,
            },
        )

    def _local(self, ts: datetime, relative_to: datetime) -> str:
        """``08:10 WIB``, with the date too when it is not the same local day as ``relative_to``."""
        local = ts.astimezone(self.context.tz)
        if local.date() == relative_to.astimezone(self.context.tz).date():
            return local.strftime("%H:%M %Z")
        return local.strftime("%Y-%m-%d %H:%M %Z")
