"""Outages of the stack itself, on a private Kafka broker and PostgreSQL (so the shared stack and
other tests are untouched): the broker stopped for 30 s and PostgreSQL stopped for 60 s while
readings flow through the HTTP ingest API. Ingest answers 503 with Retry-After rather than drop
anything; the workers back off without committing and catch up; the live console keeps serving the
alerts it has from Kafka while the database is away."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from pantau.auth import Role
from pantau.stack import Stack
from tests.supervised import FLOOD_RULE, ReadingLoad, Supervised, assert_stored_exactly_once

pytestmark = [pytest.mark.integration, pytest.mark.fault]

SERVICES = ("archiver", "alerting", "detectors", "ingest-api", "console")


@pytest.fixture
def private_stack(private_stack_factory: Callable[[], Stack]) -> Stack:
    return private_stack_factory()


def _running(pantau: Supervised) -> None:
    """Every service ready, and none died of the outage: the only restart allowed is a worker's own
    exit when kafka-python's fetcher stayed stuck after the broker came back (pantau/worker.py)."""
    states = pantau.states()
    assert all(s.ready for s in states.values()), states
    for name, state in states.items():
        if state.restarts:
            assert state.last_exit == 3 and "exiting so that a fresh consumer takes over" in pantau.log(name), name
            print(f"{name} restarted {state.restarts}x after its consumer stalled")


def test_kafka_down_for_30_s_ingest_refuses_with_503_and_everything_catches_up(
    private_stack: Stack, tmp_path: Path
) -> None:
    pantau = Supervised(private_stack, tmp_path / "svc", FLOOD_RULE, SERVICES)
    try:
        pantau.up()
        load = ReadingLoad(f"http://127.0.0.1:{pantau.ingest_port}", pantau.token(Role.ingest, "gw"), rate_per_s=200)
        producer = threading.Thread(target=load.run)
        producer.start()
        try:
            time.sleep(5)
            private_stack.kafka.down()
            stopped = time.monotonic()
            # While the broker is away, a new batch is refused with 503 and Retry-After, never accepted.
            probe = {"sensor_id": "probe", "kind": "water_level", "value": 1.0, "unit": "m"}
            probe["ts"] = datetime.now(UTC).isoformat()
            headers = {"Authorization": f"Bearer {pantau.token(Role.ingest, 'probe')}"}
            url = f"http://127.0.0.1:{pantau.ingest_port}/api/v1/readings"
            with httpx.Client(timeout=30, headers=headers) as client:
                answer = client.post(url, json=probe)
                assert answer.status_code == 503 and answer.headers["Retry-After"], answer.text
                time.sleep(max(0.0, 30 - (time.monotonic() - stopped)))
                private_stack.kafka.up()
                # As the client is told: the same reading again, until accepted. Refused readings may
                # still reach Kafka once the broker is back; the archive keeps one per (sensor, ts).
                deadline = time.monotonic() + 60
                while client.post(url, json=probe).status_code != 202:
                    assert time.monotonic() < deadline, "ingest never accepted again"
                    time.sleep(1)
            time.sleep(5)
        finally:
            load.stop.set()
            producer.join(timeout=60)
        print(f"\nreadings accepted {load.accepted}, batches retried {load.retries}, refusals {load.refusals}")
        assert load.refusals.get(503, 0) > 0 or load.retries > 0  # the gateway was told to come back
        assert_stored_exactly_once(pantau, load, timeout_s=120, other_readings=1)
        assert pantau.count("sensor_readings", "sensor_id = 'probe'") == 1
        _running(pantau)  # no service died of the outage
    finally:
        pantau.close()


def test_postgres_down_for_60_s_workers_back_off_and_the_console_keeps_the_live_alerts(
    private_stack: Stack, tmp_path: Path
) -> None:
    pantau = Supervised(private_stack, tmp_path / "svc", FLOOD_RULE, SERVICES)
    try:
        pantau.up()
        load = ReadingLoad(f"http://127.0.0.1:{pantau.ingest_port}", pantau.token(Role.ingest, "gw"), rate_per_s=200)
        producer = threading.Thread(target=load.run)
        producer.start()
        try:
            pantau.wait(lambda: pantau.count("alerts") == 40, "the first alerts", timeout_s=60)
            private_stack.postgres.down()
            stopped = time.monotonic()
            # The console's live feed comes from Kafka: a client connecting now gets every alert.
            token = pantau.token(Role.operator, "ani")
            with ws_connect(f"ws://127.0.0.1:{pantau.console_port}/ws/alerts?token={token}", open_timeout=30) as ws:
                snapshot = json.loads(ws.recv(timeout=30))
            assert snapshot["type"] == "snapshot"
            assert len({a["source"] for a in snapshot["alerts"]}) == 40
            time.sleep(max(0.0, 60 - (time.monotonic() - stopped)))
            private_stack.postgres.up()
            time.sleep(10)
        finally:
            load.stop.set()
            producer.join(timeout=60)
        print(f"\nreadings accepted {load.accepted}, batches retried {load.retries}, refusals {load.refusals}")
        assert load.accepted >= 40 * 100  # ingest kept accepting: it needs Kafka only
        assert_stored_exactly_once(pantau, load, timeout_s=180)
        _running(pantau)
    finally:
        pantau.close()
