"""Stuck rules: a sensor whose value has not moved (beyond a tolerance) for a whole window."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from detectors.schemas import Incident, Phase
from detectors.sensor_rules.base import (
    RuleContext,
    SensorRule,
    fmt_duration,
    fmt_num,
    required_bool,
    seconds,
    ts_from_json,
    ts_to_json,
    unit_suffix,
    window_from_json,
    window_to_json,
)
from detectors.sensor_rules.config import StuckRuleConfig
from ingest.schemas import SensorReading

Entry = tuple[datetime, float]


@dataclass(slots=True)
class StuckState:
    """``window`` holds the readings of the last ``window_s`` seconds plus the last one before them
    (the value at the window's start); ``lows``/``highs`` are monotonic queues over the same entries
    giving the window's min and max in O(1), rebuilt from ``window`` on import."""

    active: bool = False
    raised_ts: datetime | None = None
    window: deque[Entry] = field(default_factory=deque)
    lows: deque[Entry] = field(default_factory=deque)
    highs: deque[Entry] = field(default_factory=deque)

    def push(self, entry: Entry) -> None:
        value = entry[1]
        self.window.append(entry)
        lows, highs = self.lows, self.highs
        while lows and lows[-1][1] >= value:
            lows.pop()
        lows.append(entry)
        while highs and highs[-1][1] <= value:
            highs.pop()
        highs.append(entry)

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "raised_ts": ts_to_json(self.raised_ts),
            "window": window_to_json(self.window),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        state = cls(active=required_bool(data, "active"), raised_ts=ts_from_json(data.get("raised_ts"), "raised_ts"))
        state._extend(window_from_json(data.get("window", {}), "window"))
        return state

    def _extend(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.push(entry)


class StuckRule(SensorRule[StuckRuleConfig, StuckState]):
    """Raises when every reading across a full ``window_s`` (at least ``min_readings`` of them) lies
    within ``tolerance`` of every other; clears on the first reading that breaks the tolerance.

    The window must really be covered, from a reading at or before its start to the newest: a
    sensor that reports every second should not be called stuck after five equal readings.
    """

    type_name = "stuck"
    state_type = StuckState

    def __init__(self, config: StuckRuleConfig, context: RuleContext | None = None) -> None:
        super().__init__(config, context)
        self._window = seconds(config.window_s)
        self._tolerance = config.tolerance
        self._min_readings = config.min_readings

    def new_state(self, since: datetime) -> StuckState:
        return StuckState()

    def process(self, reading: SensorReading, state: StuckState) -> list[Incident]:
        ts = reading.ts
        state.push((ts, reading.value))
        window = state.window
        cutoff = ts - self._window
        while len(window) >= 2 and window[1][0] <= cutoff:
            window.popleft()
        first_ts = window[0][0]
        lows, highs = state.lows, state.highs
        while lows[0][0] < first_ts:
            lows.popleft()
        while highs[0][0] < first_ts:
            highs.popleft()
        spread = highs[0][1] - lows[0][1]
        if state.active:
            if spread <= self._tolerance:
                return []
            incident = self._build(reading, state, Phase.cleared, spread)
            state.active = False
            state.raised_ts = None
            return [incident]
        if spread > self._tolerance or first_ts > cutoff or len(window) < self._min_readings:
            return []
        state.active = True
        state.raised_ts = ts
        return [self._build(reading, state, Phase.raised, spread)]

    def _build(self, reading: SensorReading, state: StuckState, phase: Phase, spread: float) -> Incident:
        sensor_id = reading.sensor_id
        location = self.context.location_of(sensor_id, reading.location)
        fields = self._fields(sensor_id, location)
        unit = unit_suffix(reading.unit)
        first_ts = state.window[0][0]
        if phase is Phase.raised:
            flat_s = (reading.ts - first_ts).total_seconds()
            default = (
                f"{fields['kind_label']} sensor {fields['where']} stuck at "
                f"{fmt_num(reading.value)}{unit} for {fmt_duration(flat_s)}"
            )
        else:
            default = f"{fields['kind_label']} sensor {fields['where']} moving again ({fmt_num(reading.value)}{unit})"
        fields.update(
            value=reading.value,
            unit=reading.unit,
            window_s=self._window.total_seconds(),
            tolerance=self._tolerance,
        )
        evidence: dict[str, Any] = {
            "value": reading.value,
            "unit": reading.unit,
            "min": state.lows[0][1],
            "max": state.highs[0][1],
            "spread": spread,
            "tolerance": self._tolerance,
            "window_s": self._window.total_seconds(),
            "readings": len(state.window),
            "window_start_ts": first_ts.isoformat(),
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
