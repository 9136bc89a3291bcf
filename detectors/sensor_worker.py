"""The sensor-rules worker: readings in, incidents out.

Consumes ``pantau.sensor-readings.v1`` in consumer group ``pantau.detectors.sensor-rules``, runs the
configured sensor rules, and produces incidents to ``pantau.incidents.v1``. Rule state (hysteresis,
windows, last reading per sensor) is written to the compacted ``pantau.detector-state.v1`` topic,
on the same partition number as the readings it came from, before offsets are committed; a worker
that gets a partition (after a crash or a rebalance) restores that state first. Together with the
engine ignoring readings it has already seen and incident ids derived from their cause, a replay
after ``kill -9`` emits nothing twice.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.structs import TopicPartition
from pydantic import Field, ValidationError

from detectors.config import DetectorsConfig
from detectors.flood import FloodGuard
from detectors.schemas import INCIDENTS_TOPIC, TOPIC_DETECTOR_STATE, TOPIC_INCIDENTS, Incident
from detectors.sensor_rules.engine import SensorRuleEngine
from ingest.schemas import READINGS_TOPIC, TOPIC_SENSOR_READINGS, SensorReading
from pantau.config import format_validation_error, load_config_file, parse_section
from pantau.exceptions import KafkaError
from pantau.kafka import (
    HIGH_VOLUME_FETCH,
    DeadLetterSink,
    dumps,
    ensure_topics,
    flush,
    make_consumer,
    make_producer,
    partition_for_key,
    topic_partitions,
)
from pantau.logs import configure_logging
from pantau.metrics import INCIDENTS
from pantau.settings import CommonSettings
from pantau.timeutil import ahead_of_clock, utcnow
from pantau.topics import DLQ_TOPIC, TopicSpec
from pantau.worker import ConsumerLoop, install_signal_handlers

log = logging.getLogger(__name__)
STAGE = "detectors.sensor-rules"


class Settings(CommonSettings):
    """Settings of the sensor-rules worker deployable."""

    detectors_group: str = Field("pantau.detectors.sensor-rules", description="Kafka consumer group")
    tick_interval_s: float = Field(1.0, gt=0, description="How often timers (silent sensors) are checked")
    silent_check_max_lag_s: float = Field(
        10.0, gt=0, description="Silent-sensor timers pause while the worker is further behind than this"
    )
    sensor_max_rate_per_s: float = Field(
        20.0, gt=0, description="Readings per second (of reading time) the rules evaluate per sensor; more skip them"
    )
    sensor_rate_burst: float = Field(100.0, ge=1, description="Readings a sensor may send at once above that rate")


STATE_BUCKETS = 4  # state records per partition; each holds the full state of its sensors


def state_topic_spec(partitions: int) -> TopicSpec:
    return TopicSpec(
        TOPIC_DETECTOR_STATE, partitions, {"cleanup.policy": "compact", "max.message.bytes": str(16 * 1024 * 1024)}
    )


class SensorRulesWorker:
    """Batch handler applying the sensor rules; see the module docstring for its guarantees."""

    def __init__(
        self,
        settings: Settings,
        engine: SensorRuleEngine,
        producer: KafkaProducer,
        dead_letters: DeadLetterSink,
        partitions: int,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.producer = producer
        self.dead_letters = dead_letters
        self.partitions = partitions
        self.incidents_topic = settings.topic(TOPIC_INCIDENTS)
        self.state_topic = settings.topic(TOPIC_DETECTOR_STATE)
        self.readings_topic = settings.topic(TOPIC_SENSOR_READINGS)
        self.owned: set[int] = set()
        # Partitions assigned whose state is not restored yet. The assignment callback runs on
        # kafka-python's network thread, where reading a whole state topic would hold up heartbeats;
        # the main loop restores them before it handles a record or fires a timer.
        self._to_restore: set[int] = set()
        self._lock = threading.Lock()
        self._next_tick_s = 0.0
        self._lag_s = 0.0  # how far behind the newest record handled was when it arrived
        self._members: dict[tuple[int, int], set[str]] = {}  # which sensors each state record holds
        self.emitted = 0
        self.flood = FloodGuard(settings.sensor_max_rate_per_s, settings.sensor_rate_burst)
        self._unknown_told: dict[str, datetime] = {}  # quarantined sensor ids -> when last dead-lettered

    def reload(self) -> None:
        """``pantau reload``: the sensors and rules of the configuration file, keeping each sensor's
        state (see :meth:`SensorRuleEngine.reconfigured`). An invalid file changes nothing."""
        source = str(self.settings.config or "<none>")
        config = parse_section(DetectorsConfig, load_config_file(self.settings.config), source)
        self.engine = self.engine.reconfigured(config)

    def handle(self, records: Sequence[Any]) -> None:
        self._restore_assigned()
        if records:
            self._lag_s = time.time() - records[-1].timestamp / 1000
        now = utcnow()
        for rec in records:
            try:
                reading = SensorReading.model_validate_json(rec.value)
            except ValidationError as exc:
                self.dead_letters.reject_record(rec, f"invalid sensor reading: {format_validation_error(exc)}")
                continue
            ahead = ahead_of_clock(reading.ts, now, self.settings.max_clock_skew_s)
            if ahead is not None:
                self.dead_letters.reject_record(rec, f"sensor reading from the future: {ahead}")
                continue
            if self.engine.unknown_sensors != "evaluate" and not self.engine.registered(reading.sensor_id):
                self._unknown(rec, reading.sensor_id, now)
                continue
            verdict = self.flood.check(reading.sensor_id, reading.ts)
            if verdict.ended_after:
                log.warning(
                    "%s: sensor %r slowed down; %d of its readings skipped the rules (all are archived)",
                    STAGE,
                    reading.sensor_id,
                    verdict.ended_after,
                )
            if not verdict.allowed:
                if verdict.first_skip:
                    self.dead_letters.reject_record(
                        rec,
                        f"rate limited: sensor {reading.sensor_id!r} sends more than "
                        f"{self.flood.rate_per_s:g} readings/s (burst {self.flood.burst:g}); its readings skip "
                        "the rules until it slows down (all are archived)",
                    )
                continue
            fired = self.engine.process(reading)
            if fired:
                # The reading that triggered them: its id follows the incidents into alerting's logs.
                correlation_id = reading.correlation_id
                self._emit([i.model_copy(update={"correlation_id": correlation_id}) for i in fired])

    def _unknown(self, rec: Any, sensor_id: str, now: datetime) -> None:
        """A reading of a sensor the registry does not list: not evaluated. ``refuse``: every one is
        dead-lettered; ``quarantine``: the first of each sensor and hour says so (the archiver keeps
        them all), so 10,000 invented ids are 10,000 letters an hour at most, and no state or alert."""
        policy = self.engine.unknown_sensors
        if policy == "quarantine":
            last = self._unknown_told.get(sensor_id)
            if last is not None and (now - last).total_seconds() < 3600:
                return
            if len(self._unknown_told) >= 10_000:  # bounded whatever the ids: forget the oldest half
                for old in sorted(self._unknown_told, key=self._unknown_told.__getitem__)[:5_000]:
                    del self._unknown_told[old]
            self._unknown_told[sensor_id] = now
        self.dead_letters.reject_record(
            rec,
            f"unknown sensor {sensor_id!r}: not in `sensors:`, not evaluated (unknown_sensors: {policy}"
            + ("; archived, this is said once an hour per sensor)" if policy == "quarantine" else ")"),
        )

    def _emit(self, incidents: list[Incident]) -> None:
        for incident in incidents:
            self.producer.send(self.incidents_topic, key=incident.key(), value=dumps(incident))
            self.emitted += 1
            INCIDENTS.labels(STAGE, incident.type, incident.phase.value).inc()
            log.info(
                "%s: %s incident %s (%s) on %s: %s",
                STAGE,
                incident.phase.value,
                incident.id,
                incident.type,
                incident.source,
                incident.title,
                extra={"correlation_id": incident.correlation_id, "incident_id": incident.id},
            )

    def tick(self, now_s: float) -> None:
        self._restore_assigned()
        if now_s < self._next_tick_s:
            return
        self._next_tick_s = now_s + self.settings.tick_interval_s
        if self._lag_s > self.settings.silent_check_max_lag_s:
            # Still working through a backlog: sensors whose readings wait in it would look silent.
            self._lag_s = 0.0  # re-measured by the next batch; an idle poll means we caught up
            return
        fired = self.engine.tick(utcnow())
        self._emit([i for i in fired if self._owns(i.source)])

    def _owns(self, sensor_id: str) -> bool:
        return partition_for_key(sensor_id.encode(), self.partitions) in self.owned

    def _bucket(self, sensor_id: str) -> tuple[int, int]:
        key = sensor_id.encode()
        return partition_for_key(key, self.partitions), zlib.crc32(key) % STATE_BUCKETS

    def make_durable(self) -> None:
        # One state record per (partition, bucket) holding the full state of its sensors: a handful of
        # sends per commit instead of one per sensor (kafka-python's send costs ~0.3 ms).
        dirty_buckets: set[tuple[int, int]] = set()
        for sensor_id in self.engine.take_dirty():
            bucket = self._bucket(sensor_id)
            if bucket[0] not in self.owned:
                continue  # another worker owns (and persists) that sensor
            self._members.setdefault(bucket, set()).add(sensor_id)
            dirty_buckets.add(bucket)
        for part, slot in dirty_buckets:
            members = self._members[(part, slot)]
            payload = {sid: state for sid in members if (state := self.engine.export_state(sid)) is not None}
            self.producer.send(
                self.state_topic, key=f"{part}/{slot}".encode(), value=orjson.dumps(payload), partition=part
            )
        flush(self.dead_letters.producer, 30)
        flush(self.producer, 30)

    def on_assigned(self, partitions: set[TopicPartition]) -> None:
        mine = {tp.partition for tp in partitions if tp.topic == self.readings_topic}
        with self._lock:
            self.owned |= mine
            self._to_restore |= mine
        log.info("%s: partitions %s assigned; restoring their state before their first record", STAGE, sorted(mine))

    def _restore_assigned(self) -> None:
        with self._lock:
            pending = set(self._to_restore)
        if not pending:
            return
        started_s = time.monotonic()
        restored = self._restore(pending)  # a KafkaError leaves them pending: the loop retries
        with self._lock:
            self._to_restore -= pending
        log.info(
            "%s: state of %d sensors of partitions %s restored in %.2f s",
            STAGE,
            restored,
            sorted(pending),
            time.monotonic() - started_s,
        )

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions if tp.topic == self.readings_topic}
        with self._lock:
            self.owned -= gone
            self._to_restore -= gone
        self.engine.forget(
            {s for s in self.engine.sensor_ids() if partition_for_key(s.encode(), self.partitions) in gone}
        )
        for bucket in [b for b in self._members if b[0] in gone]:
            del self._members[bucket]

    def _restore(self, partitions: set[int]) -> int:
        if not partitions:
            return 0
        consumer = make_consumer(self.settings, client_id="pantau-detectors-restore", group_id=None)
        buckets: dict[bytes, dict[str, Any]] = {}  # the newest record of each bucket wins
        try:
            tps = [TopicPartition(self.state_topic, p) for p in partitions]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            end = consumer.end_offsets(tps)
            deadline = time.monotonic() + 60
            while any(consumer.position(tp) < end[tp] for tp in tps):
                if time.monotonic() > deadline:
                    raise KafkaError(f"restoring detector state from {self.state_topic} took over 60 s")
                for batch in consumer.poll(timeout_ms=200).values():
                    for rec in batch:
                        if rec.value is not None:
                            buckets[rec.key] = orjson.loads(rec.value)
        finally:
            consumer.close(autocommit=False)
        restored = 0
        for states in buckets.values():
            for sensor_id, state in states.items():
                self.engine.import_state(sensor_id, state)
                self._members.setdefault(self._bucket(sensor_id), set()).add(sensor_id)
                restored += 1
        return restored


def build(settings: Settings) -> ConsumerLoop:
    source = str(settings.config or "<none>")
    config = parse_section(DetectorsConfig, load_config_file(settings.config), source)
    ensure_topics(settings, [READINGS_TOPIC, INCIDENTS_TOPIC, DLQ_TOPIC])
    consumer = make_consumer(
        settings, client_id="pantau-detectors", group_id=settings.group(settings.detectors_group), **HIGH_VOLUME_FETCH
    )
    # The state topic mirrors the readings topic partition for partition, whatever count it was created with.
    partitions = len(consumer.partitions_for_topic(settings.topic(TOPIC_SENSOR_READINGS)) or ()) or topic_partitions(
        settings, READINGS_TOPIC
    )
    ensure_topics(settings, [state_topic_spec(partitions)])
    producer = make_producer(settings, client_id="pantau-detectors", max_request_size=16 * 1024 * 1024)
    engine = SensorRuleEngine(config, clock=utcnow, started_at=utcnow())
    worker = SensorRulesWorker(settings, engine, producer, DeadLetterSink(settings, producer, STAGE), partitions)
    return ConsumerLoop(
        consumer,
        worker,
        [settings.topic(TOPIC_SENSOR_READINGS)],
        name="detectors",
        commit_interval_s=1.0,
        ready_file=settings.ready_file,
    )


def main() -> None:
    settings = Settings()
    configure_logging(settings, "detectors")
    loop = build(settings)
    install_signal_handlers(loop.stop, loop.reload_requested)
    loop.serve_ops(settings)
    loop.run()


if __name__ == "__main__":
    main()
