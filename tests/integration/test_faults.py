"""Faults under load, with the services as ``pantau up`` runs them: ``kill -9`` of every service in
turn while readings (through the HTTP ingest API) and camera frames flow. The supervisor starts each
again; nothing accepted is lost or duplicated, counted in TimescaleDB against what was produced."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from detectors.demo_cameras import demo_config
from pantau.auth import Role
from pantau.supervisor import SERVICES
from tests.supervised import Supervised

pytestmark = [pytest.mark.integration, pytest.mark.fault]

SENSORS = 40
TRIGGER_EVERY = 20  # reading 0 of every 20 of a sensor rises above the threshold, reading 1 clears it
BATCH = SENSORS  # one reading of each gauge per request
RULES = "sensor_rules:\n  - {name: flood, kind: water_level, above: 2.5, clear_below: 2.0, severity: critical}\n"


@dataclass
class Load:
    """Readings posted to the ingest API as a sensor gateway would: a refused or failed batch is sent
    again until it is accepted (202)."""

    url: str
    token: str
    rate_per_s: float
    stop: threading.Event = field(default_factory=threading.Event)
    accepted: int = 0
    retries: int = 0
    refusals: dict[int, int] = field(default_factory=dict)

    def run(self) -> None:
        base = datetime.now(UTC) - timedelta(hours=2)
        start, n = time.monotonic(), 0
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=15) as client:
            while not self.stop.is_set():
                batch = []
                for _ in range(BATCH):
                    sensor, seq = n % SENSORS, n // SENSORS
                    batch.append(
                        {
                            "sensor_id": f"gauge-{sensor:03d}",
                            "kind": "water_level",
                            "value": 3.0 if seq % TRIGGER_EVERY == 0 else 1.0,
                            "unit": "m",
                            "ts": (base + timedelta(seconds=seq)).isoformat(),
                        }
                    )
                    n += 1
                self._post(client, batch)
                delay = start + n / self.rate_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def _post(self, client: httpx.Client, batch: list[dict[str, object]]) -> None:
        while True:
            try:
                answer = client.post("/api/v1/readings", json=batch)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code == 202:
                self.accepted += len(batch)
                return
            if answer is not None:
                self.refusals[answer.status_code] = self.refusals.get(answer.status_code, 0) + 1
                assert answer.status_code == 503, answer.text  # only "Kafka unavailable" may refuse good data
            self.retries += 1
            time.sleep(0.2)


def test_kill_9_of_every_service_under_load_loses_and_duplicates_nothing(
    supervised_factory: Callable[..., Supervised], tmp_path: Path
) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(RULES)
    # Two cameras playing looped synthetic scenes in real time: frames flow the whole time.
    config = demo_config(base, tmp_path / "cameras")
    pantau = supervised_factory(config.read_text())
    pantau.up()
    load = Load(f"http://127.0.0.1:{pantau.ingest_port}", pantau.token(Role.ingest, "gateway"), rate_per_s=400)
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
    total = load.accepted
    per_sensor = total // SENSORS
    raises = SENSORS * ((per_sensor + TRIGGER_EVERY - 1) // TRIGGER_EVERY)
    clears = SENSORS * ((per_sensor - 1 + TRIGGER_EVERY - 1) // TRIGGER_EVERY)  # reading 1 of each 20
    sensor = "source_kind = 'sensor'"
    gauges = "alert_id IN (SELECT id FROM alerts WHERE source LIKE 'gauge-%%')"

    def caught_up() -> bool:
        return (
            pantau.count("sensor_readings") == total
            and pantau.count("incidents", sensor) == raises + clears
            and pantau.count("alert_incidents", gauges) == raises + clears
        )

    try:
        pantau.wait(caught_up, "the pipeline catching up", timeout_s=90)
    except AssertionError:
        found = (
            pantau.count("sensor_readings"),
            pantau.count("incidents", sensor),
            pantau.count("alert_incidents", gauges),
        )
        logs = "\n".join(f"--- {n}\n{pantau.log(n)[-2500:]}" for n in ("archiver", "detectors", "alerting"))
        raise AssertionError(
            f"counts {found}, expected ({total}, {raises + clears}, {raises + clears})\n{logs}"
        ) from None
    assert total % SENSORS == 0 and total >= 5_000
    assert pantau.count("sensor_readings") == total  # every accepted reading once
    assert pantau.count("incidents", f"{sensor} AND phase = 'raised'") == raises
    assert pantau.count("incidents", f"{sensor} AND phase = 'cleared'") == clears
    # Alerting applied every incident exactly once: one alert per gauge, counting each raise.
    assert pantau.count("alerts", "source LIKE 'gauge-%%'") == SENSORS
    assert pantau.count("alerts", "source LIKE 'gauge-%%' AND count = %s", raises // SENSORS) == SENSORS
    assert pantau.count("alert_incidents", gauges) == raises + clears
    # The camera path came back too: camera incidents after camera-detectors' restart.
    assert pantau.count("incidents", "source_kind = 'camera' AND detected_at > now() - interval '40 seconds'") > 0
    for name in SERVICES:
        assert pantau.states()[name].restarts == 1, name
