"""The sensor rule engine: every configured rule applied to a stream of readings, plus timers.

Pure logic: no Kafka, no database, no wall clock except the injected one. The owner (the detector
worker) feeds readings in partition order, calls :meth:`SensorRuleEngine.tick` periodically, and
persists :meth:`~SensorRuleEngine.export_state` of the sensors :meth:`~SensorRuleEngine.take_dirty`
names alongside its consumer offsets. After a crash it imports that state and replays from the
committed offsets: readings the state has already seen are ignored, so the replay emits nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from detectors.exceptions import RuleStateError
from detectors.schemas import Incident
from detectors.sensor_rules.base import RuleContext, ts_from_json, ts_to_json
from detectors.sensor_rules.registry import AnyRule, build_rule
from ingest.config import unknown_sensor_policy
from ingest.schemas import SensorReading
from pantau.timeutil import utcnow

if TYPE_CHECKING:  # a runtime import would be circular: detectors.config imports this package
    from detectors.config import DetectorsConfig

STATE_VERSION = 1


@dataclass(slots=True)
class _Sensor:
    """What the engine remembers of one sensor: the newest reading ts and each rule's state."""

    kind: str | None
    last_ts: datetime | None = None
    states: dict[str, Any] = field(default_factory=dict)


class SensorRuleEngine:
    """Applies the configured sensor rules to readings and timers and returns the incidents.

    Not thread-safe: one engine belongs to one consumer loop.

    ``clock`` stamps ``detected_at`` on incidents; ``started_at`` (default: ``clock()``) is when
    registered sensors that have never reported start counting as silent.
    """

    def __init__(
        self,
        config: DetectorsConfig,
        clock: Callable[[], datetime] = utcnow,
        started_at: datetime | None = None,
    ) -> None:
        self._started_at = _aware(started_at if started_at is not None else clock(), "started_at")
        self._registry = {sensor.id: sensor for sensor in config.sensors}
        self.unknown_sensors = unknown_sensor_policy(config.unknown_sensors, config.sensors)
        self._context = RuleContext(clock=clock, sensors=self._registry, tz=config.tzinfo())
        self._rules: tuple[AnyRule, ...] = tuple(build_rule(rule, self._context) for rule in config.sensor_rules)
        self._rules_by_name = {rule.name: rule for rule in self._rules}
        by_kind: dict[str, list[AnyRule]] = {}
        for rule in self._rules:
            by_kind.setdefault(rule.kind, []).append(rule)
        self._by_kind = {kind: tuple(rules) for kind, rules in by_kind.items()}
        self._timer_rules = tuple(rule for rule in self._rules if rule.has_timer)
        # Per (kind, sensor id): the rules that apply, so a reading costs one dict lookup to route.
        self._applicable: dict[tuple[str, str], tuple[AnyRule, ...]] = {}
        self._sensors: dict[str, _Sensor] = {}
        # Per timer rule, the sensors it watches; dicts rather than sets so tick() is deterministic.
        self._watched: dict[str, dict[str, None]] = {rule.name: {} for rule in self._timer_rules}
        self._dirty: set[str] = set()
        for rule in self._timer_rules:
            for sensor_id in rule.expected_sensors():
                self._watch(rule, sensor_id, self._started_at)

    @property
    def rules(self) -> tuple[AnyRule, ...]:
        """The rules, in configuration order."""
        return self._rules

    @property
    def started_at(self) -> datetime:
        return self._started_at

    def registered(self, sensor_id: str) -> bool:
        """Whether the registry (``sensors:``) lists the sensor."""
        return sensor_id in self._registry

    def sensor_ids(self) -> list[str]:
        """The sensors the engine holds state for (a snapshot, safe to pass to :meth:`forget`)."""
        return list(self._sensors)

    def process(self, reading: SensorReading) -> list[Incident]:
        """Apply every rule watching the reading's sensor; the incidents it caused, usually none.

        A reading no newer than the newest one already processed for its sensor is ignored, which
        makes replaying a partition after a restart (with imported state) emit nothing twice.
        """
        sensor_id = reading.sensor_id
        kind = reading.kind
        rules = self._applicable.get((kind, sensor_id))
        if rules is None:
            rules = tuple(rule for rule in self._by_kind.get(kind, ()) if rule.applies_to(sensor_id))
            self._applicable[(kind, sensor_id)] = rules
        sensor = self._sensors.get(sensor_id)
        if sensor is None:
            if not rules:
                return []  # nothing watches it, so nothing to remember
            sensor = self._sensors[sensor_id] = _Sensor(kind=kind)
        elif sensor.last_ts is not None and reading.ts <= sensor.last_ts:
            return []
        sensor.last_ts = reading.ts
        sensor.kind = kind
        self._dirty.add(sensor_id)
        states = sensor.states
        incidents: list[Incident] = []
        for rule in rules:
            state = states.get(rule.name)
            if state is None:
                state = states[rule.name] = rule.new_state(reading.ts)
                if rule.has_timer:
                    self._watched[rule.name][sensor_id] = None
            found = rule.process(reading, state)
            if found:
                incidents.extend(found)
        return incidents

    def tick(self, now: datetime) -> list[Incident]:
        """Incidents due by ``now`` from timer rules (sensors gone silent).

        ``now`` is compared with reading timestamps, so a worker still catching up on a backlog
        should not tick with the wall clock until it has caught up, or lagging sensors look silent.
        """
        _aware(now, "now")
        incidents: list[Incident] = []
        for rule in self._timer_rules:
            for sensor_id in self._watched[rule.name]:
                found = rule.expire(sensor_id, now, self._sensors[sensor_id].states[rule.name])
                if found:
                    incidents.extend(found)
                    self._dirty.add(sensor_id)
        return incidents

    def export_state(self, sensor_id: str) -> dict[str, Any] | None:
        """Everything the engine knows about a sensor as a JSON-able dict; None if it knows nothing."""
        sensor = self._sensors.get(sensor_id)
        if sensor is None:
            return None
        rules: dict[str, Any] = {}
        for name, state in sensor.states.items():
            rule = self._rules_by_name[name]
            rules[name] = {"type": rule.type_name, "state": rule.state_to_dict(state)}
        return {
            "version": STATE_VERSION,
            "kind": sensor.kind,
            "last_ts": ts_to_json(sensor.last_ts),
            "rules": rules,
        }

    def import_state(self, sensor_id: str, state: Mapping[str, Any]) -> None:
        """Replace what the engine knows about a sensor with an :meth:`export_state` dict.

        State of rules that were since removed, renamed, retyped, re-kinded or narrowed away from
        the sensor is dropped: those rules start afresh. A malformed dict raises
        :class:`RuleStateError` and changes nothing.
        """
        sensor = self._parse_state(sensor_id, state)
        self._sensors[sensor_id] = sensor
        for rule in self._timer_rules:
            watched = self._watched[rule.name]
            if rule.name in sensor.states:
                watched[sensor_id] = None
                continue
            expected = sensor_id in watched
            seen = sensor.last_ts is not None and sensor.kind == rule.kind and rule.applies_to(sensor_id)
            if expected or seen:
                # The saved state predates this rule: its silence clock starts at the last reading.
                since = sensor.last_ts if sensor.last_ts is not None else self._started_at
                sensor.states[rule.name] = rule.new_state(since)
                watched[sensor_id] = None
        self._dirty.discard(sensor_id)

    def reconfigured(self, config: DetectorsConfig) -> SensorRuleEngine:
        """A new engine with ``config``'s rules that carries this one's state over: every sensor's
        newest reading, and the state of each rule that is still there with the same name and type
        (a rule whose thresholds changed keeps its episode; a new rule starts afresh). Every carried
        sensor is marked dirty, so the persisted state follows the new rule set."""
        engine = SensorRuleEngine(config, clock=self._context.clock, started_at=self._started_at)
        for sensor_id in self.sensor_ids():
            state = self.export_state(sensor_id)
            if state is not None:
                engine.import_state(sensor_id, state)
                engine._dirty.add(sensor_id)
        return engine

    def take_dirty(self) -> set[str]:
        """The sensors whose state changed since the last call (their state needs persisting)."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def forget(self, sensor_ids: Iterable[str]) -> None:
        """Drop all state of these sensors, e.g. when their partition is assigned to another worker."""
        for sensor_id in sensor_ids:
            self._sensors.pop(sensor_id, None)
            self._dirty.discard(sensor_id)
            for watched in self._watched.values():
                watched.pop(sensor_id, None)

    def _watch(self, rule: AnyRule, sensor_id: str, since: datetime) -> None:
        sensor = self._sensors.get(sensor_id)
        if sensor is None:
            sensor = self._sensors[sensor_id] = _Sensor(kind=rule.kind)
        if rule.name not in sensor.states:
            sensor.states[rule.name] = rule.new_state(since)
        self._watched[rule.name][sensor_id] = None

    def _parse_state(self, sensor_id: str, data: Mapping[str, Any]) -> _Sensor:
        where = f"state of sensor {sensor_id!r}"
        if not isinstance(data, Mapping):
            raise RuleStateError(f"{where}: expected a mapping, got {type(data).__name__}")
        if data.get("version") != STATE_VERSION:
            raise RuleStateError(f"{where}: unsupported version {data.get('version')!r} (expected {STATE_VERSION})")
        kind = data.get("kind")
        if kind is not None and not isinstance(kind, str):
            raise RuleStateError(f"{where}: 'kind' must be a string")
        rules = data.get("rules", {})
        if not isinstance(rules, Mapping):
            raise RuleStateError(f"{where}: 'rules' must be a mapping")
        try:
            sensor = _Sensor(kind=kind, last_ts=ts_from_json(data.get("last_ts"), "last_ts"))
            for name, entry in rules.items():
                rule = self._rules_by_name.get(name)
                if (
                    rule is None
                    or not isinstance(entry, Mapping)
                    or entry.get("type") != rule.type_name
                    or (kind is not None and rule.kind != kind)
                    or not rule.applies_to(sensor_id)
                ):
                    continue
                rule_state = entry.get("state")
                if not isinstance(rule_state, Mapping):
                    raise RuleStateError(f"rule {name!r}: 'state' must be a mapping")
                sensor.states[name] = rule.state_from_dict(rule_state)
        except RuleStateError as exc:
            raise RuleStateError(f"{where}: {exc}") from exc
        return sensor


def _aware(ts: datetime, name: str) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {ts!r}")
    return ts
