"""The live alert feed: the alerts topic, read into an in-memory board, fanned out to websocket clients.

Each console replica reads ``pantau.alerts.v1`` on its own (no consumer group: every replica needs
every change) from the beginning, so its board of alerts is rebuilt from Kafka alone; it is ready
once it has caught up with the end offsets seen at start. A change is applied only when its version
is newer than the one on the board, so repeats after an alerting restart are ignored. The Kafka
thread hands changes to the event loop, which queues them per client; a client's pending changes of
the same alert coalesce and go out highest priority first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kafka.structs import TopicPartition
from pydantic import ValidationError

from alerting.schemas import TOPIC_ALERTS, Alert
from console.settings import Settings
from pantau.config import format_validation_error
from pantau.kafka import DeadLetterSink, make_consumer, make_producer

log = logging.getLogger(__name__)


def priority_order(alert: Alert) -> tuple[int, float]:
    return (alert.priority, -alert.last_seen.timestamp())


@dataclass(eq=False)  # identity semantics: each client is its own set member
class Subscriber:
    """One websocket client's pending changes (coalesced per alert)."""

    pending: dict[str, Alert] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, alert: Alert) -> None:
        self.pending[alert.id] = alert
        self.wake.set()

    def take(self) -> list[Alert]:
        batch = sorted(self.pending.values(), key=priority_order)
        self.pending.clear()
        self.wake.clear()
        return batch


class AlertFeed:
    """Board of current alerts plus the subscribers to its changes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.alerts: dict[str, Alert] = {}
        self.subscribers: set[Subscriber] = set()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: str | None = None
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

    def subscribe(self) -> tuple[Subscriber, list[Alert]]:
        """Register a client and return the snapshot of open alerts it starts from (no gap, no repeat)."""
        sub = Subscriber()
        self.subscribers.add(sub)
        return sub, self.open_alerts()

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def open_alerts(self) -> list[Alert]:
        return sorted((a for a in self.alerts.values() if a.is_open), key=priority_order)

    def _apply(self, alert: Alert) -> None:
        current = self.alerts.get(alert.id)
        if current is not None and current.version >= alert.version:
            return
        self.alerts[alert.id] = alert
        for sub in self.subscribers:
            sub.push(alert)

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
                alerts = []
                for rec in batch:
                    if rec.value is None:
                        continue
                    try:
                        alerts.append(Alert.model_validate_json(rec.value))
                    except ValidationError as exc:
                        self._dead_letter(rec, f"invalid alert: {format_validation_error(exc)}")
                if alerts and self._loop is not None:
                    self._loop.call_soon_threadsafe(self._apply_all, alerts)
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

    def _apply_all(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._apply(alert)

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready.wait(0.1):
                return True
        return False
