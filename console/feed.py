"""The live alert feed: the alerts topic, read into an in-memory board, fanned out to websocket clients.

Each console replica reads ``pantau.alerts.v1`` on its own (no consumer group: every replica needs
every change) from the beginning, so its board of alerts is rebuilt from Kafka alone; it is ready
once it has caught up with the end offsets seen at start. A change is applied only when its version
is newer than the one on the board, so repeats after an alerting restart are ignored. The Kafka
thread hands changes to the event loop, which queues them per client; a client's pending changes of
the same alert coalesce and go out highest priority first.

Fan-out is the hot path (a change goes to every client): each change's JSON is made once and shared,
and a message is assembled from those pieces once per distinct batch, not once per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from kafka.structs import TopicPartition
from pydantic import ValidationError

from alerting.schemas import TOPIC_ALERTS, Alert
from console.settings import Settings
from pantau.config import format_validation_error
from pantau.kafka import DeadLetterSink, make_consumer, make_producer
from pantau.metrics import WEBSOCKET_CLIENTS

log = logging.getLogger(__name__)


def priority_order(alert: Alert) -> tuple[int, float]:
    return (alert.priority, -alert.last_seen.timestamp())


def change_order(change: tuple[int, Alert]) -> tuple[int, float]:
    """Sort key of a pending change: most urgent first, then the most recently seen."""
    return priority_order(change[1])


def sort_pending(pending: dict[str, tuple[int, Alert]]) -> list[tuple[int, Alert]]:
    """A client's pending changes in the order they go out."""
    return sorted(pending.values(), key=change_order)


_seq_of = itemgetter(0)


@dataclass(frozen=True)
class ClientFilter:
    """What one client wants to see: districts, types, and how urgent at least (1 is the most)."""

    districts: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    max_priority: int = 4  # ?min_priority=2 on the wire: P1 and P2 only
    responder: str | None = None  # a responder's feed: only alerts assigned to them or that they report on
    groups: frozenset[str] = frozenset()  # ... or assigned to (or listing) one of these groups of theirs

    @property
    def everything(self) -> bool:
        """True when the filter lets every alert through (the common operator's feed)."""
        return not (self.districts or self.types or self.responder is not None) and self.max_priority >= 4

    def matches(self, alert: Alert) -> bool:
        district = alert.location.district if alert.location is not None else None
        return (
            (not self.districts or district in self.districts)
            and (not self.types or alert.type in self.types)
            and alert.priority <= self.max_priority
            and (self.responder is None or self._theirs(alert))
        )

    def _theirs(self, alert: Alert) -> bool:
        """Assigned to the responder or a group of theirs, listing them or a group, or acknowledged by them."""
        responder = self.responder
        return (
            alert.assignee == responder
            or responder in alert.responders
            or alert.acknowledged_by == responder
            or (bool(self.groups) and (alert.assignee in self.groups or not self.groups.isdisjoint(alert.responders)))
        )


@dataclass(eq=False)  # identity semantics: each client is its own set member
class Subscriber:
    """One websocket client's pending changes: coalesced per alert, bounded, P1 never dropped.

    When more than ``max_pending`` alerts wait, the least urgent (P4 first, oldest first) give way
    and the client is marked ``behind``: its next message is a fresh snapshot instead of a partial
    batch, so it never shows a stale state. P1 changes are never dropped; a client with more than
    ``max_pending`` P1 changes waiting is too far behind and is disconnected to resync.
    """

    filter: ClientFilter = field(default_factory=ClientFilter)
    max_pending: int = 1000
    pending: dict[str, tuple[int, Alert]] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sent_seq: int = -1  # highest seq the client has (from the snapshot, backlog or live changes)
    behind: bool = False
    overflowed: bool = False
    dropped: int = 0
    # Orders the pending changes; the feed passes one that sorts each distinct set of changes once.
    sort: Callable[[dict[str, tuple[int, Alert]]], list[tuple[int, Alert]]] = field(default=sort_pending, repr=False)
    # Called before each wait: the feed passes one that applies changes read but not yet applied.
    refresh: Callable[[], None] = field(default=lambda: None, repr=False)
    _everything: bool = field(default=False, init=False, repr=False)
    # The heartbeat timer of wait(): one per interval, not one per wait.
    _timer: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)
    _waiting_since: float | None = field(default=None, init=False, repr=False)
    _heartbeat_s: float = field(default=0.0, init=False, repr=False)
    _heartbeat_due: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._everything = self.filter.everything  # push() runs once per change per client: skip the filter

    def push(self, seq: int, alert: Alert) -> None:
        self.push_change((seq, alert))

    def push_change(self, change: tuple[int, Alert]) -> None:
        """Queue ``change`` (seq, alert). The feed hands the same tuple to every client: a tuple per
        client and change would be a hundred thousand allocations a second, and garbage-collector
        passes over every live object with them."""
        seq, alert = change
        if seq <= self.sent_seq or not (self._everything or self.filter.matches(alert) or alert.id in self.pending):
            return
        self.pending[alert.id] = change
        if len(self.pending) > self.max_pending:
            self._shed()
        self.wake.set()

    def _shed(self) -> None:
        victims = sorted(
            (item for item in self.pending.items() if item[1][1].priority > 1),
            key=lambda item: (-item[1][1].priority, item[1][0]),
        )
        excess = len(self.pending) - self.max_pending
        for alert_id, _ in victims[:excess]:
            del self.pending[alert_id]
            self.dropped += 1
            self.behind = True
        if len(self.pending) > self.max_pending:
            self.overflowed = True  # only P1 changes left and still too many

    async def wait(self, heartbeat_s: float) -> bool:
        """Until there is something to send (True), or until ``heartbeat_s`` passed in this wait
        without anything (False: time for a heartbeat).

        Every client waits again after each message, so this is on the fan-out's hot path: a
        timeout per wait (``asyncio.wait_for``) costs a task and a timer each time, and with a
        thousand clients the garbage collector's passes over them came to a fifth of the console's
        time. Instead one timer runs per heartbeat interval: when it finds the client was woken in
        between, it re-arms for the current wait's deadline."""
        self.refresh()
        if self.wake.is_set():
            return True
        loop = asyncio.get_running_loop()
        self._waiting_since, self._heartbeat_s = loop.time(), heartbeat_s
        if self._timer is None:
            self._timer = loop.call_at(self._waiting_since + heartbeat_s, self._tick, loop)
        try:
            await self.wake.wait()
        finally:
            self._waiting_since = None
        if self._heartbeat_due:
            self._heartbeat_due = False
            if not (self.pending or self.behind or self.overflowed):
                self.wake.clear()
                return False
        return True

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if self._waiting_since is None:  # busy sending: the next wait arms a new timer
            return
        due = self._waiting_since + self._heartbeat_s
        if loop.time() >= due:
            self._heartbeat_due = True
            self.wake.set()
        else:
            self._timer = loop.call_at(due, self._tick, loop)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def take(self) -> list[tuple[int, Alert]]:
        batch = list(self.pending.values()) if len(self.pending) == 1 else self.sort(self.pending)
        self.pending.clear()
        self.wake.clear()
        if batch:
            self.sent_seq = max(self.sent_seq, max(map(_seq_of, batch)))
        return batch


class AlertFeed:
    """Board of current alerts plus the subscribers to its changes."""

    def __init__(self, settings: Settings, history: int = 20_000) -> None:
        self.settings = settings
        self.alerts: dict[str, Alert] = {}
        self.seqs: dict[str, int] = {}  # alert id -> seq (alerts-topic offset) of its current state
        self.head_seq = -1  # the newest change applied
        # Recent changes, for clients resuming with ?since=SEQ; older gaps get a snapshot instead.
        self.history: deque[tuple[int, Alert]] = deque(maxlen=history)
        self.subscribers: set[Subscriber] = set()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: str | None = None
        # The JSON text of each alert's current state, made on first use and shared by every client.
        self._json: dict[str, tuple[int, str]] = {}  # alert id -> (seq, JSON)
        self._order: dict[str, tuple[int, tuple[int, float]]] = {}  # alert id -> (seq, sort key) of its state
        self._batches: dict[tuple[int, ...], list[tuple[int, Alert]]] = {}  # seqs as they arrived -> sorted
        # Messages of recent batches: clients woken by the same changes mostly get the same batch.
        self._messages: dict[tuple[int, ...], str] = {}
        # Changes read by the Kafka thread, not yet applied on the event loop (deque: thread-safe appends).
        self._incoming: deque[list[tuple[int, Alert]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._dead_letters: DeadLetterSink | None = None

    # -- called on the event loop ----------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="alert-feed", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._dead_letters is not None:
            self._dead_letters.producer.close(timeout=10)

    def subscribe(
        self, client_filter: ClientFilter | None = None, since: int | None = None, max_pending: int = 1000
    ) -> tuple[Subscriber, list[Alert] | None, list[tuple[int, Alert]]]:
        """Register a client. Without ``since`` (or when the changes after it are no longer kept) it
        starts from a snapshot of the open alerts it may see; with ``since`` it gets the changes after
        that seq instead. Either way there is no gap and no repeat: ``sent_seq`` marks the seam."""
        sub = Subscriber(
            client_filter or ClientFilter(), max_pending, sort=self._sort_pending, refresh=self.apply_incoming
        )
        self.subscribers.add(sub)
        WEBSOCKET_CLIENTS.set(len(self.subscribers))
        oldest = self.history[0][0] if self.history else self.head_seq + 1
        if since is not None and since >= oldest - 1 and since <= self.head_seq:
            backlog = [(seq, a) for seq, a in self.history if seq > since and sub.filter.matches(a)]
            sub.sent_seq = self.head_seq
            return sub, None, _coalesce(backlog)
        sub.sent_seq = self.head_seq
        return sub, self.open_alerts(sub.filter), []

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        WEBSOCKET_CLIENTS.set(len(self.subscribers))
        sub.cancel_timer()

    def open_alerts(self, client_filter: ClientFilter | None = None) -> list[Alert]:
        wanted = client_filter or ClientFilter()
        return sorted((a for a in self.alerts.values() if a.is_open and wanted.matches(a)), key=priority_order)

    # -- the wire format (docs/contracts.md "Websocket"), on the event loop ----------------------
    def alert_json(self, seq: int, alert: Alert) -> str:
        """The JSON text of ``alert`` (the change with ``seq``): made once per change, then shared."""
        cached = self._json.get(alert.id)
        if cached is not None and cached[0] == seq:
            return cached[1]
        text = alert.model_dump_json()
        if self.seqs.get(alert.id) == seq:  # the board's current state of that alert: worth keeping
            self._json[alert.id] = (seq, text)
        return text

    def _change_order(self, change: tuple[int, Alert]) -> tuple[int, float]:
        cached = self._order.get(change[1].id)
        return cached[1] if cached is not None and cached[0] == change[0] else change_order(change)

    def _sort_pending(self, pending: dict[str, tuple[int, Alert]]) -> list[tuple[int, Alert]]:
        """Like :func:`sort_pending`, but clients woken by the same changes (most of them) share one
        sort: the seqs in arrival order identify the set of changes and so the result."""
        key = tuple(map(_seq_of, pending.values()))
        batch = self._batches.get(key)
        if batch is None:
            batch = sorted(pending.values(), key=self._change_order)
            if len(self._batches) >= 256:
                self._batches.clear()
            self._batches[key] = batch
        return list(batch)  # a copy: the shared one stays as it is whatever the caller does

    def changes_message(self, batch: list[tuple[int, Alert]]) -> str:
        """``{"type": "alert", "seq", "alert"}`` for one change, ``{"type": "alerts", "seq", "alerts":
        [{"seq", ...alert}, ...]}`` for several; the same batch yields the same (shared) text."""
        key = tuple(map(_seq_of, batch))
        message = self._messages.get(key)
        if message is not None:
            return message
        if len(batch) == 1:
            seq, alert = batch[0]
            message = f'{{"type":"alert","seq":{seq},"alert":{self.alert_json(seq, alert)}}}'
        else:
            # Each alert's object with its own seq first: '{"seq":S,' + the alert's JSON after its '{'.
            items = ",".join(f'{{"seq":{seq},{self.alert_json(seq, alert)[1:]}' for seq, alert in batch)
            message = f'{{"type":"alerts","seq":{max(key)},"alerts":[{items}]}}'
        if len(self._messages) >= 256:
            self._messages.clear()
        self._messages[key] = message
        return message

    def snapshot_message(self, sub: Subscriber, reason: str | None = None) -> str:
        """``{"type": "snapshot", "seq", "alerts": [...]}`` (plus ``reason``): the open alerts ``sub``
        may see, most urgent first, at its ``sent_seq``."""
        alerts = ",".join(self.alert_json(self.seqs.get(a.id, -1), a) for a in self.open_alerts(sub.filter))
        extra = f',"reason":{json.dumps(reason, ensure_ascii=False)}' if reason else ""
        return f'{{"type":"snapshot","seq":{sub.sent_seq},"alerts":[{alerts}]{extra}}}'

    def _apply(self, seq: int, alert: Alert) -> None:
        self.head_seq = max(self.head_seq, seq)
        current = self.alerts.get(alert.id)
        if current is not None and current.version >= alert.version:
            return
        self.alerts[alert.id] = alert
        self.seqs[alert.id] = seq
        self._json.pop(alert.id, None)
        self._order[alert.id] = (seq, priority_order(alert))
        change = (seq, alert)
        self.history.append(change)
        for sub in self.subscribers:
            sub.push_change(change)

    # -- the Kafka thread ------------------------------------------------------------------
    def _run(self) -> None:
        topic = self.settings.topic(TOPIC_ALERTS)
        backoff_s = 0.5
        while not self.stop.is_set():
            try:
                self._consume(TopicPartition(topic, 0))
            except Exception as exc:  # the feed must outlive broker outages; it reconnects and re-reads
                self.error = str(exc)
                log.warning("alert feed: %s; reconnecting in %.1f s", exc, backoff_s)
                self.stop.wait(backoff_s)
                backoff_s = min(backoff_s * 2, 10)

    def _consume(self, tp: TopicPartition) -> None:
        consumer = make_consumer(self.settings, client_id="pantau-console", group_id=None)
        try:
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            end = consumer.end_offsets([tp])[tp]
            if end == 0:
                self.ready.set()
            while not self.stop.is_set():
                batch = consumer.poll(timeout_ms=200).get(tp, [])
                alerts: list[tuple[int, Alert]] = []
                for rec in batch:
                    if rec.value is None:
                        continue
                    try:
                        # The record's offset is the change's seq: the same on every console replica.
                        alerts.append((rec.offset, Alert.model_validate_json(rec.value)))
                    except ValidationError as exc:
                        self._dead_letter(rec, f"invalid alert: {format_validation_error(exc)}")
                if alerts and self._loop is not None:
                    self._incoming.append(alerts)
                    self._loop.call_soon_threadsafe(self.apply_incoming)
                if not self.ready.is_set() and consumer.position(tp) >= end:
                    if self._loop is not None:
                        # Ready only once the loop has applied everything read so far.
                        done = threading.Event()
                        self._loop.call_soon_threadsafe(done.set)
                        done.wait(10)
                    self.ready.set()
                    log.info("alert feed: caught up at offset %d", end)
                self.error = None
        finally:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False)

    def _dead_letter(self, record: Any, reason: str) -> None:
        # Created on first use: a healthy alerts topic never needs it. Every replica reports what it
        # rejected (the DLQ entry names the stage), so an operator sees each console that skipped it.
        if self._dead_letters is None:
            self._dead_letters = DeadLetterSink(
                self.settings, make_producer(self.settings, client_id="pantau-console-dlq"), "console"
            )
        self._dead_letters.reject_record(record, reason)
        self._dead_letters.producer.flush(timeout=10)

    def apply_incoming(self) -> None:
        """Apply what the Kafka thread read so far (on the event loop). Scheduled by that thread, and
        also called by each client before it sends: with a thousand clients the loop's queue holds a
        thousand sends, and a change should not wait behind them all before the next client takes it."""
        while self._incoming:
            self._apply_all(self._incoming.popleft())  # only the loop pops: no race with the check

    def _apply_all(self, alerts: list[tuple[int, Alert]]) -> None:
        for seq, alert in alerts:
            self._apply(seq, alert)

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready.wait(0.1):
                return True
        return False


def _coalesce(changes: list[tuple[int, Alert]]) -> list[tuple[int, Alert]]:
    """Only the newest change of each alert, in seq order."""
    newest: dict[str, tuple[int, Alert]] = {}
    for seq, alert in changes:
        newest[alert.id] = (seq, alert)
    return sorted(newest.values(), key=lambda item: item[0])
