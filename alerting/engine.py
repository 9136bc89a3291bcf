"""The single writer of alert state: incidents (from Kafka) and commands (from HTTP) meet here.

Both paths take one lock and change alerts in one database transaction each: the alert row, an
append-only audit row per change (who, when, why) and an outbox row, so what is committed is
exactly what gets published to ``pantau.alerts.v1``. Commands name the alert ``version`` their
author saw; a stale one is refused, so two operators acting at once cannot overwrite each other.
The book (open and recently resolved alerts) mirrors the table and is reloaded after a failed
transaction.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from alerting import queries
from alerting.book import AlertBook
from alerting.config import AlertingConfig
from alerting.dispatch import Delivery, Dispatcher
from alerting.exceptions import SubscriptionTaken
from alerting.lifecycle import Action, AlertNotFound, NoteBody, apply_command, decode_jpeg_b64
from alerting.manual import ManualAlertBody, manual_incident, manual_photo
from alerting.notify import NewDelivery, Notifier, Outcome, RoutingState
from alerting.routing import RoutingError, recipients
from alerting.schemas import Alert, AlertStatus
from alerting.silences import Silence, SilenceCreate
from detectors.schemas import Incident
from pantau.db import storage_error
from pantau.exceptions import DatabaseError, KafkaError
from pantau.kafka import dumps
from pantau.metrics import ALERT_CHANGES

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from alerting.channels.registry import Channel

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS_PER_USER = 10  # browsers per user: a new one beyond replaces the oldest
SYSTEM_ACTOR = "system"
# Changes after which an alert's escalation chain may have stopped (or started again).
_CHAIN_STOPPERS = frozenset({"acknowledged", "assigned", "suppressed", "unsuppressed", "resolved", "closed"})


class AlertEngine:
    """Applies incidents and commands; see the module docstring."""

    def __init__(
        self,
        conn: psycopg.Connection,
        book: AlertBook,
        producer: KafkaProducer,
        alerts_topic: str,
        clock: Callable[[], datetime],
        notifier: Notifier | None = None,
        dispatcher: Dispatcher | None = None,
        incidents_topic: str | None = None,
        reconnect: Callable[[], psycopg.Connection] | None = None,
    ) -> None:
        self.conn = conn
        self.book = book
        self.producer = producer
        self.alerts_topic = alerts_topic
        self.clock = clock
        self.notifier = notifier
        self.dispatcher = dispatcher
        self.incidents_topic = incidents_topic
        self.lock = threading.RLock()
        self.reconnect = reconnect
        self._stale = False  # the book must be loaded again from the database before its next use
        self._unconfirmed: dict[str, int] = {}  # alert id -> newest version sent, not yet confirmed
        self._sent: list[tuple[str, FutureRecordMetadata]] = []  # (alert id, send) since the last make_durable
        self._to_submit: list[Delivery] = []  # deliveries written in the open transaction

    # -- configuration -----------------------------------------------------------------------------
    def reconfigure(
        self,
        config: AlertingConfig,
        tz: ZoneInfo,
        sensor_criticality: Mapping[str, str],
        notifier: Notifier | None,
        channels: Mapping[str, Channel] | None = None,
    ) -> None:
        """Apply a new configuration (``pantau reload``) between two batches: priorities, windows,
        correlations, routing, escalation, SOPs and channels change; open alerts, silences and
        pending deliveries stay."""
        with self.lock:
            self.book.config = config
            self.book.tz = tz
            self.book.sensor_criticality = dict(sensor_criticality)
            self.notifier = notifier
            if channels is not None and self.dispatcher is not None:
                self.dispatcher.set_channels(channels)

    def _ensure_connection(self) -> None:
        """Replace a connection the database dropped (a restart, a network cut) and reload the book
        after a failed transaction; :class:`DatabaseError` while the database is still away."""
        if self.conn.closed or self.conn.broken:
            if self.reconnect is None:
                raise DatabaseError("the database connection was lost")
            fresh = self.reconnect()
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = fresh
            self._stale = True
            log.info("database connection replaced")
        if self._stale:
            try:
                self._load_book()
            except psycopg.Error as exc:
                self._rollback()
                raise DatabaseError(f"reloading the open alerts failed: {exc}") from exc
            self._stale = False

    # -- start-up ----------------------------------------------------------------------------------
    def apply_schema(self) -> None:
        with self.lock, self.conn.transaction():
            for statement in queries.SCHEMA_STATEMENTS:
                self.conn.execute(statement)

    def reload(self) -> None:
        """Load the open and recently resolved alerts and the silences from the database."""
        with self.lock:
            self._load_book()

    def _load_book(self) -> None:
        with self.lock:
            rows = self.conn.execute(queries.OPEN_ALERTS).fetchall()
            rows += self.conn.execute(queries.RECENTLY_RESOLVED, (self.book.config.reopen_window_s,)).fetchall()
            self.conn.commit()
            silences = self.conn.execute(queries.LIVE_SILENCES).fetchall()
            self.conn.commit()
            self.book.open.clear()
            self.book.resolved.clear()
            self.book.load([Alert.model_validate(row[0]) for row in rows])
            self.book.silences = {s.id: s for s in (Silence.model_validate(row[0]) for row in silences)}

    def publish_outbox(self) -> int:
        """Publish changes committed but not confirmed by Kafka before a crash."""
        with self.lock:
            self._ensure_connection()
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
            self._ensure_connection()
            try:
                changed = self._apply(incidents)
            except (psycopg.Error, UnicodeError) as exc:
                self._rollback()
                # The book may hold changes the rolled-back transaction did not keep: it is loaded
                # again from the database before the next use (the connection may be gone now).
                self._stale = True
                raise storage_error(exc, "applying incidents failed") from exc
            for alert in sorted(changed, key=lambda a: a.priority):
                self._send(alert)
            return changed

    def _apply(self, incidents: Sequence[Incident]) -> list[Alert]:
        changes: list[Alert] = []
        links: list[tuple[str, str | None]] = []
        applied: list[tuple[Incident, Alert | None]] = []
        with self.conn.cursor() as cur:
            seen = {row[0] for row in cur.execute(queries.SEEN_INCIDENTS, ([i.id for i in incidents],))}
            for incident in incidents:
                if incident.id in seen:
                    continue
                seen.add(incident.id)
                altered = self.book.apply(incident)
                links.append((incident.id, altered[0].id if altered else None))
                applied.append((incident, altered[0] if altered else None))
                changes.extend(altered)
            if links:
                cur.executemany(queries.LINK_INCIDENT, links)
            if changes and (self.book.silences or self.book.config.inhibit_rules):
                changes.extend(self.book.resuppress())  # an inhibiting alert may have opened or closed
            self._write(cur, [(alert, SYSTEM_ACTOR, _system_detail(alert)) for alert in changes])
        self._commit()
        # Logged once committed, so a line never names a change a rollback undid.
        for incident, alert in applied:
            _log_applied(incident, alert)
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
        if self.notifier is not None:
            self._notify(cur, [alert for alert, _actor, _detail in changes])

    # -- notifications -----------------------------------------------------------------------------
    def _notify(self, cur: psycopg.Cursor[Any], alerts: list[Alert]) -> None:
        """Write the deliveries these changes cause (in the open transaction)."""
        assert self.notifier is not None
        ids = sorted({a.id for a in alerts})
        states = {row[0]: RoutingState(*row) for row in cur.execute(queries.ROUTING_STATES, (ids,)).fetchall()}
        subscriptions = self._subscriptions(cur)
        now = self.clock()
        for alert in alerts:
            notified: list[tuple[str, str, dict[str, Any] | None]] = []
            if alert.change in ("resolved", "closed"):
                notified = [(c, r, t) for c, r, t in cur.execute(queries.NOTIFIED_RECIPIENTS, (alert.id,)).fetchall()]
            outcome = self.notifier.on_change(alert, states.get(alert.id), subscriptions, notified, now)
            self._record_outcome(cur, alert, outcome, states, now)

    def _record_outcome(
        self,
        cur: psycopg.Cursor[Any],
        alert: Alert,
        outcome: Outcome,
        states: dict[str, RoutingState],
        now: datetime,
        *,
        reschedule: bool = False,
    ) -> None:
        """Write the outcome's deliveries and routing state (with when its chain next has work)."""
        assert self.notifier is not None
        alert_id = alert.id
        if outcome.deliveries:
            cur.executemany(queries.INSERT_DELIVERY, [_delivery_row(d) for d in outcome.deliveries])
            self._to_submit.extend(
                Delivery(
                    d.id,
                    d.alert_id,
                    d.kind,
                    d.channel,
                    d.recipient,
                    d.target,
                    d.priority,
                    0,
                    d.notification.model_dump(mode="json"),
                )
                for d in outcome.deliveries
            )
        if outcome.drop_state:
            cur.execute(queries.DELETE_ROUTING, (alert_id,))
            states.pop(alert_id, None)
        elif outcome.state is not None and (outcome.state != states.get(alert_id) or reschedule):
            state = outcome.state
            next_due = self.notifier.next_due(alert, state, now)
            cur.execute(
                queries.UPSERT_ROUTING,
                (
                    state.alert_id,
                    state.route,
                    state.level,
                    state.notified_at,
                    state.last_reminder_at,
                    state.priority,
                    next_due,
                ),
            )
            states[alert_id] = state
        elif outcome.state is not None and alert.change in _CHAIN_STOPPERS:
            # Acknowledged, assigned, suppressed...: the chain stops; the timer need not look at it.
            cur.execute(queries.SET_NEXT_DUE, (self.notifier.next_due(alert, outcome.state, now), alert_id))

    def _subscriptions(self, cur: psycopg.Cursor[Any]) -> dict[str, list[dict[str, Any]]]:
        assert self.notifier is not None
        if "webpush" not in self.notifier.channel_types.values():
            return {}
        out: dict[str, list[dict[str, Any]]] = {}
        for user, endpoint, p256dh, auth in cur.execute(queries.SUBSCRIPTIONS).fetchall():
            out.setdefault(user, []).append({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
        return out

    def _escalate(self) -> None:
        """Timers of the escalation chains: releases after quiet hours, escalations, reminders."""
        if self.notifier is None:
            return
        now = self.clock()
        escalated: list[Alert] = []
        try:
            with self.conn.cursor() as cur:
                rows = cur.execute(queries.DUE_ROUTING_STATES, (now,)).fetchall()
                if not rows:
                    self.conn.commit()
                    return
                subscriptions = self._subscriptions(cur)
                for row in rows:
                    state = RoutingState(*row)
                    alert = self.book.find(state.alert_id)
                    states = {state.alert_id: state}
                    if alert is None or not alert.is_open:
                        cur.execute(queries.DELETE_ROUTING, (state.alert_id,))
                        continue
                    outcome = self.notifier.on_tick(alert, state, subscriptions, now)
                    if outcome.escalated_to is not None:
                        alert = alert.model_copy(
                            update={
                                "escalation_level": outcome.escalated_to,
                                "version": alert.version + 1,
                                "change": "escalated",
                                "updated_at": now,
                            }
                        )
                        self.book.put(alert)
                        escalated.append(alert)
                    self._record_outcome(cur, alert, outcome, states, now, reschedule=True)
                if escalated:
                    self._write(
                        cur, [(a, SYSTEM_ACTOR, {"action": "escalated", "tier": a.escalation_level}) for a in escalated]
                    )
            self._commit()
        except psycopg.Error as exc:
            self._rollback()
            self._stale = True  # reloaded from the database before the next use
            raise DatabaseError(f"escalation timers failed: {exc}") from exc
        self._publish(escalated)

    def _commit(self) -> None:
        self.conn.commit()
        deliveries, self._to_submit = self._to_submit, []
        if deliveries and self.dispatcher is not None:
            self.dispatcher.submit(deliveries)

    # -- commands ----------------------------------------------------------------------------------
    def raise_manual(self, body: ManualAlertBody, actor: str) -> Alert:
        """An alert raised by hand. Its incident goes to the incidents topic first (so it is archived
        and, should this process die now, applied by the consumer later), then straight to the book."""
        # The same checks as a scene photo's; stored apart, as a note's photo is (up to 5 MB does not
        # fit in a Kafka record, and the incident is on the topic before it is in the database).
        photo = manual_photo(body)
        photo_id = str(uuid.uuid4()) if photo is not None else None
        incident = manual_incident(body, actor, self.clock(), self.book.config.manual_types, photo_id)
        if self.incidents_topic is None:
            raise KafkaError("this engine has no incidents topic to record manual reports in")
        if photo is not None and photo_id is not None:
            self._store_photo(photo_id, incident.id, actor, photo)
        try:
            self.producer.send(self.incidents_topic, key=incident.key(), value=dumps(incident)).get(timeout=30)
        except Exception as exc:  # kafka-python raises several unrelated types here
            raise KafkaError(f"recording the manual report failed: {exc}") from exc
        changed = self.apply_incidents([incident])
        self.make_durable()
        alert = next((a for a in changed if a.last_incident_id == incident.id), None)
        alert = alert or self.alert_of_incident(incident.id)
        if photo_id is not None:
            self._photo_belongs_to(photo_id, alert.id)
        return alert

    def _store_photo(self, photo_id: str, incident_id: str, actor: str, photo: bytes) -> None:
        """A caller's photo, kept under its incident until the alert it opened is known."""
        with self.lock:
            self._ensure_connection()
            try:
                with self.conn.transaction():
                    self.conn.execute(queries.INSERT_PHOTO, (photo_id, incident_id, actor, self.clock(), photo))
            except psycopg.Error as exc:
                raise storage_error(exc, "storing the report's photo failed") from exc

    def _photo_belongs_to(self, photo_id: str, alert_id: str) -> None:
        with self.lock:
            try:
                with self.conn.transaction():
                    self.conn.execute(queries.PHOTO_OF_ALERT, (alert_id, photo_id))
            except psycopg.Error as exc:
                raise DatabaseError(f"linking the report's photo to alert {alert_id} failed: {exc}") from exc

    def alert_of_incident(self, incident_id: str) -> Alert:
        with self.lock:
            self._ensure_connection()
            row = self.conn.execute(queries.ALERT_OF_INCIDENT, (incident_id,)).fetchone()
            self.conn.commit()
        if row is None:
            raise AlertNotFound(f"no alert for incident {incident_id!r}")
        return Alert.model_validate(row[0])

    def command(
        self,
        alert_id: str,
        action: Action,
        body: BaseModel,
        actor: str,
        *,
        responder_only: bool = False,
        supervisor: bool = False,
        groups: Collection[str] = (),
    ) -> Alert:
        """Apply an operator's or responder's command and publish the result before returning it.

        ``groups``: a responder's groups (an alert assigned or routed to one of them is theirs too).
        A note's photo is stored in ``alert_photos`` in the same transaction as the note's audit row,
        whose detail names it (``photo_id``)."""
        photo = decode_jpeg_b64(body.photo_jpeg_b64) if isinstance(body, NoteBody) and body.photo_jpeg_b64 else None
        with self.lock:
            self._ensure_connection()
            try:
                with self.conn.cursor() as cur:
                    row = cur.execute(queries.ALERT_FOR_UPDATE, (alert_id,)).fetchone()
                    if row is None:
                        raise AlertNotFound(f"no alert {alert_id!r}")
                    current = Alert.model_validate(row[0])
                    now = self.clock()
                    body = self._past_notes(cur, current, body)
                    sent = (
                        responder_only
                        and action in ("ack", "report", "note")
                        and self._sent_to(cur, current, actor, groups)
                    )
                    updated, detail = apply_command(
                        current,
                        action,
                        body,
                        actor,
                        now,
                        responder_only=responder_only,
                        sop=self.book.config.sop.get(current.type, ()),
                        supervisor=supervisor,
                        groups=groups,
                        sent=sent,
                    )
                    if photo is not None:
                        detail["photo_id"] = photo_id = str(uuid.uuid4())
                        cur.execute(queries.INSERT_PHOTO, (photo_id, alert_id, actor, now, photo))
                    self._write(cur, [(updated, actor, detail)])
                self._commit()
            except psycopg.Error as exc:
                self._rollback()
                raise DatabaseError(f"applying {action} to alert {alert_id} failed: {exc}") from exc
            except BaseException:
                self._rollback()
                raise
            self.book.put(updated)
            follow = self._resuppress_after(actor, {"action": "resuppress", "after": action})
            self._send(updated)
            for alert in follow:
                self._send(alert)
            self.make_durable()
            return updated

    @staticmethod
    def _past_notes(cur: psycopg.Cursor[Any], alert: Alert, body: BaseModel) -> BaseModel:
        """``body`` as of the alert's current version when every change since the version it names
        is a note: a note changes nothing a command decides on, and a responder's notes from the
        scene must not turn every operator's next command into a 409."""
        version = getattr(body, "version", None)
        if version is None or not 0 < version < alert.version:
            return body
        row = cur.execute(queries.ONLY_NOTES_SINCE, (alert.id, version)).fetchone()
        return body.model_copy(update={"version": alert.version}) if row is not None and row[0] else body

    def _sent_to(self, cur: psycopg.Cursor[Any], alert: Alert, actor: str, groups: Collection[str]) -> bool:
        """Whether the alert was pushed to ``actor``, or its route notified a tier they are in (a group
        of theirs), so far."""
        if cur.execute(queries.SENT_TO, (alert.id, [actor, *groups])).fetchone() == (True,):
            return True
        row = cur.execute(queries.ROUTING_STATES, ([alert.id],)).fetchone()
        routing = self.book.config.routing
        if row is None or not 0 <= row[1] < len(routing.routes):
            return False
        route = routing.routes[row[1]]
        mine = set(groups)
        try:
            for tier in range(min(row[2], len(route.tiers) - 1) + 1):
                if not mine.isdisjoint(route.tiers[tier].groups) or any(
                    person.id == actor for person in recipients(route, tier, routing)
                ):
                    return True
        except RoutingError:
            return False
        return False

    def _resuppress_after(self, actor: str, detail: dict[str, Any]) -> list[Alert]:
        """Alerts whose suppression changed (a silence or an inhibiting alert came or went), committed."""
        if not (self.book.silences or self.book.config.inhibit_rules):
            return []
        changed = self.book.resuppress()
        if changed:
            try:
                with self.conn.cursor() as cur:
                    self._write(
                        cur, [(alert, actor, {**detail, "suppressed_by": alert.suppressed_by}) for alert in changed]
                    )
                self.conn.commit()
            except psycopg.Error as exc:
                self._rollback()
                self._stale = True  # reloaded from the database before the next use
                raise DatabaseError(f"updating suppression failed: {exc}") from exc
        return changed

    # -- silences ----------------------------------------------------------------------------------
    def create_silence(self, request: SilenceCreate, author: str) -> Silence:
        """Store a silence and suppress the open alerts it matches, in one go."""
        with self.lock:
            self._ensure_connection()
            silence = request.to_silence(str(uuid.uuid4()), author, self.clock())
            try:
                self.conn.execute(queries.INSERT_SILENCE, _silence_row(silence))
                self.conn.commit()
            except psycopg.Error as exc:
                self._rollback()
                raise DatabaseError(f"storing the silence failed: {exc}") from exc
            self.book.silences[silence.id] = silence
            self._publish(self._resuppress_after(author, {"action": "silence", "silence": silence.id}))
            return silence

    def end_silence(self, silence_id: str, actor: str) -> Silence:
        """End a silence now; the alerts it held back are pushed if still open."""
        with self.lock:
            self._ensure_connection()
            try:
                row = self.conn.execute(queries.SILENCE_DOC, (silence_id,)).fetchone()
                if row is None:
                    self.conn.rollback()
                    raise AlertNotFound(f"no silence {silence_id!r}")
                silence = Silence.model_validate(row[0])
                if silence.ended_at is None:
                    silence = silence.end(self.clock())
                    self.conn.execute(queries.INSERT_SILENCE, _silence_row(silence))
                self.conn.commit()
            except psycopg.Error as exc:
                self._rollback()
                raise DatabaseError(f"ending the silence failed: {exc}") from exc
            self.book.silences.pop(silence_id, None)
            self._publish(self._resuppress_after(actor, {"action": "end_silence", "silence": silence_id}))
            return silence

    def silences(self, include_ended_s: float = 0.0) -> list[Silence]:
        """Silences not over yet, and those over within the last ``include_ended_s`` seconds."""
        with self.lock:
            self._ensure_connection()
            rows = self.conn.execute(queries.ALL_SILENCES, (include_ended_s,)).fetchall()
            self.conn.commit()
        return [Silence.model_validate(row[0]) for row in rows]

    def tick(self) -> None:
        """Timers: silences that started or expired; escalation chains."""
        with self.lock:
            self._ensure_connection()
            self._publish(self._resuppress_after(SYSTEM_ACTOR, {"action": "silence_timer"}))
            self._escalate()

    # -- push subscriptions and the delivery log ---------------------------------------------------
    def subscribe(self, user: str, endpoint: str, p256dh: str, auth: str) -> None:
        """Store a browser's subscription for ``user``; an endpoint another user subscribed is refused
        (:class:`SubscriptionTaken`: it would take their pushes), and a user keeps at most
        ``MAX_SUBSCRIPTIONS_PER_USER`` browsers (a new one replaces the oldest)."""
        with self.lock:
            self._ensure_connection()
            try:
                with self.conn.transaction():
                    taken = self.conn.execute(queries.UPSERT_SUBSCRIPTION, (endpoint, user, p256dh, auth)).rowcount == 0
                    if not taken:
                        self.conn.execute(queries.TRIM_SUBSCRIPTIONS, (user, user, MAX_SUBSCRIPTIONS_PER_USER))
            except psycopg.Error as exc:
                self._rollback()
                raise DatabaseError(f"storing the push subscription failed: {exc}") from exc
        if taken:
            raise SubscriptionTaken("this browser's subscription belongs to another user: unsubscribe it there first")

    def unsubscribe(self, endpoint: str, user: str | None = None) -> bool:
        """Forget a browser (``user``: only if it is theirs; None: whoever's, e.g. the push service said gone)."""
        with self.lock:
            self._ensure_connection()
            try:
                if user is None:
                    cur = self.conn.execute(queries.DELETE_SUBSCRIPTION, (endpoint,))
                else:
                    cur = self.conn.execute(queries.DELETE_USER_SUBSCRIPTION, (endpoint, user))
                self.conn.commit()
            except psycopg.Error as exc:
                self._rollback()
                raise DatabaseError(f"deleting the push subscription failed: {exc}") from exc
            return cur.rowcount > 0

    def deliveries(self, alert_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The alert's deliveries and every attempt of each."""
        with self.lock:
            self._ensure_connection()
            deliveries = self.conn.execute(queries.DELIVERIES_OF_ALERT, (alert_id,)).fetchall()
            attempts = self.conn.execute(queries.ATTEMPTS_OF_ALERT, (alert_id,)).fetchall()
            self.conn.commit()
        return deliveries, attempts

    def _publish(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._send(alert)
        if alerts:
            self.make_durable()

    # -- reads -------------------------------------------------------------------------------------
    def alert(self, alert_id: str) -> Alert:
        with self.lock:
            self._ensure_connection()
            row = self.conn.execute(queries.ALERT_DOC, (alert_id,)).fetchone()
            self.conn.commit()
        if row is None:
            raise AlertNotFound(f"no alert {alert_id!r}")
        return Alert.model_validate(row[0])

    def audit(self, alert_id: str) -> list[dict[str, Any]]:
        with self.lock:
            self._ensure_connection()
            rows = self.conn.execute(queries.AUDIT_OF_ALERT, (alert_id,)).fetchall()
            self.conn.commit()
        return [
            {"version": version, "change": change, "actor": actor, "at": at, "detail": detail}
            for version, change, actor, at, detail in rows
        ]

    # -- publishing --------------------------------------------------------------------------------
    def _send(self, alert: Alert) -> None:
        future = self.producer.send(self.alerts_topic, key=alert.key(), value=dumps(alert))
        self._sent.append((alert.id, future))
        ALERT_CHANGES.labels(alert.change, str(alert.priority)).inc()
        self._unconfirmed[alert.id] = max(alert.version, self._unconfirmed.get(alert.id, 0))

    def make_durable(self) -> None:
        """Wait for Kafka to confirm what was sent, then drop those versions from the outbox and note
        how far the topic goes (all in one transaction).

        A change Kafka refused in the end (its delivery timed out during a long broker outage) keeps
        its outbox row: the alert's current state is sent again and :class:`KafkaError` makes the
        caller back off and come back here.
        """
        with self.lock:
            self._ensure_connection()
            try:
                self.producer.flush(timeout=30)
            except Exception as exc:  # kafka-python raises several unrelated types here
                raise KafkaError(f"publishing alert changes failed: {exc}") from exc
            failed = sorted({alert_id for alert_id, future in self._sent if future.failed()})
            if failed:
                self._resend(failed)
                raise KafkaError(f"Kafka did not take {len(failed)} alert changes; sent again")
            offsets = [future.value.offset for _alert_id, future in self._sent if future.succeeded()]
            self._sent.clear()
            if not self._unconfirmed:
                return
            try:
                with self.conn.cursor() as cur:
                    cur.executemany(queries.DELETE_OUTBOX, list(self._unconfirmed.items()))
                    if offsets:
                        cur.execute(
                            queries.SAVE_TOPIC_POSITION, {"topic": self.alerts_topic, "next_offset": max(offsets) + 1}
                        )
                self.conn.commit()
            except psycopg.Error as exc:
                self._rollback()
                raise DatabaseError(f"clearing the alert outbox failed: {exc}") from exc
            self._unconfirmed.clear()

    def _resend(self, alert_ids: list[str]) -> None:
        """Sends the current state of these alerts again (after Kafka refused a change of each)."""
        self._sent = [(alert_id, future) for alert_id, future in self._sent if not future.failed()]
        try:
            rows = [self.conn.execute(queries.ALERT_DOC, (alert_id,)).fetchone() for alert_id in alert_ids]
            self.conn.commit()
        except psycopg.Error as exc:
            self._rollback()
            raise DatabaseError(f"reading alerts to send again failed: {exc}") from exc
        for row in rows:
            if row is not None:
                self._send(Alert.model_validate(row[0]))

    # -- after a restore ---------------------------------------------------------------------------
    def topic_position(self) -> int | None:
        """The offset after the newest alert change Kafka confirmed, as the database remembers it."""
        with self.lock:
            self._ensure_connection()
            row = self.conn.execute(queries.TOPIC_POSITION, {"topic": self.alerts_topic}).fetchone()
            self.conn.commit()
        return int(row[0]) if row is not None else None

    def save_topic_position(self, next_offset: int) -> None:
        with self.lock:
            self._ensure_connection()
            self.conn.execute(queries.SAVE_TOPIC_POSITION, {"topic": self.alerts_topic, "next_offset": next_offset})
            self.conn.commit()

    def reconcile(self, on_topic: Mapping[str, Alert], now: datetime) -> tuple[int, int]:
        """Brings the topic back in line with the database after a restore, given the newest change
        of each alert the topic holds beyond what the database knows.

        An alert the topic has at a newer version than the database gets the database's state again,
        at a version above the topic's (change ``restored``), so every console takes it. An alert
        the database does not have at all (raised after the backup) is closed, so it leaves the
        boards; both are written to the audit. Returns (set again, closed). Call before :meth:`reload`.
        """
        changes: list[tuple[Alert, str, dict[str, Any]]] = []
        closed_count = 0
        with self.lock:
            self._ensure_connection()
            try:
                with self.conn.cursor() as cur:
                    for alert_id, seen in on_topic.items():
                        row = cur.execute(queries.ALERT_FOR_UPDATE, (alert_id,)).fetchone()
                        if row is None:
                            closed = seen.model_copy(
                                update={
                                    "status": AlertStatus.closed,
                                    "closed_at": now,
                                    "version": seen.version + 1,
                                    "change": "restored",
                                    "updated_at": now,
                                }
                            )
                            detail = {"reason": "not in the restored database", "topic_version": seen.version}
                            changes.append((closed, "system", detail))
                            closed_count += 1
                            continue
                        stored = Alert.model_validate(row[0])
                        if seen.version > stored.version:
                            again = stored.model_copy(
                                update={"version": seen.version + 1, "change": "restored", "updated_at": now}
                            )
                            detail = {
                                "reason": "the topic was ahead of the restored database",
                                "topic_version": seen.version,
                                "database_version": stored.version,
                            }
                            changes.append((again, "system", detail))
                    self._write(cur, changes)
                self.conn.commit()
            except psycopg.Error as exc:
                self._rollback()
                raise DatabaseError(f"reconciling alerts with the topic failed: {exc}") from exc
        return len(changes) - closed_count, closed_count

    def _rollback(self) -> None:
        self._to_submit = []
        try:
            self.conn.rollback()
        except psycopg.Error:
            log.warning("rollback failed")


def _log_applied(incident: Incident, alert: Alert | None) -> None:
    """One line per incident applied, carrying the ids that tie a reading or frame to its alert."""
    fields = {"correlation_id": incident.correlation_id, "incident_id": incident.id}
    if alert is None:
        log.debug("incident %s (%s %s) changed no alert", incident.id, incident.type, incident.phase, extra=fields)
        return
    log.info(
        "incident %s (%s %s on %s) %s alert %s (version %d)",
        incident.id,
        incident.type,
        incident.phase.value,
        incident.source,
        alert.change,
        alert.id,
        alert.version,
        extra={**fields, "alert_id": alert.id},
    )


def _system_detail(alert: Alert) -> dict[str, Any]:
    detail: dict[str, Any] = {"action": alert.change}
    if alert.suppressed:
        detail["suppressed_by"] = alert.suppressed_by
    return detail


def _silence_row(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "ended_at": silence.ended_at,
        "created_by": silence.created_by,
        "created_at": silence.created_at,
        "doc": Jsonb(silence.model_dump(mode="json")),
    }


def _delivery_row(delivery: NewDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "alert_id": delivery.alert_id,
        "alert_version": delivery.alert_version,
        "kind": delivery.kind,
        "channel": delivery.channel,
        "recipient": delivery.recipient,
        "target": Jsonb(delivery.target) if delivery.target is not None else None,
        "priority": delivery.priority,
        "payload": Jsonb(delivery.notification.model_dump(mode="json")),
    }


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
