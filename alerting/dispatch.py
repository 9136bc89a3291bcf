"""The dispatcher: sends the pushes the engine committed, retries them, and logs every attempt.

The engine writes each delivery (one per alert change, channel and recipient) into ``alert_deliveries`` in
the same transaction as the alert change, then hands it to :meth:`Dispatcher.submit` for an
immediate send (the fast path: the first push leaves within milliseconds of the commit). A poller
picks up whatever is due and not in flight: retries whose back-off has passed, and deliveries left
behind by a crash. A delivery is marked ``sent`` only after the receiver accepted it, so a crash
between the two re-sends it under the same id (the receiver's idempotency key): a push is never
lost and a duplicate is always recognisable.

Retries back off exponentially with jitter (honouring ``Retry-After``). A P1 is retried until it
is delivered or its alert is resolved or closed (then ``cancelled``); other priorities give up after
``max_attempts`` and are marked ``failed`` with the reason. A receiver that refuses for good (a 4xx
other than 408/425/429) is ``failed`` at once, and a Web Push subscription the push service reports
gone is deleted. Each channel has its own queue and workers, so a receiver that hangs delays only
its own channel.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from alerting import queries
from alerting.channels.base import DeliveryError, Notification, WebPushSubscription, retry_delay_s
from alerting.channels.registry import Channel
from pantau.metrics import PUSH_DELIVERIES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One push to send: a row of ``alert_deliveries``."""

    id: str
    alert_id: str
    kind: str
    channel: str
    recipient: str
    target: dict[str, Any] | None
    priority: int
    attempts: int
    payload: dict[str, Any]


class Dispatcher:
    """Worker threads sending deliveries through their channels; see the module docstring."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime],
        *,
        threads: int = 4,
        max_attempts: int = 8,
        poll_interval_s: float = 1.0,
        max_retry_delay_s: float = 300.0,
        p1_max_retry_delay_s: float = 30.0,
        on_gone: Callable[[str], object] | None = None,
    ) -> None:
        self.connect = connect
        self.channels = dict(channels)
        self.clock = clock
        self.threads = threads
        self.max_attempts = max_attempts
        self.poll_interval_s = poll_interval_s
        self.max_retry_delay_s = max_retry_delay_s
        self.p1_max_retry_delay_s = p1_max_retry_delay_s
        self.on_gone = on_gone
        # One queue and one set of workers per channel: a receiver that hangs holds up only its own
        # channel's pushes, never another channel's.
        self._queues: dict[str, queue.PriorityQueue[tuple[int, int, Delivery]]] = {
            name: queue.PriorityQueue() for name in [*self.channels, ""]
        }
        self._order = 0
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.sent = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        for name, work_queue in self._queues.items():
            for n in range(self.threads if name else 1):
                worker = threading.Thread(
                    target=self._work, args=(work_queue,), name=f"dispatch-{name}-{n}", daemon=True
                )
                worker.start()
                self._workers.append(worker)
        poller = threading.Thread(target=self._poll, name="dispatch-poller", daemon=True)
        poller.start()
        self._workers.append(poller)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            for work_queue in self._queues.values():
                for _ in range(self.threads):
                    self._order += 1
                    work_queue.put((99, self._order, _STOP))
        for worker in self._workers:
            worker.join(timeout_s)
        for channel in self.channels.values():
            channel.close()

    def set_channels(self, channels: Mapping[str, Channel]) -> None:
        """Send through these channels from now on (``pantau reload``): a new channel gets its queue
        and workers; a removed one's queued deliveries fail with the reason. A replaced channel object
        is not closed, as a send may still be using it."""
        with self._lock:
            self.channels = dict(channels)
            for name in channels:
                if name in self._queues:
                    continue
                work_queue: queue.PriorityQueue[tuple[int, int, Delivery]] = queue.PriorityQueue()
                self._queues[name] = work_queue
                if self._workers:  # started already: the new channel needs its workers too
                    for n in range(self.threads):
                        worker = threading.Thread(
                            target=self._work, args=(work_queue,), name=f"dispatch-{name}-{n}", daemon=True
                        )
                        worker.start()
                        self._workers.append(worker)

    def submit(self, deliveries: list[Delivery]) -> None:
        """Send these now (they are committed already)."""
        with self._lock:
            for delivery in deliveries:
                if delivery.id in self._in_flight:
                    continue
                self._in_flight.add(delivery.id)
                self._order += 1
                # Deliveries for a channel no longer configured go to the catch-all queue, which fails them.
                work_queue = self._queues.get(delivery.channel, self._queues[""])
                work_queue.put((delivery.priority, self._order, delivery))

    # -- threads -----------------------------------------------------------------------------------
    def _poll(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.wait(self.poll_interval_s):
            try:
                if conn is None or conn.closed:
                    conn = self.connect()
                with self._lock:
                    busy = list(self._in_flight)
                rows = conn.execute(queries.DUE_DELIVERIES, (busy, 500)).fetchall()
                conn.commit()
            except psycopg.Error as exc:
                log.warning("dispatcher: cannot read due deliveries (retrying): %s", exc)
                conn = None
                continue
            except Exception:  # the poller must outlive anything: without it nothing is ever retried
                log.exception("dispatcher: reading due deliveries failed unexpectedly (retrying)")
                conn = None
                continue
            self.submit([Delivery(*row) for row in rows])
        if conn is not None:
            conn.close()

    def _work(self, work_queue: queue.PriorityQueue[tuple[int, int, Delivery]]) -> None:
        conn: psycopg.Connection | None = None
        while True:
            _priority, _order, delivery = work_queue.get()
            if delivery is _STOP:
                break
            try:
                if conn is None or conn.closed:
                    conn = self.connect()
                self._deliver(conn, delivery)
            except psycopg.Error as exc:
                # The outcome could not be recorded: the row is still due, so the poller sends it
                # again under the same id once the database is back.
                log.warning("dispatcher: recording delivery %s failed: %s", delivery.id, exc)
                conn = None
            except Exception:
                # A worker that died would leave its channel's deliveries in flight for good: the
                # row stays due, the poller hands it out again, and this thread takes the next one.
                log.exception("dispatcher: delivery %s failed unexpectedly; it stays due", delivery.id)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            finally:
                with self._lock:
                    self._in_flight.discard(delivery.id)
        if conn is not None:
            conn.close()

    def _deliver(self, conn: psycopg.Connection, delivery: Delivery) -> None:
        # The poller may have read this row just before another worker finished it: send only what
        # is still due at the attempt count it was read with.
        due = conn.execute(queries.STILL_DUE, (delivery.id, delivery.attempts)).fetchone()
        conn.commit()
        if due is None:
            return
        attempt = delivery.attempts + 1
        if delivery.kind != "stand_down" and due[0] in ("resolved", "closed"):
            # Retries are bounded by the alert's life: nobody needs the call-out once it is over.
            self._record(conn, delivery, attempt, "cancelled", None, f"alert {due[0]} before delivery", self.clock())
            return
        channel = self.channels.get(delivery.channel)
        now = self.clock()
        if channel is None:
            self._record(conn, delivery, attempt, "failed", None, f"no channel {delivery.channel!r} configured", now)
            return
        try:
            notification = Notification.model_validate(delivery.payload)
            target = WebPushSubscription.model_validate(delivery.target) if delivery.target else None
            result = channel.send(notification, target)
        except DeliveryError as exc:
            self._failed(conn, delivery, attempt, exc, now)
            return
        except ValueError as exc:  # a payload that no longer validates: retrying cannot help
            self._record(conn, delivery, attempt, "failed", None, f"bad delivery: {exc}", now)
            return
        except Exception as exc:  # a channel's bug, or an error its library did not wrap
            log.exception("push %s via %s: unexpected error in the channel", delivery.id, delivery.channel)
            error = DeliveryError(f"unexpected error in channel {delivery.channel!r}: {exc!r}", retryable=True)
            self._failed(conn, delivery, attempt, error, now)
            return
        self._record(conn, delivery, attempt, "sent", result.status_code, result.detail, self.clock())
        self.sent += 1
        # DEBUG: at hundreds of pushes a second one line each is noise (the delivery log has them all).
        log.debug(
            "push %s (%s) of alert %s sent via %s, attempt %d",
            delivery.id,
            delivery.kind,
            delivery.alert_id,
            delivery.channel,
            attempt,
            extra={
                "correlation_id": notification.alert.get("last_correlation_id"),
                "alert_id": delivery.alert_id,
                "delivery_id": delivery.id,
            },
        )

    def _failed(
        self, conn: psycopg.Connection, delivery: Delivery, attempt: int, exc: DeliveryError, now: datetime
    ) -> None:
        if exc.gone and delivery.target and self.on_gone is not None:
            self.on_gone(str(delivery.target.get("endpoint", "")))
        give_up = not exc.retryable or (delivery.priority > 1 and attempt >= self.max_attempts)
        if give_up:
            log.warning(
                "push for alert %s (%s) to %s via %s failed for good after %d attempt(s): %s",
                delivery.alert_id, delivery.kind, delivery.recipient, delivery.channel, attempt, exc,
                extra={"alert_id": delivery.alert_id},
            )  # fmt: skip
            self._record(conn, delivery, attempt, "failed", exc.status_code, str(exc), now)
            return
        cap_s = self.p1_max_retry_delay_s if delivery.priority == 1 else self.max_retry_delay_s
        delay_s = max(retry_delay_s(attempt, max_s=cap_s), exc.retry_after_s or 0.0)
        # Each attempt's reason is in the delivery log (the API); the log line is for whoever tails it.
        log.warning(
            "push for alert %s (%s) to %s via %s failed (attempt %d, retrying in %.1f s): %s",
            delivery.alert_id, delivery.kind, delivery.recipient, delivery.channel, attempt, delay_s, exc,
            extra={"alert_id": delivery.alert_id},
        )  # fmt: skip
        self._record(
            conn, delivery, attempt, "retrying", exc.status_code, str(exc), now, now + timedelta(seconds=delay_s)
        )

    @staticmethod
    def _record(
        conn: psycopg.Connection,
        delivery: Delivery,
        attempt: int,
        status: str,
        status_code: int | None,
        detail: str,
        now: datetime,
        next_at: datetime | None = None,
    ) -> None:
        PUSH_DELIVERIES.labels(delivery.channel, status).inc()
        with conn.transaction():
            conn.execute(queries.RECORD_ATTEMPT, (delivery.id, attempt, now, status, status_code, detail[:1000]))
            error = None if status == "sent" else detail[:1000]
            conn.execute(queries.UPDATE_DELIVERY, (status, attempt, next_at or now, error, status, now, delivery.id))


_STOP = Delivery("", "", "", "", "", None, 99, 0, {})
