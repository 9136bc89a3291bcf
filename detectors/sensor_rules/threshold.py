"""Threshold rules: the value is above (or below) a level, optionally for a while."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from detectors.schemas import Incident, Phase
from detectors.sensor_rules.base import (
    RuleContext,
    SensorRule,
    fmt_num,
    required_bool,
    ts_from_json,
    ts_to_json,
    unit_suffix,
)
from detectors.sensor_rules.config import ThresholdRuleConfig
from ingest.schemas import SensorReading


@dataclass(slots=True)
class ThresholdState:
    """``pending_since``: ts of the first reading of the current unbroken run past the level."""

    active: bool = False
    pending_since: datetime | None = None
    raised_ts: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "pending_since": ts_to_json(self.pending_since),
            "raised_ts": ts_to_json(self.raised_ts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            active=required_bool(data, "active"),
            pending_since=ts_from_json(data.get("pending_since"), "pending_since"),
            raised_ts=ts_from_json(data.get("raised_ts"), "raised_ts"),
        )


class ThresholdRule(SensorRule[ThresholdRuleConfig, ThresholdState]):
    """Raises once the value has been past the level for ``for_s`` seconds of reading time, then stays
    quiet until the value crosses back over the clear level (hysteresis), when it emits ``cleared``."""

    type_name = "threshold"
    state_type = ThresholdState

    def __init__(self, config: ThresholdRuleConfig, context: RuleContext | None = None) -> None:
        super().__init__(config, context)
        # Copied out of the model: attribute access on plain floats is the cheap path per reading.
        self._above = config.is_above
        self._level = config.level
        self._clear_level = config.clear_level
        self._for_s = config.for_s
        self._direction = "above" if self._above else "below"

    def new_state(self, since: datetime) -> ThresholdState:
        return ThresholdState()

    def process(self, reading: SensorReading, state: ThresholdState) -> list[Incident]:
        value = reading.value
        if state.active:
            back = value < self._clear_level if self._above else value > self._clear_level
            if not back:
                return []
            incident = self._build(reading, state, Phase.cleared)
            state.active = False
            state.pending_since = None
            state.raised_ts = None
            return [incident]
        past = value > self._level if self._above else value < self._level
        if not past:
            # "Held for for_s" means unbroken: one reading back inside the level restarts the wait.
            state.pending_since = None
            return []
        if state.pending_since is None:
            state.pending_since = reading.ts
        if (reading.ts - state.pending_since).total_seconds() < self._for_s:
            return []
        state.active = True
        state.raised_ts = reading.ts
        return [self._build(reading, state, Phase.raised)]

    def _build(self, reading: SensorReading, state: ThresholdState, phase: Phase) -> Incident:
        sensor_id = reading.sensor_id
        location = self.context.location_of(sensor_id, reading.location)
        fields = self._fields(sensor_id, location)
        unit = unit_suffix(reading.unit)
        value, level, clear = fmt_num(reading.value), fmt_num(self._level), fmt_num(self._clear_level)
        if phase is Phase.raised:
            default = f"{fields['kind_label']} {value}{unit} {self._direction} {level}{unit} at {fields['where']}"
        else:
            side = "below" if self._above else "above"
            default = f"{fields['kind_label']} back to {value}{unit} ({side} {clear}{unit}) at {fields['where']}"
        fields.update(
            value=reading.value,
            unit=reading.unit,
            threshold=self._level,
            direction=self._direction,
            for_s=self._for_s,
        )
        evidence: dict[str, Any] = {
            "value": reading.value,
            "unit": reading.unit,
            "direction": self._direction,
            "threshold": self._level,
            "clear_level": self._clear_level,
            "for_s": self._for_s,
            "held_since": ts_to_json(state.pending_since),
        }
        if phase is Phase.cleared:
            evidence["raised_ts"] = ts_to_json(state.raised_ts)
        return self._incident(
            sensor_id=sensor_id,
            phase=phase,
            ts=reading.ts,
            location=location,
            title=self._title(default, fields, phase),
            evidence=evidence,
        )
