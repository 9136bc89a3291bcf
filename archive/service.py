"""The archiver: stores sensor readings, incidents and line crossings in TimescaleDB hypertables.

Consumes ``pantau.sensor-readings.v1``, ``pantau.incidents.v1`` and ``pantau.line-crossings.v1``
(consumer group ``pantau.archiver``), copies each batch into a staging table with ``COPY`` and merges
it with ``ON CONFLICT DO NOTHING`` on the record's identity, so a batch delivered twice after a crash
or a rebalance stores nothing twice. A record that fails its model (or that PostgreSQL could not
store: a value out of range, a constraint violated) goes to the DLQ with the reason; the rest of the
batch is stored (the worker loop isolates such a record: ``pantau/worker.py``). The same
transaction adds the rows it inserted to the hourly rollups the planners' history reads
(``archive/rollups.py``). Offsets are committed only after the transaction commits.
Every ``PANTAU_RETENTION_INTERVAL_S`` it removes what is past its retention (``archive/retention.py``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from archive import queries, rollups
from archive.retention import SNAPSHOT_INDEX, RetentionPolicy, default_policies, enforce_retention
from detectors.schemas import (
    INCIDENTS_TOPIC,
    LINE_CROSSINGS_TOPIC,
    TOPIC_INCIDENTS,
    TOPIC_LINE_CROSSINGS,
    Incident,
    LineCrossing,
)
from ingest.cameras.config import CameraConfig
from ingest.config import SensorConfig, UnknownSensors, unknown_sensor_policy
from ingest.schemas import READINGS_TOPIC, TOPIC_SENSOR_READINGS, Location, SensorReading
from pantau.config import format_validation_error, load_config_file, parse_section
from pantau.db import connect, require_timescaledb, storage_error
from pantau.exceptions import DatabaseError
from pantau.kafka import HIGH_VOLUME_FETCH, DeadLetterSink, ensure_topics, flush, make_consumer, make_producer
from pantau.logs import configure_logging
from pantau.settings import CommonSettings
from pantau.timeutil import ahead_of_clock, utcnow
from pantau.topics import DLQ_TOPIC
from pantau.worker import ConsumerLoop, HandlerDefaults, install_signal_handlers

log = logging.getLogger(__name__)
STAGE = "archive"
BIGINT_MAX = 2**63 - 1


class Settings(CommonSettings):
    """Settings of the archiver deployable."""

    archive_group: str = Field("pantau.archiver", description="Kafka consumer group of the archiver")
    archive_batch_rows: int = Field(20_000, ge=1, description="Rows buffered before a write")
    archive_batch_age_s: float = Field(0.5, gt=0, description="Longest a row waits in the buffer")
    readings_retention_days: float = Field(400, gt=0, description="Days raw readings are kept")
    incidents_retention_days: float = Field(730, gt=0, description="Days incidents are kept")
    crossings_retention_days: float = Field(
        730, gt=0, description="Days raw line crossings are kept (their hourly counts: the rollups' retention)"
    )
    rollups_retention_days: float = Field(1825, gt=0, description="Days the hourly history rollups are kept")
    evidence_retention_days: float = Field(
        30,
        gt=0,
        description="Days an incident keeps its inline snapshot when its source is no configured camera "
        "(a camera's own retention_days applies to its incidents, as to its clip files)",
    )
    retention_interval_s: float = Field(3600, gt=0, description="Seconds between two retention runs")

    def retention_policies(self) -> list[RetentionPolicy]:
        """The archiver's tables with the retentions set here."""
        return default_policies(
            self.readings_retention_days,
            self.incidents_retention_days,
            self.rollups_retention_days,
            self.crossings_retention_days,
        )


class CameraEvidence(BaseModel):
    """What the archiver needs of a camera, read leniently (the camera services validate the rest):
    its evidence retention, and its location for line crossings that come without one."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    retention_days: float = Field(CameraConfig.model_fields["retention_days"].default, gt=0)
    location: Location | None = None


class ArchiveConfig(BaseModel):
    """The parts of the configuration file the archiver reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensors: list[SensorConfig] = Field(default_factory=list)
    unknown_sensors: UnknownSensors = "auto"  # only `refuse` changes what is stored (ingest/config.py)
    cameras: list[CameraEvidence] = Field(default_factory=list)


def apply_schema(conn: psycopg.Connection) -> rollups.RollupMode:
    """Create the archiver's hypertables and history rollups (idempotent); the rollups are continuous
    aggregates where the licensed build allows, tables the archiver updates itself otherwise."""
    license_name = require_timescaledb(conn)
    with conn.transaction():
        for statement in queries.SCHEMA_STATEMENTS:
            conn.execute(statement)
        conn.execute(SNAPSHOT_INDEX)
    log.info("TimescaleDB %s license; retention is the archiver's own scheduled job", license_name)
    missing = rollups.missing_rollups(conn)
    mode = rollups.apply_rollup_schema(conn, license_name)
    if missing and mode == "tables":
        # New rollups (first start, or an upgrade) start from what the raw tables already hold.
        log.info("history rollups %s are new: building them from the raw tables", ", ".join(missing))
        rollups.rebuild_rollups(conn, only=missing)
    conn.commit()
    return mode


class Archiver(HandlerDefaults):
    """Batch handler writing readings, incidents and line crossings; idempotent on (sensor_id, ts),
    (id, ts) and (id, ts)."""

    def __init__(
        self,
        settings: Settings,
        config: ArchiveConfig,
        conn: psycopg.Connection,
        dead_letters: DeadLetterSink,
        rollup_mode: rollups.RollupMode = "tables",
        reconnect: Callable[[], psycopg.Connection] | None = None,
    ) -> None:
        self.conn = conn
        self.reconnect = reconnect
        self.settings = settings
        self.dead_letters = dead_letters
        self.readings_topic = settings.topic(TOPIC_SENSOR_READINGS)
        self.incidents_topic = settings.topic(TOPIC_INCIDENTS)
        self.crossings_topic = settings.topic(TOPIC_LINE_CROSSINGS)
        self.registry: dict[str, Location | None] = {s.id: s.location for s in config.sensors}
        self.refuse_unknown = unknown_sensor_policy(config.unknown_sensors, config.sensors) == "refuse"
        self.camera_locations: dict[str, Location | None] = {c.id: c.location for c in config.cameras}
        # Rows are buffered for up to max_batch_age_s: a few large transactions cost the database far
        # less than one per poll, and storage is not on the alert path.
        self.max_batch = settings.archive_batch_rows
        self.max_batch_age_s = settings.archive_batch_age_s
        self._readings: list[tuple[Any, ...]] = []
        self._incidents: list[tuple[Any, ...]] = []
        self._crossings: list[tuple[Any, ...]] = []
        self._batch_started_s = 0.0
        self.stored_readings = 0
        self.stored_incidents = 0
        self.stored_crossings = 0
        # Continuous aggregates follow the raw tables by themselves; rollup tables are ours to update.
        self.update_rollups = rollup_mode == "tables"
        self.merge_readings = rollups.MERGE_READINGS_WITH_ROLLUP if self.update_rollups else queries.MERGE_READINGS
        self.merge_incidents = rollups.MERGE_INCIDENTS_WITH_ROLLUP if self.update_rollups else queries.MERGE_INCIDENTS
        self.merge_crossings = rollups.MERGE_CROSSINGS_WITH_ROLLUP if self.update_rollups else queries.MERGE_CROSSINGS
        self.retention_policies = settings.retention_policies()
        self.retention_interval_s = settings.retention_interval_s
        self.evidence_days = {camera.id: camera.retention_days for camera in config.cameras}
        self.evidence_default_days = settings.evidence_retention_days
        self._next_retention_s = 0.0  # the first run comes with the first tick
        self._prepare(conn)

    @staticmethod
    def _prepare(conn: psycopg.Connection) -> None:
        """The session's staging tables (temporary: each connection needs its own)."""
        conn.execute(queries.READINGS_STAGE)
        conn.execute(queries.INCIDENTS_STAGE)
        conn.execute(queries.CROSSINGS_STAGE)
        conn.commit()

    def _ensure_connection(self) -> None:
        """Replace a connection the database dropped (a restart, a network cut): without this, every
        batch after a database outage would fail on the closed connection forever."""
        if not (self.conn.closed or self.conn.broken) or self.reconnect is None:
            return
        fresh = self.reconnect()  # DatabaseError while the database is still away: the loop backs off
        try:
            self._prepare(fresh)
        except psycopg.Error as exc:
            fresh.close()
            raise DatabaseError(f"cannot prepare the archiver's session: {exc}") from exc
        with contextlib.suppress(psycopg.Error):
            self.conn.close()
        self.conn = fresh
        log.info("database connection replaced")

    def reload(self) -> None:
        """Applies the configuration file again (``pantau reload``): sensor and camera locations and
        cameras' evidence retention. An invalid file raises :class:`ConfigError` and changes nothing."""
        source = str(self.settings.config or "<none>")
        config = parse_section(ArchiveConfig, load_config_file(self.settings.config), source)
        self.registry = {s.id: s.location for s in config.sensors}
        self.refuse_unknown = unknown_sensor_policy(config.unknown_sensors, config.sensors) == "refuse"
        self.camera_locations = {c.id: c.location for c in config.cameras}
        self.evidence_days = {camera.id: camera.retention_days for camera in config.cameras}

    def _buffered(self) -> int:
        return len(self._readings) + len(self._incidents) + len(self._crossings)

    def handle(self, records: Sequence[Any]) -> None:
        if not self._buffered():
            self._batch_started_s = time.monotonic()
        now = utcnow()
        for rec in records:
            try:
                if rec.topic == self.readings_topic:
                    reading = SensorReading.model_validate_json(rec.value)
                    ahead = ahead_of_clock(reading.ts, now, self.settings.max_clock_skew_s)
                    if ahead is not None:
                        self.dead_letters.reject_record(rec, f"sensor reading from the future: {ahead}")
                        continue
                    if self.refuse_unknown and reading.sensor_id not in self.registry:
                        self.dead_letters.reject_record(
                            rec, f"unknown sensor {reading.sensor_id!r}: not in `sensors:` (unknown_sensors: refuse)"
                        )
                        continue
                    self._readings.append(self._reading_row(reading))
                elif rec.topic == self.incidents_topic:
                    self._incidents.append(self._incident_row(Incident.model_validate_json(rec.value)))
                elif rec.topic == self.crossings_topic:
                    self._crossings.append(self._crossing_row(LineCrossing.model_validate_json(rec.value)))
            except ValidationError as exc:
                self.dead_letters.reject_record(rec, f"invalid record: {format_validation_error(exc)}")
            except (TypeError, ValueError) as exc:
                self.dead_letters.reject_record(rec, f"invalid record: {exc}")
        if self._buffered() >= self.max_batch:
            self._write()

    def _write(self) -> None:
        """One transaction for everything buffered: COPY into staging, merge on identity (adding what
        was inserted to the rollups)."""
        readings, incidents, crossings = self._readings, self._incidents, self._crossings
        # Cleared first: if the write fails, the loop seeks back and the records come again.
        self._readings, self._incidents, self._crossings = [], [], []
        if not readings and not incidents and not crossings:
            return
        try:
            self._ensure_connection()
            with self.conn.cursor() as cur:
                if self.update_rollups:
                    cur.execute(rollups.BATCH_LOCK)  # waits while a rebuild replaces rollup rows
                if readings:
                    with cur.copy(queries.COPY_READINGS) as copy:
                        for row in readings:
                            copy.write_row(row)
                    cur.execute(self.merge_readings)
                if incidents:
                    with cur.copy(queries.COPY_INCIDENTS) as copy:
                        for row in incidents:
                            copy.write_row(row)
                    cur.execute(self.merge_incidents)
                if crossings:
                    with cur.copy(queries.COPY_CROSSINGS) as copy:
                        for row in crossings:
                            copy.write_row(row)
                    cur.execute(self.merge_crossings)
            self.conn.commit()
        except (psycopg.Error, UnicodeError) as exc:
            self._rollback()
            raise storage_error(exc, "archiving a batch failed") from exc
        self.stored_readings += len(readings)
        self.stored_incidents += len(incidents)
        self.stored_crossings += len(crossings)

    def _rollback(self) -> None:
        try:
            self.conn.rollback()
        except psycopg.Error:
            log.warning("rollback failed; the connection will be replaced")

    def _reading_row(self, r: SensorReading) -> tuple[Any, ...]:
        loc = r.location or self.registry.get(r.sensor_id)
        return (
            r.ts,
            r.sensor_id,
            r.kind,
            r.value,
            r.unit,
            loc.lat if loc else None,
            loc.lon if loc else None,
            loc.district if loc else None,
        )

    @staticmethod
    def _incident_row(i: Incident) -> tuple[Any, ...]:
        loc = i.location
        return (
            i.ts,
            i.id,
            i.type,
            i.source,
            i.source_kind,
            i.rule,
            i.phase.value,
            i.severity.value,
            i.confidence,
            i.zone,
            loc.lat if loc else None,
            loc.lon if loc else None,
            loc.district if loc else None,
            i.title,
            orjson.dumps(i.evidence).decode(),
            i.detected_at,
            i.object_class,
        )

    def _crossing_row(self, c: LineCrossing) -> tuple[Any, ...]:
        if c.object_id > BIGINT_MAX:
            raise ValueError(f"object_id {c.object_id} is beyond the database's bigint ({BIGINT_MAX})")
        loc = c.location or self.camera_locations.get(c.camera)
        return (
            c.ts,
            c.id,
            c.camera,
            c.line,
            c.direction,
            c.object_class,
            c.score,
            c.object_id,
            loc.lat if loc else None,
            loc.lon if loc else None,
            loc.district if loc else None,
        )

    def make_durable(self) -> None:
        self._write()
        flush(self.dead_letters.producer, 30)

    def tick(self, now_s: float) -> None:
        if self._buffered() and now_s - self._batch_started_s >= self.max_batch_age_s:
            self._write()
        if now_s >= self._next_retention_s:
            self._next_retention_s = now_s + self.retention_interval_s
            self.run_retention()

    def run_retention(self) -> None:
        """One retention run between batches; a failure is logged and retried at the next run (or in
        five minutes, whichever is sooner), never a reason to stop archiving."""
        try:
            self._ensure_connection()
            enforce_retention(
                self.conn,
                self.retention_policies,
                evidence_days=self.evidence_days,
                evidence_default_days=self.evidence_default_days,
            )
            self.conn.commit()
        except (psycopg.Error, DatabaseError) as exc:
            self._rollback()
            log.warning("retention run failed (retried later): %s", exc)
            self._next_retention_s = min(self._next_retention_s, time.monotonic() + 300)


def build(settings: Settings) -> tuple[ConsumerLoop, Archiver]:
    config = parse_section(ArchiveConfig, load_config_file(settings.config), str(settings.config or "<none>"))
    conn = connect(settings, application_name="pantau-archiver")
    mode = apply_schema(conn)
    ensure_topics(settings, [READINGS_TOPIC, INCIDENTS_TOPIC, LINE_CROSSINGS_TOPIC, DLQ_TOPIC])
    producer = make_producer(settings, client_id="pantau-archiver")
    archiver = Archiver(
        settings,
        config,
        conn,
        DeadLetterSink(settings, producer, STAGE),
        mode,
        reconnect=lambda: connect(settings, application_name="pantau-archiver"),
    )
    consumer = make_consumer(
        settings,
        client_id="pantau-archiver",
        group_id=settings.group(settings.archive_group),
        **HIGH_VOLUME_FETCH,
        max_poll_records=5000,
    )
    loop = ConsumerLoop(
        consumer,
        archiver,
        [settings.topic(TOPIC_SENSOR_READINGS), settings.topic(TOPIC_INCIDENTS), settings.topic(TOPIC_LINE_CROSSINGS)],
        name="archiver",
        commit_interval_s=1.0,
        ready_file=settings.ready_file,
        dead_letters=archiver.dead_letters,
    )
    return loop, archiver


def main() -> None:
    settings = Settings()
    configure_logging(settings, "archiver")
    loop, archiver = build(settings)
    install_signal_handlers(loop.stop, loop.reload_requested)
    loop.serve_ops(settings)
    try:
        loop.run()
    finally:
        archiver.conn.close()


if __name__ == "__main__":
    main()
