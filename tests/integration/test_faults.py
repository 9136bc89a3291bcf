"""Faults under load, with the services as ``pantau up`` runs them: ``kill -9`` of every service in
turn while readings (through the HTTP ingest API) and camera frames flow. The supervisor starts each
again; nothing accepted is lost or duplicated, counted in TimescaleDB against what was produced."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from detectors.demo_cameras import demo_config
from pantau.auth import Role
from pantau.supervisor import SERVICES
from tests.supervised import FLOOD_RULE, ReadingLoad, Supervised, assert_stored_exactly_once

pytestmark = [pytest.mark.integration, pytest.mark.fault]


def test_kill_9_of_every_service_under_load_loses_and_duplicates_nothing(
    supervised_factory: Callable[..., Supervised], tmp_path: Path
) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(FLOOD_RULE)
    # Two cameras playing looped synthetic scenes in real time: frames flow the whole time.
    config = demo_config(base, tmp_path / "cameras")
    pantau = supervised_factory(config.read_text())
    pantau.up()
    load = ReadingLoad(f"http://127.0.0.1:{pantau.ingest_port}", pantau.token(Role.ingest, "gateway"), rate_per_s=400)
    producer = threading.Thread(target=load.run)
    producer.start()
    recovered_s: dict[str, float] = {}
    try:
        time.sleep(4)
        for name in SERVICES:
            before = pantau.states()[name]
            assert before.ready and before.pid is not None, f"{name} not ready before its kill"
            os.kill(before.pid, signal.SIGKILL)
            killed = time.monotonic()
            while True:
                now = pantau.states()[name]
                if now.ready and now.pid not in (None, before.pid):
                    break
                assert time.monotonic() - killed < 60, f"{name} not back:\n{pantau.log(name)[-3000:]}"
                time.sleep(0.05)
            recovered_s[name] = time.monotonic() - killed
            time.sleep(3)
    finally:
        load.stop.set()
        producer.join(timeout=60)
    print(f"\nrecovery after kill -9 (s): { ({k: round(v, 1) for k, v in recovered_s.items()}) }")
    print(f"readings accepted {load.accepted}, batches retried {load.retries}, refusals {load.refusals}")

    # Each was ready again well within 10 s (static group membership: no rebalance wait).
    assert max(recovered_s.values()) < 10, recovered_s
    assert load.accepted >= 5_000
    assert_stored_exactly_once(pantau, load)
    # The camera path came back too: camera incidents after camera-detectors' restart.
    assert pantau.count("incidents", "source_kind = 'camera' AND detected_at > now() - interval '40 seconds'") > 0
    for name in SERVICES:
        assert pantau.states()[name].restarts == 1, name
