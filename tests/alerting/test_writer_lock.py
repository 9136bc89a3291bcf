"""One alerting writer at a time: a second process waits as a standby (not ready, no API) and takes
over when the writer is killed; a writer whose lock connection broke takes the lock again, unless
another process got it meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from kafka import KafkaProducer

from alerting.writer_lock import WriterLock
from tests.integration.test_scale_out import _incident
from tests.pipeline import Pipeline, free_port


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what} did not happen in {timeout_s} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _produce(pipeline: Pipeline, numbers: range) -> None:
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    for n in numbers:
        producer.send(pipeline.topic("pantau.incidents.v1"), key=f"gauge-{n}".encode(), value=_incident(n))
    producer.flush()
    producer.close()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.integration
def test_a_second_alerting_waits_and_takes_over_when_the_writer_dies(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory("alerting: {corroboration_window_s: 0}\n", services=("alerting",))
    standby_port = free_port()
    pipeline.start("alerting-2", service="alerting", wait=False, PANTAU_ALERTING_PORT=str(standby_port))
    _wait(lambda: "standby" in pipeline.log_tail("alerting-2"), 60, "the second alerting saying it waits")
    assert pipeline.procs["alerting-2"].poll() is None
    assert not pipeline.ready_file("alerting-2").exists() and not _answers(standby_port)

    _produce(pipeline, range(5))
    assert pipeline.wait_count("alerts", 5) == 5
    assert pipeline.count("alert_history", "change = 'opened'") == 5
    assert not pipeline.ready_file("alerting-2").exists()  # still waiting while the writer works

    pipeline.kill("alerting")  # kill -9: its session ends and the lock with it
    took_s = _wait(lambda: pipeline.ready_file("alerting-2").exists(), 60, "the standby taking over")
    assert _answers(standby_port)
    _produce(pipeline, range(5, 10))
    assert pipeline.wait_count("alerts", 10) == 10
    assert pipeline.count("alert_history", "change = 'opened'") == 10
    print(f"standby ready {took_s:.1f} s after the writer was killed")


@pytest.mark.integration
def test_a_writer_takes_its_lock_again_unless_another_got_it(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(services=())
    first, second = WriterLock(pipeline.settings), WriterLock(pipeline.settings)
    try:
        assert first.try_acquire() and not second.try_acquire()
        assert first.holds() is True

        def cut(lock: WriterLock) -> None:
            assert lock._conn is not None
            pid = lock._conn.info.backend_pid
            with pipeline.db() as conn:
                # pg_terminate_backend only signals: the session (and its lock) ends a moment later.
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                _wait(
                    lambda: (
                        conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() == (0,)
                    ),
                    10,
                    "the cut session to end",
                )

        # The writer's connection is cut while nobody else wants the lock: it takes it again.
        cut(first)
        assert first.holds() is True and not second.try_acquire()
        # Cut again, and the standby is quicker: the old writer learns it is no longer the writer.
        cut(first)
        assert second.try_acquire()
        assert first.holds() is False
        second.close()
        assert first.holds() is True
    finally:
        first.close()
        second.close()
