"""The single writer of alert state: incidents (from Kafka) and commands (from HTTP) meet here.

Both paths take one lock and change alerts in one database transaction each: the alert row, an
append-only audit row per change (who, when, why) and an outbox row, so what is committed is
exactly what gets published to ``pantau.alerts.v1``. Commands name the alert ``version`` their
author saw; a stale one is refused, so two operators acting at once cannot overwrite each other.
The book (open and recently resolved alerts) mirrors the table and is reloaded after a failed
transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from kafka import KafkaProducer
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from alerting import queries
from alerting.book import AlertBook
from alerting.lifecycle import Action, AlertNotFound, apply_command
from alerting.schemas import Alert
from detectors.schemas import Incident
from pantau.exceptions import DatabaseError, KafkaError
from pantau.kafka import dumps

log = logging.getLogger(__name__)
SYSTEM_ACTOR = "system"


class AlertEngine:
    """Applies incidents and commands; see the module docstring."""

    def __init__(
        self,
        conn: psycopg.Connection,
        book: AlertBook,
        producer: KafkaProducer,
        alerts_topic: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.conn = conn
        self.book = book
        self.producer = producer
        self.alerts_topic = alerts_topic
        self.clock = clock
        self.lock = threading.RLock()
        self._unconfirmed: dict[str, int] = {}  # alert id -> newest version sent, not yet confirmed

    # -- start-up ----------------------------------------------------------------------------------
    def apply_schema(self) -> None:
        with self.lock, self.conn.transaction():
            for statement in queries.SCHEMA_STATEMENTS:
                self.conn.execute(statement)

    def reload(self) -> None:
        with self.lock:
            rows = self.conn.execute(queries.OPEN_ALERTS).fetchall()
            rows += self.conn.execute(queries.RECENTLY_RESOLVED, (self.book.config.reopen_window_s,)).fetchall()
            self.conn.commit()
            self.book.open.clear()
            self.book.resolved.clear()
            self.book.load([Alert.model_validate(row[0]) for row in rows])

    def publish_outbox(self) -> int:
        """Publish changes committed but not confirmed by Kafka before a crash."""
        with self.lock:
            rows = self.conn.execute(queries.PENDING_OUTBOX).fetchall()
            self.conn.commit()
            for (doc,) in rows:
                self._send(Alert.model_validate(doc))
        if rows:
            log.info("republished %d alert changes left in the outbox", len(rows))
            self.make_durable()
        return len(rows)

    # -- incidents ---------------------------------------------------------------------------------
    def apply_incidents(self, incidents: Sequence[Incident]) -> list[Alert]:
        """Apply a batch in one transaction; replayed incidents are skipped. Returns the changed alerts."""
        with self.lock:
            try:
                changed = self._apply(incidents)
            except psycopg.Error as exc:
                self._rollback()
                self.reload()  # the book may hold changes the rolled-back transaction did not keep
                raise DatabaseError(f"applying incidents failed: {exc}") from exc
            for alert in sorted(changed, key=lambda a: a.priority):
                self._send(alert)
            return changed

    def _apply(self, incidents: Sequence[Incident]) -> list[Alert]:
        changes: list[Alert] = []
        links: list[tuple[str, str | None]] = []
        with self.conn.cursor() as cur:
            seen = {row[0] for row in cur.execute(queries.SEEN_INCIDENTS, ([i.id for i in incidents],))}
            for incident in incidents:
                if incident.id in seen:
                    continue
                seen.add(incident.id)
                altered = self.book.apply(incident)
                links.append((incident.id, altered[0].id if altered else None))
                changes.extend(altered)
            if links:
                cur.executemany(queries.LINK_INCIDENT, links)
            self._write(cur, [(alert, SYSTEM_ACTOR, {"action": alert.change}) for alert in changes])
        self.conn.commit()
        newest: dict[str, Alert] = {}
        for alert in changes:
            newest[alert.id] = alert
        for alert in newest.values():
            if not alert.is_open:
                self.book.put(alert)
        return list(newest.values())

    def _write(self, cur: psycopg.Cursor[Any], changes: list[tuple[Alert, str, dict[str, Any]]]) -> None:
        """Audit rows for every change; the alert row and outbox row for each alert's newest state."""
        if not changes:
            return
        docs = {}
        history = []
        for alert, actor, detail in changes:
            doc = docs[alert.id] = Jsonb(alert.model_dump(mode="json"))
            history.append((alert.id, alert.version, alert.change, actor, alert.updated_at, doc, Jsonb(detail)))
        newest: dict[str, Alert] = {}
        for alert, _actor, _detail in changes:
            newest[alert.id] = alert
        # executemany pipelines the statements: one round trip per batch, not one per row.
        cur.executemany(queries.INSERT_HISTORY, history)
        cur.executemany(queries.UPSERT_ALERT, [_alert_row(a, docs[a.id]) for a in newest.values()])
        cur.executemany(queries.UPSERT_OUTBOX, [(a.id, a.version) for a in newest.values()])

    # -- commands ----------------------------------------------------------------------------------
    def command(
        self, alert_id: str, action: Action, body: BaseModel, actor: str, *, responder_only: bool = False
    ) -> Alert:
        """Apply an operator's or responder's command and publish the result before returning it."""
        with self.lock:
            try:
                with self.conn.cursor() as cur:
                    row = cur.execute(queries.ALERT_FOR_UPDATE, (alert_id,)).fetchone()
                    if row is None:
                        raise AlertNotFound(f"no alert {alert_id!r}")
                    current = Alert.model_validate(row[0])
                    updated, detail = apply_command(
                        current, action, body, actor, self.clock(), responder_only=responder_only
                    )
                    self._write(cur, [(updated, actor, detail)])
                self.conn.commit()
            except psycopg.Error as exc:
                self._rollback()
                raise DatabaseError(f"applying {action} to alert {alert_id} failed: {exc}") from exc
            except BaseException:
                self._rollback()
                raise
            self.book.put(updated)
            self._send(updated)
            self.make_durable()
            return updated

    # -- reads -------------------------------------------------------------------------------------
    def alert(self, alert_id: str) -> Alert:
        with self.lock:
            row = self.conn.execute(queries.ALERT_DOC, (alert_id,)).fetchone()
            self.conn.commit()
        if row is None:
            raise AlertNotFound(f"no alert {alert_id!r}")
        return Alert.model_validate(row[0])

    def audit(self, alert_id: str) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.conn.execute(queries.AUDIT_OF_ALERT, (alert_id,)).fetchall()
            self.conn.commit()
        return [
            {"version": version, "change": change, "actor": actor, "at": at, "detail": detail}
            for version, change, actor, at, detail in rows
        ]

    # -- publishing --------------------------------------------------------------------------------
    def _send(self, alert: Alert) -> None:
        self.producer.send(self.alerts_topic, key=alert.key(), value=dumps(alert))
        self._unconfirmed[alert.id] = max(alert.version, self._unconfirmed.get(alert.id, 0))

    def make_durable(self) -> None:
        """Wait for Kafka to confirm what was sent, then drop those versions from the outbox."""
        with self.lock:
            try:
                self.producer.flush(timeout=30)
            except Exception as exc:  # kafka-python raises several unrelated types here
                raise KafkaError(f"publishing alert changes failed: {exc}") from exc
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

    def _rollback(self) -> None:
        try:
            self.conn.rollback()
        except psycopg.Error:
            log.warning("rollback failed")


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
