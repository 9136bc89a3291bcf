"""The consumer loop's at-least-once rules, with an in-memory consumer (a pure unit test of the loop)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from kafka.structs import OffsetAndMetadata, TopicPartition

from pantau.exceptions import DatabaseError, PermanentError
from pantau.kafka import DeadLetterSink
from pantau.settings import CommonSettings
from pantau.worker import ConsumerLoop

pytestmark = pytest.mark.unit
TP = TopicPartition("readings", 0)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class FakeConsumer:
    """One partition of ``total`` records, served ``batch`` at a time from the current position."""

    total: int
    batch: int = 3
    position: int = 0
    commits: list[int] = field(default_factory=list)
    listener: Any = None
    assigned: bool = False

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        if not self.assigned:
            self.assigned = True
            self.listener.on_partitions_assigned({TP})
        end = min(self.total, self.position + self.batch)
        records = [Record(TP.topic, 0, off, str(off).encode()) for off in range(self.position, end)]
        self.position = end
        return {TP: records} if records else {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position = offset

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append(offsets[TP].offset)

    def close(self, autocommit: bool) -> None:
        pass


@dataclass
class FlakySink:
    """Stores offsets; the write of the ``fail_on``-th batch fails once (a database outage)."""

    loop: ConsumerLoop | None = None
    fail_on: int = 2
    batches: int = 0
    pending: list[int] = field(default_factory=list)
    durable: list[int] = field(default_factory=list)
    consumer: FakeConsumer | None = None

    def handle(self, records: Sequence[Any]) -> None:
        self.batches += 1
        if self.batches == self.fail_on:
            self.pending.clear()  # the failed transaction kept nothing
            raise DatabaseError("connection lost")
        self.pending.extend(r.offset for r in records)

    def make_durable(self) -> None:
        # Every commit must follow durable work for the offsets it covers.
        self.durable.extend(self.pending)
        self.pending.clear()

    def tick(self, now_s: float) -> None:
        assert self.consumer is not None and self.loop is not None
        if self.consumer.position >= self.consumer.total and not self.pending:
            self.loop.stop.set()

    def on_assigned(self, partitions: set[TopicPartition]) -> None:
        pass

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        pass


def test_failed_batch_is_redelivered_and_no_offset_is_committed_before_its_work_is_durable() -> None:
    consumer = FakeConsumer(total=10)
    sink = FlakySink(consumer=consumer)
    loop = ConsumerLoop(consumer, sink, ["readings"], name="test", commit_interval_s=0.0, backoff_max_s=0.01)
    sink.loop = loop
    loop.run()
    assert sorted(set(sink.durable)) == list(range(10))  # nothing lost
    assert consumer.commits == sorted(consumer.commits)
    assert consumer.commits[-1] == 10
    # Each commit covers only offsets whose work was durable by then.
    assert all(set(range(c)) <= set(sink.durable) for c in consumer.commits)
    assert loop.ready.is_set()


def test_not_ready_on_an_empty_assignment_made_before_the_topic_was_known() -> None:
    consumer = FakeConsumer(total=0)
    loop = ConsumerLoop(consumer, FlakySink(consumer=consumer), ["readings"], name="test")
    consumer.listener = loop._listener()
    known: dict[str, set[int] | None] = {"readings": None}
    assigned: set[TopicPartition] = set()
    joins: list[int] = []
    consumer.partitions_for_topic = lambda topic: known[topic]  # type: ignore[method-assign]
    consumer.assignment = lambda: assigned  # type: ignore[method-assign]
    consumer.unsubscribe = lambda: joins.append(1)  # type: ignore[attr-defined]

    consumer.listener.on_partitions_assigned(set())
    loop._check_ready()
    assert not loop.ready.is_set() and joins == []  # joined, topic unknown yet: wait
    known["readings"] = {0}
    loop._check_ready()
    assert not loop.ready.is_set() and joins == [1]  # topic now known: join the group again
    assigned.add(TP)
    consumer.listener.on_partitions_assigned({TP})
    loop._check_ready()
    assert loop.ready.is_set()


def test_member_left_without_partitions_is_ready_after_two_rejoins() -> None:
    consumer = FakeConsumer(total=0)
    loop = ConsumerLoop(consumer, FlakySink(consumer=consumer), ["readings"], name="test")
    consumer.listener = loop._listener()
    consumer.partitions_for_topic = lambda topic: {0}  # type: ignore[method-assign]
    consumer.assignment = lambda: set()  # type: ignore[method-assign]
    consumer.unsubscribe = lambda: None  # type: ignore[attr-defined]
    for _ in range(3):
        consumer.listener.on_partitions_assigned(set())
        loop._next_resubscribe_s = 0.0
        loop._check_ready()
    assert loop.ready.is_set()  # more members than partitions: idle, but ready


class StuckConsumer:
    """Assigned one partition with ``waiting`` records that never arrive (a fetcher stuck after a
    broker restart)."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        self.listener: Any = None

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener
        listener.on_partitions_assigned({TP})

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        return {}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {TP: self.waiting}

    def position(self, tp: TopicPartition, timeout_ms: int = 0) -> int:
        return 0

    def close(self, autocommit: bool) -> None:
        pass


class NoWork:
    def handle(self, records: Sequence[Any]) -> None:
        raise AssertionError("no record ever arrives")

    def make_durable(self) -> None:
        return None

    def tick(self, now_s: float) -> None:
        return None

    def on_assigned(self, partitions: set[TopicPartition]) -> None:
        return None

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        return None


def test_a_consumer_whose_records_never_arrive_exits_for_a_fresh_one() -> None:
    loop = ConsumerLoop(
        StuckConsumer(waiting=5), NoWork(), ["readings"], name="test", stall_after_s=0.3, lag_interval_s=0.05
    )
    loop.max_replacements = 0  # no fresh consumer in-process (that needs a broker): exit at once
    started = time.monotonic()
    with pytest.raises(SystemExit) as exited:
        loop.run()
    assert exited.value.code == 3
    assert 0.3 <= time.monotonic() - started < 5


def test_an_idle_consumer_with_nothing_waiting_is_not_stalled() -> None:
    loop = ConsumerLoop(StuckConsumer(waiting=0), NoWork(), ["readings"], name="test", stall_after_s=0.0)
    loop.ready.set()
    time.sleep(0.01)
    loop._measure_lag()  # nothing waits: no stall, however long since the last record
    assert loop.heartbeat.alive()


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.flushes = 0

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, value))

    def flush(self, timeout: float) -> None:
        self.flushes += 1


@dataclass
class PoisonSink:
    """Buffers offsets and writes them at make_durable, as the archiver does (rows from several polls
    in one transaction); a write holding a poisoned offset fails as a whole, for good."""

    poisoned: set[int]
    loop: ConsumerLoop | None = None
    consumer: FakeConsumer | None = None
    fail_in_handle: bool = False
    pending: list[int] = field(default_factory=list)
    durable: list[int] = field(default_factory=list)
    writes: int = 0

    def handle(self, records: Sequence[Any]) -> None:
        self.pending.extend(r.offset for r in records)
        if self.fail_in_handle:
            self.make_durable()

    def make_durable(self) -> None:
        batch, self.pending = self.pending, []
        if not batch:
            return
        self.writes += 1
        if self.poisoned & set(batch):
            raise PermanentError(f"value refused by the database in a batch of {len(batch)}")
        self.durable.extend(batch)

    def tick(self, now_s: float) -> None:
        assert self.consumer is not None and self.loop is not None
        if self.consumer.position >= self.consumer.total and not self.pending and not self.loop._suspects:
            self.loop.stop.set()

    def on_assigned(self, partitions: set[TopicPartition]) -> None:
        pass

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        pass


def _poison_loop(sink: PoisonSink, total: int, batch: int) -> tuple[ConsumerLoop, FakeConsumer, FakeProducer]:
    consumer = FakeConsumer(total=total, batch=batch)
    producer = FakeProducer()
    letters = DeadLetterSink(CommonSettings(), producer, "test-stage")
    loop = ConsumerLoop(
        consumer, sink, ["readings"], name="test", commit_interval_s=0.02, backoff_max_s=0.01, dead_letters=letters
    )
    sink.loop, sink.consumer = loop, consumer
    return loop, consumer, producer


@pytest.mark.parametrize("fail_in_handle", [False, True], ids=["fails-at-commit", "fails-in-handle"])
def test_a_record_that_fails_for_good_is_dead_lettered_and_the_rest_is_kept(fail_in_handle: bool) -> None:
    sink = PoisonSink(poisoned={7, 13, 14}, fail_in_handle=fail_in_handle)
    loop, consumer, producer = _poison_loop(sink, total=40, batch=6)
    loop.run()
    assert sorted(set(sink.durable)) == sorted(set(range(40)) - {7, 13, 14})  # nothing good lost
    letters = [orjson.loads(value) for _topic, value in producer.sent]
    assert sorted(letter["offset"] for letter in letters) == [7, 13, 14]  # each once, with the reason
    assert all("refused by the database" in letter["reason"] for letter in letters)
    assert all(letter["stage"] == "test-stage" for letter in letters)
    assert consumer.commits == sorted(consumer.commits) and consumer.commits[-1] == 40
    # No commit passed a record before its work was durable or its dead letter flushed.
    for commit in consumer.commits:
        assert set(range(commit)) <= set(sink.durable) | {7, 13, 14}
    assert loop.isolated == 3 and not loop._suspects


def test_a_permanent_failure_without_a_dead_letter_sink_skips_nothing() -> None:
    sink = PoisonSink(poisoned={4})
    consumer = FakeConsumer(total=10, batch=3)
    loop = ConsumerLoop(consumer, sink, ["readings"], name="test", commit_interval_s=0.0, backoff_max_s=0.001)
    sink.loop, sink.consumer = loop, consumer
    runner = threading.Thread(target=loop.run)
    runner.start()
    time.sleep(0.3)
    loop.stop.set()
    runner.join(5)
    assert all(commit <= 3 for commit in consumer.commits)  # never past the batch holding offset 4
    assert 4 not in sink.durable
