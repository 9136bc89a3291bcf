"""The consume → process → make durable → commit loop every Pantau worker runs.

At-least-once: offsets are committed only after the handler has made the work for them durable
(rows committed in PostgreSQL, or records acknowledged by Kafka). If the work fails with a transient
error (database down, broker unreachable) the consumer seeks back to the first record not yet
durable and retries after a back-off; nothing is skipped and nothing is committed early.
Handlers must be idempotent: after a crash the records since the last commit come again.

An error that retrying cannot fix (:class:`PermanentError`: a value the database refuses, a record
too large to send) must not stop the worker either, or one bad record would stall the stage for
good. The loop seeks back to the first record not yet durable and handles the records since then
again in halves, making each half durable before the next, down to the single record that fails:
that one goes to the dead-letter queue with the error, and the loop commits past it and goes on.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata, TopicPartition

from pantau.exceptions import ConfigError, ConsumerStalled, DatabaseError, KafkaError, PermanentError
from pantau.kafka import DeadLetterSink, flush
from pantau.metrics import (
    BATCH_SECONDS,
    CONSUMER_LAG,
    RECORDS,
    TRANSIENT_FAILURES,
    Heartbeat,
    OpsServer,
    start_ops_server,
)
from pantau.settings import CommonSettings

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, KafkaError)
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (PermanentError,)


class BatchHandler(Protocol):
    """What a worker does with the records it consumes."""

    def handle(self, records: Sequence[Any]) -> None:
        """Process records (in partition order). May leave work pending until :meth:`make_durable`."""

    def make_durable(self) -> None:
        """Block until everything handled so far is durable; raise a transient error if it cannot be."""

    def tick(self, now_s: float) -> None:
        """Periodic work (timers) between polls."""

    def on_assigned(self, partitions: set[TopicPartition]) -> None:
        """Partitions were assigned (restore state for them)."""

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        """Partitions are going away (after their work was made durable and committed)."""


class HandlerDefaults:
    """No-op timers and rebalance hooks, for handlers that keep no per-partition state."""

    def tick(self, now_s: float) -> None:
        return None

    def on_assigned(self, partitions: set[TopicPartition]) -> None:
        return None

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        return None


class ConsumerLoop:
    """Runs a :class:`BatchHandler` over a subscribed consumer until ``stop`` is set."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        handler: BatchHandler,
        topics: Sequence[str],
        *,
        name: str,
        commit_interval_s: float = 0.2,
        ready_file: Path | None = None,
        backoff_max_s: float = 10.0,
        status_interval_s: float = 30.0,
        stall_after_s: float = 10.0,
        lag_interval_s: float = 10.0,
        dead_letters: DeadLetterSink | None = None,
    ) -> None:
        self.consumer = consumer
        # Where a record that fails for good goes; without one, a permanent error is retried as a
        # transient one (a handler that can raise PermanentError must be given a sink).
        self.dead_letters = dead_letters
        self.handler = handler
        self.topics = list(topics)
        self.name = name
        self.commit_interval_s = commit_interval_s
        self.ready_file = ready_file
        self.backoff_max_s = backoff_max_s
        self.stop = threading.Event()
        self.ready = threading.Event()
        # Set by SIGHUP (`pantau reload`): the loop calls the handler's reload() between batches.
        self.reload_requested = threading.Event()
        # A turn of the loop at least every max_poll_interval (120 s), even while backing off.
        self.heartbeat = Heartbeat(deadline_s=180.0)
        self.group_id: str = str(getattr(consumer, "config", {}).get("group_id") or name)
        self._next_lag_s = 0.0
        # kafka-python can stop fetching for good after the broker restarts while a fetch is in
        # flight: records wait, the loop turns, nothing arrives. Past this, the worker exits so its
        # supervisor (or Kubernetes) starts a fresh one; offsets are committed only for durable work.
        self.stall_after_s = stall_after_s
        self.lag_interval_s = lag_interval_s
        self.exit_code = 0  # 3 when the loop ended on a stalled consumer
        self.max_replacements = 3
        self._replacements = 0
        self._last_records_s = time.monotonic()
        self._pending: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self._first_uncommitted: dict[TopicPartition, int] = {}  # where to seek back to after a failure
        self._seen_until: dict[TopicPartition, int] = {}  # past the last record handled since the commit
        # After a permanent error: records below these offsets are handled in halves (see the module).
        self._suspects: dict[TopicPartition, int] = {}
        self.isolated = 0  # records dead-lettered for a permanent error
        self._last_commit_s = time.monotonic()
        self._assignment_seen = False
        self._resubscribes = 0
        self._next_resubscribe_s = 0.0
        self.status_interval_s = status_interval_s
        self._next_status_s = time.monotonic() + 5.0
        self._records_since_status = 0

    # -- rebalance -----------------------------------------------------------------------------
    def _listener(self) -> ConsumerRebalanceListener:
        loop = self

        # kafka-python 3 calls these on its network thread, where nothing may block on the same
        # consumer: the revocation commit is sent asynchronously (if it does not land, the new owner
        # gets those records again, which the idempotent sinks absorb), and readiness is decided
        # in the main loop.
        class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
            def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
                if revoked:
                    loop._commit_before_revocation()
                    loop.handler.on_revoked(set(revoked))
                    for tp in revoked:
                        loop._pending.pop(tp, None)
                        loop._first_uncommitted.pop(tp, None)
                        loop._seen_until.pop(tp, None)
                        loop._suspects.pop(tp, None)

            def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
                loop.handler.on_assigned(set(assigned))
                loop._assignment_seen = True

        return _Listener()

    def _commit_before_revocation(self) -> None:
        if not self._pending:
            return
        try:
            self.handler.make_durable()
            offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in self._pending.items()}
            self.consumer.commit_async(offsets)
        except TRANSIENT_ERRORS + PERMANENT_ERRORS as exc:
            log.warning("%s: could not commit before revocation (records will be redelivered): %s", self.name, exc)

    def _check_ready(self) -> None:
        """Ready once partitions are assigned.

        A group formed before this client saw its topics' partitions hands out nothing, and nothing
        changes until the group rebalances: subscribe again (at most twice, a few seconds apart) once
        the topics are known. A member that still gets nothing is one of more members than
        partitions: idle, but ready.
        """
        if not self._assignment_seen:
            return
        if self.consumer.assignment() or self._resubscribes >= 2:
            self._mark_ready()
            return
        now = time.monotonic()
        if now >= self._next_resubscribe_s and self._topics_known():
            self._resubscribes += 1
            self._next_resubscribe_s = now + 3.0
            self._assignment_seen = False
            log.info("%s: joined with no partitions before the topics were known; joining again", self.name)
            self.consumer.unsubscribe()
            self.consumer.subscribe(self.topics, listener=self._listener())

    def _topics_known(self) -> bool:
        return all(self.consumer.partitions_for_topic(topic) for topic in self.topics)

    def _mark_ready(self) -> None:
        if self.ready.is_set():
            return
        self.ready.set()
        if self.ready_file is not None:
            self.ready_file.parent.mkdir(parents=True, exist_ok=True)
            self.ready_file.write_text("ready\n")
        log.info("%s: ready (partitions assigned: %s)", self.name, sorted(map(str, self.consumer.assignment())))

    # -- main loop -----------------------------------------------------------------------------
    def _wait_for_topics(self, timeout_s: float = 30.0) -> None:
        """Join the group only once this client knows the topics' partitions: a group joined before
        gets no partitions, and a static member (``PANTAU_CONSUMER_INSTANCE_ID``) rejoining would
        keep that empty assignment."""
        deadline = time.monotonic() + timeout_s
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                if self._topics_known():
                    return
            except Exception as exc:  # kafka-python raises several types while the broker is away
                log.info("%s: topic metadata not available yet: %s", self.name, exc)
            self.stop.wait(0.2)
        log.warning(
            "%s: partitions of %s still unknown after %.0f s; joining anyway", self.name, self.topics, timeout_s
        )

    def run(self) -> None:
        try:
            self._run()
        except ConsumerStalled as exc:
            log.error("%s", exc)
            self.exit_code = 3
            raise SystemExit(3) from exc

    def _run(self) -> None:
        self._wait_for_topics()
        self.consumer.subscribe(self.topics, listener=self._listener())
        backoff_s = 0.5
        try:
            while not self.stop.is_set():
                self.heartbeat.beat()
                self._measure_lag()
                batches = self.consumer.poll(timeout_ms=100)
                if not self.ready.is_set():
                    self._check_ready()
                records = [rec for tp in sorted(batches, key=lambda t: (t.topic, t.partition)) for rec in batches[tp]]
                if records:
                    self._last_records_s = time.monotonic()
                self._records_since_status += len(records)
                self._log_status()
                for rec in records:
                    tp = TopicPartition(rec.topic, rec.partition)
                    self._first_uncommitted.setdefault(tp, rec.offset)
                    self._seen_until[tp] = max(self._seen_until.get(tp, 0), rec.offset + 1)
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self._reload()
                try:
                    if records:
                        started_s = time.monotonic()
                        if self._suspects:
                            records = self._isolate(records)
                        if records:
                            self.handler.handle(records)
                        BATCH_SECONDS.labels(self.name).observe(time.monotonic() - started_s)
                        for rec in records:
                            RECORDS.labels(self.name, rec.topic).inc()
                        for rec in records:
                            self._pending[TopicPartition(rec.topic, rec.partition)] = rec.offset + 1
                        # A quiet consumer is one that polls and gets nothing: time spent handling
                        # (or backing off, below) is not quiet.
                        self._last_records_s = time.monotonic()
                    self.handler.tick(time.monotonic())
                    self._commit(force=False)
                    backoff_s = 0.5
                except PERMANENT_ERRORS as exc:
                    if self.dead_letters is None:
                        log.error("%s: permanent failure and no dead-letter sink; retrying: %s", self.name, exc)
                        self._rewind()
                        self.stop.wait(backoff_s)
                        backoff_s = min(backoff_s * 2, self.backoff_max_s)
                        continue
                    # Everything since the last commit may be lost with the failed work: find the record.
                    for tp, until in self._seen_until.items():
                        self._suspects[tp] = max(self._suspects.get(tp, 0), until)
                    log.warning(
                        "%s: a record cannot be processed (%s); handling %s again in halves to isolate it",
                        self.name,
                        exc,
                        {
                            f"{tp.topic}[{tp.partition}]": (self._first_uncommitted.get(tp), until)
                            for tp, until in self._suspects.items()
                        },
                    )
                    self._rewind()
                    self._last_records_s = time.monotonic()
                except TRANSIENT_ERRORS as exc:
                    TRANSIENT_FAILURES.labels(self.name).inc()
                    log.warning("%s: transient failure, retrying in %.1f s: %s", self.name, backoff_s, exc)
                    self._rewind()
                    self.stop.wait(backoff_s)
                    self._last_records_s = time.monotonic()
                    backoff_s = min(backoff_s * 2, self.backoff_max_s)
            self._commit(force=True)
        finally:
            self.consumer.close(autocommit=False)

    def _measure_lag(self) -> None:
        """Consumer lag per partition for ``/metrics``, every ``lag_interval_s`` (it costs a request);
        a stalled consumer (records wait, none arrive) ends the worker."""
        now = time.monotonic()
        if now < self._next_lag_s:
            return
        self._next_lag_s = now + self.lag_interval_s
        assigned = list(self.consumer.assignment())
        if not assigned:
            return
        total = 0
        try:
            ends = self.consumer.end_offsets(assigned)
            for tp in assigned:
                lag = max(0, int(ends[tp]) - int(self.consumer.position(tp, timeout_ms=200)))
                CONSUMER_LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(lag)
                total += lag
        except Exception as exc:  # a metric must never stop the worker (the broker may be away)
            log.debug("%s: lag not measured: %s", self.name, exc)
            return
        if total == 0 or not self.ready.is_set():
            self._last_records_s = now
        elif now - self._last_records_s > self.stall_after_s:
            self._replace_consumer(total, now - self._last_records_s)

    def _replace_consumer(self, waiting: int, quiet_s: float) -> None:
        """A consumer that receives nothing while records wait (kafka-python's fetcher or group
        membership stuck): hand its partitions back as a rebalance would (work not yet committed
        comes again: the sinks are idempotent) and carry on with a fresh consumer of the same
        configuration. After ``max_replacements`` the worker exits instead, for its supervisor."""
        self._replacements += 1
        if self._replacements > self.max_replacements:
            raise ConsumerStalled(
                f"{self.name}: {waiting} records wait but none arrived for {quiet_s:.0f} s, again; "
                "exiting so that a fresh consumer takes over"
            )
        log.error(
            "%s: %d records wait but none arrived for %.0f s; replacing the consumer", self.name, waiting, quiet_s
        )
        assigned = set(self.consumer.assignment())
        self._pending.clear()
        self._first_uncommitted.clear()
        self._seen_until.clear()
        if assigned:
            self.handler.on_revoked(assigned)
        config = {k: v for k, v in getattr(self.consumer, "config", {}).items() if k in KafkaConsumer.DEFAULT_CONFIG}
        with contextlib.suppress(Exception):  # the old one may fail to close cleanly: it is stuck
            self.consumer.close(autocommit=False)
        self.consumer = KafkaConsumer(**config)
        self._assignment_seen = False
        self._resubscribes = 0
        self.consumer.subscribe(self.topics, listener=self._listener())
        self._last_records_s = time.monotonic()

    def serve_ops(self, settings: CommonSettings) -> OpsServer | None:
        """``/metrics``, ``/healthz`` (the loop turns) and ``/readyz`` on ``PANTAU_METRICS_PORT``."""
        return start_ops_server(settings, alive=self.heartbeat.alive, ready=self.ready.is_set)

    def _reload(self) -> None:
        """Has the handler apply the configuration again; a refused one leaves the running one."""
        reload = getattr(self.handler, "reload", None)
        if reload is None:
            log.info("%s: reload requested; nothing here depends on the configuration file", self.name)
            return
        try:
            reload()
        except ConfigError as exc:
            log.error("%s: configuration refused, the running one stays: %s", self.name, exc)
        except Exception:  # a reload must never stop a worker: keep the running configuration
            log.exception("%s: reloading the configuration failed, the running one stays", self.name)
        else:
            log.info("%s: configuration reloaded", self.name)

    def _log_status(self) -> None:
        """A periodic line saying where the worker sits, so an idle worker can be told from a stuck one."""
        now = time.monotonic()
        if now < self._next_status_s:
            return
        self._next_status_s = now + self.status_interval_s
        positions = {}
        for tp in sorted(self.consumer.assignment(), key=lambda t: (t.topic, t.partition)):
            try:
                positions[f"{tp.topic}[{tp.partition}]"] = self.consumer.position(tp, timeout_ms=200)
            except Exception as exc:  # a status line must never stop the worker
                positions[f"{tp.topic}[{tp.partition}]"] = f"unknown ({type(exc).__name__})"
        log.info(
            "%s: %d records since last status; ready=%s; positions %s",
            self.name,
            self._records_since_status,
            self.ready.is_set(),
            positions or "(no partitions assigned)",
        )
        self._records_since_status = 0

    def _rewind(self) -> None:
        """Seek every partition back to its first record whose work may not be durable."""
        assigned = self.consumer.assignment()
        for tp, offset in self._first_uncommitted.items():
            if tp in assigned:
                self.consumer.seek(tp, offset)
        self._pending.clear()
        self._first_uncommitted.clear()
        self._seen_until.clear()

    # -- isolating a record that fails for good ----------------------------------------------------
    def _isolate(self, records: list[Any]) -> list[Any]:
        """Handle the suspect records among ``records`` in halves, each made durable and committed
        before the next; the rest (past the suspects) are returned for the normal path."""
        suspects: list[Any] = []
        rest: list[Any] = []
        for rec in records:
            until = self._suspects.get(TopicPartition(rec.topic, rec.partition), 0)
            (suspects if rec.offset < until else rest).append(rec)
        if suspects:
            self._commit(force=True)  # work before the suspects is kept whatever happens next
            self._halves(suspects)
        for rec in suspects + rest:
            tp = TopicPartition(rec.topic, rec.partition)
            if tp in self._suspects and rec.offset + 1 >= self._suspects[tp]:
                del self._suspects[tp]
        if suspects and not self._suspects:
            log.info("%s: isolation done (%d records dead-lettered so far)", self.name, self.isolated)
        return rest

    def _halves(self, records: list[Any]) -> None:
        assert self.dead_letters is not None
        try:
            self.handler.handle(records)
            self.handler.make_durable()
        except PERMANENT_ERRORS as exc:
            if len(records) > 1:
                middle = len(records) // 2
                self._halves(records[:middle])
                self._halves(records[middle:])
                return
            self.dead_letters.reject_record(records[0], f"cannot be processed: {exc}")
            flush(self.dead_letters.producer, 30)
            self.isolated += 1
        for rec in records:
            self._pending[TopicPartition(rec.topic, rec.partition)] = rec.offset + 1
        self._commit(force=True)

    def _commit(self, *, force: bool) -> None:
        if not self._pending:
            return
        now = time.monotonic()
        if not force and now - self._last_commit_s < self.commit_interval_s:
            return
        self.handler.make_durable()
        offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in self._pending.items()}
        try:
            self.consumer.commit(offsets)
        except Exception as exc:  # kafka-python raises several unrelated types for a failed commit
            raise KafkaError(f"offset commit failed: {exc}") from exc
        self._pending.clear()
        self._first_uncommitted.clear()
        self._last_commit_s = now


def install_signal_handlers(stop: threading.Event, reload: threading.Event | None = None) -> None:
    """SIGTERM and SIGINT end the loop cleanly (work made durable, offsets committed); SIGHUP sets
    ``reload`` (``pantau reload``), and never kills a service that has nothing to reload."""

    def _handler(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    def _reload(_signum: int, _frame: object) -> None:
        if reload is None:
            log.info("SIGHUP: nothing to reload in this service")
        else:
            reload.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGHUP, _reload)


def acknowledge_reloads(service: str, why: str) -> None:
    """For a service with nothing to reload on SIGHUP: log ``why`` instead of dying (SIGHUP's default)."""

    def _handler(_signum: int, _frame: object) -> None:
        log.info("%s: SIGHUP: %s", service, why)

    signal.signal(signal.SIGHUP, _handler)
