"""Rate rules: the value rises (or falls) faster than a rate per minute."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from detectors.schemas import Incident, Phase
from detectors.sensor_rules.base import (
    RuleContext,
    SensorRule,
    fmt_num,
    required_bool,
    seconds,
    ts_from_json,
    ts_to_json,
    unit_suffix,
    window_from_json,
    window_to_json,
)
from detectors.sensor_rules.config import RateRuleConfig
from ingest.schemas import SensorReading


@dataclass(slots=True)
class RateState:
    """``window``: the (ts, value) readings of the last ``window_s`` seconds, oldest first."""

    active: bool = False
    raised_ts: datetime | None = None
    window: deque[tuple[datetime, float]] = field(default_factory=deque)

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "raised_ts": ts_to_json(self.raised_ts),
            "window": window_to_json(self.window),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            active=required_bool(data, "active"),
            raised_ts=ts_from_json(data.get("raised_ts"), "raised_ts"),
            window=deque(window_from_json(data.get("window", {}), "window")),
        )


class RateRule(SensorRule[RateRuleConfig, RateState]):
    """Raises once when the rate over the window exceeds the trigger rate; clears when it falls back
    to the clear rate. While too few readings span the window no rate is known and nothing changes:
    a gap in the data is not evidence that the river stopped rising."""

    type_name = "rate"
    state_type = RateState

    def __init__(self, config: RateRuleConfig, context: RuleContext | None = None) -> None:
        super().__init__(config, context)
        self._rising = config.is_rising
        self._trigger_per_min = config.trigger_per_min
        self._clear_per_min = config.clear_level_per_min
        self._window = seconds(config.window_s)
        self._min_span_s = config.effective_min_span_s
        self._direction = "rising" if self._rising else "falling"

    def new_state(self, since: datetime) -> RateState:
        return RateState()

    def process(self, reading: SensorReading, state: RateState) -> list[Incident]:
        window = state.window
        ts = reading.ts
        window.append((ts, reading.value))
        cutoff = ts - self._window
        while window[0][0] < cutoff:
            window.popleft()
        if len(window) < 2:
            return []
        first_ts, first_value = window[0]
        span_s = (ts - first_ts).total_seconds()
        if span_s < self._min_span_s:
            return []
        rate_per_min = (reading.value - first_value) * 60.0 / span_s
        speed = rate_per_min if self._rising else -rate_per_min
        if state.active:
            if speed >= self._clear_per_min:
                return []
            incident = self._build(reading, state, Phase.cleared, rate_per_min)
            state.active = False
            state.raised_ts = None
            return [incident]
        if speed <= self._trigger_per_min:
            return []
        state.active = True
        state.raised_ts = ts
        return [self._build(reading, state, Phase.raised, rate_per_min)]

    def _build(self, reading: SensorReading, state: RateState, phase: Phase, rate_per_min: float) -> Incident:
        sensor_id = reading.sensor_id
        location = self.context.location_of(sensor_id, reading.location)
        fields = self._fields(sensor_id, location)
        shown = unit_suffix(reading.unit)
        per_min = f"{shown}/min" if shown else "/min"
        speed = fmt_num(abs(rate_per_min))
        if phase is Phase.raised:
            default = (
                f"{fields['kind_label']} {self._direction} {speed}{per_min} "
                f"(over {fmt_num(self._trigger_per_min)}{per_min}) at {fields['where']}"
            )
        else:
            default = (
                f"{fields['kind_label']} no longer {self._direction} fast "
                f"({fmt_num(rate_per_min)}{per_min}) at {fields['where']}"
            )
        fields.update(
            value=reading.value,
            unit=reading.unit,
            rate_per_min=rate_per_min,
            threshold_per_min=self._trigger_per_min,
            direction=self._direction,
            window_s=self._window.total_seconds(),
        )
        first_ts, first_value = state.window[0]
        evidence: dict[str, Any] = {
            "rate_per_min": rate_per_min,
            "direction": self._direction,
            "threshold_per_min": self._trigger_per_min,
            "clear_per_min": self._clear_per_min,
            "unit": reading.unit,
            "window_s": self._window.total_seconds(),
            "from_ts": first_ts.isoformat(),
            "from_value": first_value,
            "to_ts": reading.ts.isoformat(),
            "to_value": reading.value,
            "readings": len(state.window),
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
