"""The alerting service: incidents in, alerts out; the single writer of alert state.

Consumes ``pantau.incidents.v1`` (consumer group ``pantau.alerting``). For each batch, in one
database transaction: skip incidents already applied (table ``alert_incidents``), apply the rest
to the :class:`~alerting.book.AlertBook`, upsert ``alerts``, append ``alert_history`` and note each
changed alert in ``alert_outbox``. After the commit the new states go to ``pantau.alerts.v1``; an
outbox row is deleted only once Kafka acknowledged it, and left-over rows are published again at
start-up. So a crash at any point neither loses nor doubles an alert change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from kafka import KafkaProducer
from psycopg.types.json import Jsonb
from pydantic import Field, ValidationError

from alerting import queries
from alerting.book import AlertBook
from alerting.schemas import ALERTS_TOPIC, TOPIC_ALERTS, Alert
from detectors.schemas import INCIDENTS_TOPIC, TOPIC_INCIDENTS, Incident
from pantau.config import format_validation_error
from pantau.db import connect
from pantau.exceptions import DatabaseError
from pantau.kafka import DeadLetterSink, dumps, ensure_topics, make_consumer, make_producer
from pantau.settings import CommonSettings
from pantau.timeutil import utcnow
from pantau.topics import DLQ_TOPIC
from pantau.worker import ConsumerLoop, HandlerDefaults, install_signal_handlers

log = logging.getLogger(__name__)
STAGE = "alerting"
SYSTEM_ACTOR = "system"


class Settings(CommonSettings):
    """Settings of the alerting deployable."""

    alerting_group: str = Field("pantau.alerting", description="Kafka consumer group of alerting")


def apply_schema(conn: psycopg.Connection) -> None:
    with conn.transaction():
        for statement in queries.SCHEMA_STATEMENTS:
            conn.execute(statement)


class AlertingWorker(HandlerDefaults):
    """Batch handler: see the module docstring."""

    def __init__(
        self, settings: Settings, conn: psycopg.Connection, producer: KafkaProducer, dead_letters: DeadLetterSink
    ) -> None:
        self.conn = conn
        self.producer = producer
        self.dead_letters = dead_letters
        self.alerts_topic = settings.topic(TOPIC_ALERTS)
        self.book = AlertBook(clock=utcnow)
        self._unconfirmed: dict[str, int] = {}  # alert id -> newest version sent but not yet acknowledged
        self._reload()
        self._publish_outbox()

    def _reload(self) -> None:
        rows = self.conn.execute(queries.OPEN_ALERTS).fetchall()
        self.conn.commit()
        self.book.open.clear()
        self.book.load([Alert.model_validate(row[0]) for row in rows])

    def _publish_outbox(self) -> None:
        rows = self.conn.execute(queries.PENDING_OUTBOX).fetchall()
        self.conn.commit()
        for (doc,) in rows:
            self._send(Alert.model_validate(doc))
        if rows:
            log.info("republished %d alert changes left in the outbox", len(rows))
            self.make_durable()

    def handle(self, records: Sequence[Any]) -> None:
        incidents: list[Incident] = []
        for rec in records:
            try:
                incidents.append(Incident.model_validate_json(rec.value))
            except ValidationError as exc:
                self.dead_letters.reject_record(rec, f"invalid incident: {format_validation_error(exc)}")
        if not incidents:
            return
        try:
            changed = self._apply(incidents)
        except psycopg.Error as exc:
            self._rollback()
            self._reload()  # the book may hold changes the rolled-back transaction did not keep
            raise DatabaseError(f"applying incidents failed: {exc}") from exc
        for alert in sorted(changed.values(), key=lambda a: a.priority):
            self._send(alert)

    def _apply(self, incidents: list[Incident]) -> dict[str, Alert]:
        changed: dict[str, Alert] = {}
        docs: dict[str, Jsonb] = {}  # each changed alert's newest state, dumped once for history and row
        links: list[tuple[str, str | None]] = []
        history: list[tuple[object, ...]] = []
        with self.conn.cursor() as cur:
            seen = {row[0] for row in cur.execute(queries.SEEN_INCIDENTS, ([i.id for i in incidents],))}
            for incident in incidents:
                if incident.id in seen:
                    continue
                seen.add(incident.id)
                alert = self.book.apply(incident)
                links.append((incident.id, alert.id if alert else None))
                if alert is None:
                    continue
                doc = docs[alert.id] = Jsonb(alert.model_dump(mode="json"))
                history.append((alert.id, alert.version, alert.change, SYSTEM_ACTOR, alert.updated_at, doc))
                changed[alert.id] = alert
            # executemany pipelines the statements: one round trip per batch, not one per row.
            if links:
                cur.executemany(queries.LINK_INCIDENT, links)
            if history:
                cur.executemany(queries.INSERT_HISTORY, history)
            if changed:
                cur.executemany(queries.UPSERT_ALERT, [_alert_row(a, docs[a.id]) for a in changed.values()])
                cur.executemany(queries.UPSERT_OUTBOX, [(a.id, a.version) for a in changed.values()])
        self.conn.commit()
        for alert in changed.values():
            if not alert.is_open:
                self.book.open.pop((alert.source, alert.type, alert.zone or ""), None)
        return changed

    def _send(self, alert: Alert) -> None:
        self.producer.send(self.alerts_topic, key=alert.key(), value=dumps(alert))
        self._unconfirmed[alert.id] = max(alert.version, self._unconfirmed.get(alert.id, 0))

    def _rollback(self) -> None:
        try:
            self.conn.rollback()
        except psycopg.Error:
            log.warning("rollback failed")

    def make_durable(self) -> None:
        self.producer.flush(timeout=30)
        self.dead_letters.producer.flush(timeout=30)
        if not self._unconfirmed:
            return
        try:
            with self.conn.cursor() as cur:
                cur.executemany(queries.DELETE_OUTBOX, list(self._unconfirmed.items()))
            self.conn.commit()
        except psycopg.Error as exc:
            self._rollback()
            raise DatabaseError(f"clearing the alert outbox failed: {exc}") from exc
        self._unconfirmed.clear()


def _alert_row(alert: Alert, doc: Jsonb) -> dict[str, Any]:
    return {
        "id": alert.id,
        "source": alert.source,
        "type": alert.type,
        "zone": alert.zone or "",
        "status": alert.status.value,
        "priority": alert.priority,
        "district": alert.location.district if alert.location else None,
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "count": alert.count,
        "version": alert.version,
        "updated_at": alert.updated_at,
        "doc": doc,
    }


def build(settings: Settings) -> tuple[ConsumerLoop, psycopg.Connection]:
    ensure_topics(settings, [INCIDENTS_TOPIC, ALERTS_TOPIC, DLQ_TOPIC])
    conn = connect(settings, application_name="pantau-alerting")
    apply_schema(conn)
    producer = make_producer(settings, client_id="pantau-alerting", linger_ms=0)
    worker = AlertingWorker(settings, conn, producer, DeadLetterSink(settings, producer, STAGE))
    consumer = make_consumer(settings, client_id="pantau-alerting", group_id=settings.group(settings.alerting_group))
    loop = ConsumerLoop(
        consumer,
        worker,
        [settings.topic(TOPIC_INCIDENTS)],
        name="alerting",
        commit_interval_s=1.0,
        ready_file=settings.ready_file,
    )
    return loop, conn


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s alerting %(message)s")
    loop, conn = build(settings)
    install_signal_handlers(loop.stop)
    try:
        loop.run()
    finally:
        conn.close()
