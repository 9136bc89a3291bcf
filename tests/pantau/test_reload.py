"""``pantau reload`` on services started by ``pantau up``: a changed configuration (sensor rules,
alerting SOPs) is applied without a restart and without losing detector or alert state; an invalid
one is refused with the reason and the running one stays."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from kafka import KafkaProducer
from psycopg import sql

from pantau.auth import Role, issue_token
from pantau.stack import Stack
from pantau.supervisor import Supervisor
from tests.pantau.test_cli import _pids, pantau
from tests.pipeline import free_port

pytestmark = pytest.mark.integration

SECRET = "r" * 40
V1 = """
sensor_rules:
  - {name: flood, kind: water_level, above: 2.5, clear_below: 2.0, severity: critical}
"""
# The flood threshold is lowered, a smoke rule is added, and floods get a required SOP step.
V2 = """
sensor_rules:
  - {name: flood, kind: water_level, above: 1.5, clear_below: 1.0, severity: critical}
  - {name: fire, kind: smoke, above: 0.3, severity: critical}
alerting:
  sop:
    water_level_high:
      - {id: call-river-post, text: {en: Call the river post, id: Hubungi pos pantau sungai}}
"""


class Instance:
    """Services of one ``pantau up --instance`` on the local stack, with their own topics and schema."""

    def __init__(self, stack: Stack, tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.stack, self.name, self.prefix, self.schema = stack, f"r{tag}", f"rl{tag}.", f"rl_{tag}"
        self.alerting_port = free_port()
        self.env = dict(
            os.environ,
            PANTAU_TOPIC_PREFIX=self.prefix,
            PANTAU_DB_SCHEMA=self.schema,
            PANTAU_TOKEN_SECRET=SECRET,
            PANTAU_CONSOLE_PORT=str(free_port()),
            PANTAU_INGEST_PORT=str(free_port()),
            PANTAU_ALERTING_PORT=str(self.alerting_port),
            PANTAU_ALERTING_URL=f"http://127.0.0.1:{self.alerting_port}",
            PANTAU_REPORTS_DIR=str(tmp_path / "reports"),
        )
        self.config = tmp_path / "pantau.yaml"
        self.producer = KafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")

    def up(self) -> None:
        done = pantau("up", "--instance", self.name, "--config", str(self.config), env=self.env)
        assert done.returncode == 0, done.stderr

    def reloads_logged(self, service: str) -> int:
        log = Supervisor(self.stack, instance=self.name).log_dir / f"{service}.log"
        return log.read_text(errors="replace").count("configuration reloaded")

    def pids(self) -> dict[str, int]:
        return _pids(pantau("status", "--instance", self.name, "--pids", env=self.env).stdout)

    def reading(self, sensor: str, kind: str, value: float, ts: datetime) -> None:
        body = {"sensor_id": sensor, "kind": kind, "value": value, "unit": "m" if kind == "water_level" else "ratio"}
        self.producer.send(
            f"{self.prefix}pantau.sensor-readings.v1",
            key=sensor.encode(),
            value=orjson.dumps({**body, "ts": ts.isoformat()}),
        ).get(10)

    def query(self, text: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.stack.settings.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            try:
                return conn.execute(text, params).fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    def wait(self, condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
            time.sleep(0.2)

    def close(self) -> None:
        self.producer.close()
        pantau("down", "--instance", self.name, env=self.env)
        with psycopg.connect(self.stack.settings.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))


@pytest.fixture
def instance(stack: Stack, tmp_path: Path) -> Iterator[Instance]:
    made = Instance(stack, tmp_path)
    try:
        yield made
    finally:
        made.close()


def _reloaded_once(instance: Instance, service: str) -> bool:
    return instance.reloads_logged(service) == 1


def test_reload_applies_rules_and_sops_keeping_state_and_refuses_a_bad_file(instance: Instance) -> None:
    instance.config.write_text(V1)
    instance.up()
    before = instance.pids()
    t0 = datetime.now(UTC) - timedelta(minutes=30)

    # Under V1: gauge-1 at 3.0 raises a flood; gauge-2 at 2.0 is below the threshold.
    instance.reading("gauge-1", "water_level", 3.0, t0)
    instance.reading("gauge-2", "water_level", 2.0, t0)
    raised = "SELECT source FROM incidents WHERE phase = 'raised' ORDER BY source"
    instance.wait(lambda: instance.query(raised) == [("gauge-1",)], "the V1 flood")

    instance.config.write_text(V2)
    reloaded = pantau("reload", "--instance", instance.name, env=instance.env)
    assert reloaded.returncode == 0, reloaded.stderr
    for service in ("detectors", "alerting", "archiver", "camera-health", "camera-detectors", "camera-ingest"):
        # each applies it between two batches (every 100 ms when idle)
        instance.wait(partial(_reloaded_once, instance, service), f"{service} reloaded")

    # The new threshold and the new rule apply; gauge-1's open flood episode was kept (no second raise).
    instance.reading("gauge-1", "water_level", 3.2, t0 + timedelta(seconds=10))
    instance.reading("gauge-2", "water_level", 2.0, t0 + timedelta(seconds=10))
    instance.reading("smoke-1", "smoke", 0.8, t0 + timedelta(seconds=10))
    instance.wait(
        lambda: instance.query(raised) == [("gauge-1",), ("gauge-2",), ("smoke-1",)],
        "the V2 flood of gauge-2 and the smoke alert",
    )
    time.sleep(1)
    assert instance.query(raised) == [("gauge-1",), ("gauge-2",), ("smoke-1",)]  # gauge-1 once only

    # Alerting took the new SOP: resolving gauge-2's flood needs the river post called first.
    rows = instance.query("SELECT id, version FROM alerts WHERE source = 'gauge-2'")
    assert len(rows) == 1
    alert_id, version = rows[0]
    token = issue_token(SECRET, Role.operator, "ani")
    with httpx.Client(
        base_url=f"http://127.0.0.1:{instance.alerting_port}", headers={"Authorization": f"Bearer {token}"}
    ) as api:
        refused = api.post(f"/api/v1/alerts/{alert_id}/resolve", json={"version": version})
        assert refused.status_code == 409 and "call-river-post" in refused.text, refused.text
        checked = api.post(f"/api/v1/alerts/{alert_id}/sop", json={"step": "call-river-post"})
        assert checked.status_code == 200, checked.text
        done = api.post(f"/api/v1/alerts/{alert_id}/resolve", json={"version": checked.json()["version"]})
        assert done.status_code == 200, done.text

    # An invalid file is refused with the reason; the services keep running on V2.
    instance.config.write_text(V2.replace("above: 0.3", "abvoe: 0.3"))
    bad = pantau("reload", "--instance", instance.name, env=instance.env)
    assert bad.returncode == 1 and "abvoe" in bad.stderr
    assert instance.pids() == before  # nothing restarted, by reload or by SIGHUP
    instance.reading("smoke-2", "smoke", 0.9, t0 + timedelta(seconds=20))
    instance.wait(lambda: ("smoke-2",) in instance.query(raised), "a smoke alert on the running V2")
