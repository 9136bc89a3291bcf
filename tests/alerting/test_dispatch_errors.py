"""A dispatcher thread outlives anything a channel or its own bookkeeping raises (unit, no database)."""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from alerting.channels.base import DeliveryResult
from alerting.dispatch import _STOP, Delivery, Dispatcher

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
PAYLOAD = {"delivery_id": "d-1", "alert_id": "a-1", "kind": "alert", "title": "Banjir", "body": "P1",
           "priority": 1, "link": "https://console.example/alerts/a-1", "alert": {"id": "a-1"},
           "created_at": NOW.isoformat()}  # fmt: skip


def _delivery(n: int) -> Delivery:
    return Delivery(f"d-{n}", "a-1", "alert", "hook", "ani", None, 1, 0, {**PAYLOAD, "delivery_id": f"d-{n}"})


class FakeConn:
    """Answers "still due" for every delivery and keeps what the dispatcher records."""

    closed = False

    def __init__(self) -> None:
        self.recorded: list[tuple[Any, ...]] = []

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> FakeConn:
        self.recorded.append(params)
        return self

    def fetchone(self) -> tuple[str]:
        return ("new",)

    def commit(self) -> None:
        return None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        self.closed = True


class BuggyChannel:
    """Raises something no channel is meant to raise on its first send, then works."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, notification: Any, target: Any) -> DeliveryResult:
        self.calls += 1
        if self.calls == 1:
            raise KeyError("a bug in the channel")
        return DeliveryResult(200, "ok")


def test_an_unexpected_error_in_a_channel_is_a_retryable_failure_and_the_thread_goes_on() -> None:
    conn = FakeConn()
    channel = BuggyChannel()
    dispatcher = Dispatcher(lambda: conn, {"hook": channel}, lambda: NOW)  # type: ignore[arg-type,return-value,dict-item]
    work: queue.PriorityQueue[tuple[int, int, Delivery]] = queue.PriorityQueue()
    for n in (1, 2):
        work.put((1, n, _delivery(n)))
    work.put((99, 3, _STOP))
    dispatcher._work(work)  # returns at _STOP: it did not die at the first delivery
    assert channel.calls == 2 and dispatcher.sent == 1
    attempts = [params for params in conn.recorded if len(params) == 6]  # (id, n, at, status, code, detail)
    assert [(a[0], a[3]) for a in attempts] == [("d-1", "retrying"), ("d-2", "sent")]
    assert "unexpected error in channel 'hook': KeyError" in attempts[0][5]


def test_a_worker_survives_an_error_outside_the_channel_and_leaves_the_delivery_due() -> None:
    conn = FakeConn()
    dispatcher = Dispatcher(lambda: conn, {}, lambda: NOW)  # type: ignore[arg-type,return-value]
    handled: list[str] = []

    def deliver(_conn: Any, delivery: Delivery) -> None:
        handled.append(delivery.id)
        if delivery.id == "d-1":
            raise RuntimeError("a bug in the bookkeeping")

    dispatcher._deliver = deliver  # type: ignore[method-assign,assignment]
    work: queue.PriorityQueue[tuple[int, int, Delivery]] = queue.PriorityQueue()
    dispatcher._in_flight.update({"d-1", "d-2"})
    for n in (1, 2):
        work.put((1, n, _delivery(n)))
    work.put((99, 3, _STOP))
    dispatcher._work(work)
    assert handled == ["d-1", "d-2"]
    assert not dispatcher._in_flight  # the poller may hand d-1 out again: its row is still due
    assert conn.closed  # the connection that may be in a bad state was dropped
