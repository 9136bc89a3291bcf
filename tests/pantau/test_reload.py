"""``pantau reload`` on services started by ``pantau up``: a changed configuration (sensor rules,
alerting SOPs) is applied without a restart and without losing detector or alert state; an invalid
one is refused with the reason and the running one stays."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
import orjson
import pytest

from pantau.auth import Role
from tests.pantau.test_cli import _pids, pantau
from tests.supervised import Supervised

pytestmark = pytest.mark.integration

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


def _reloaded_once(instance: Supervised, service: str) -> bool:
    return instance.log(service).count("configuration reloaded") == 1


def _reading(instance: Supervised, sensor: str, kind: str, value: float, ts: datetime) -> None:
    body = {"sensor_id": sensor, "kind": kind, "value": value, "unit": "m" if kind == "water_level" else "ratio"}
    instance.producer.send(
        instance.topic("pantau.sensor-readings.v1"),
        key=sensor.encode(),
        value=orjson.dumps({**body, "ts": ts.isoformat()}),
    ).get(10)


def _pantau(instance: Supervised, *args: str) -> subprocess.CompletedProcess[str]:
    return pantau(*args, "--instance", instance.name, env={**os.environ, **instance.env})


def test_reload_applies_rules_and_sops_keeping_state_and_refuses_a_bad_file(
    supervised_factory: Callable[..., Supervised],
) -> None:
    instance = supervised_factory(V1)
    instance.up()
    before = _pids(_pantau(instance, "status", "--pids").stdout)
    t0 = datetime.now(UTC) - timedelta(minutes=30)

    # Under V1: gauge-1 at 3.0 raises a flood; gauge-2 at 2.0 is below the threshold.
    _reading(instance, "gauge-1", "water_level", 3.0, t0)
    _reading(instance, "gauge-2", "water_level", 2.0, t0)
    raised = "SELECT source FROM incidents WHERE phase = 'raised' ORDER BY source"
    instance.wait(lambda: instance.query(raised) == [("gauge-1",)], "the V1 flood")

    instance.config.write_text(V2)
    reloaded = _pantau(instance, "reload")
    assert reloaded.returncode == 0, reloaded.stderr
    for service in ("detectors", "alerting", "archiver", "camera-health", "camera-detectors", "camera-ingest"):
        # each applies it between two batches (every 100 ms when idle)
        instance.wait(partial(_reloaded_once, instance, service), f"{service} reloaded")

    # The new threshold and the new rule apply; gauge-1's open flood episode was kept (no second raise).
    _reading(instance, "gauge-1", "water_level", 3.2, t0 + timedelta(seconds=10))
    _reading(instance, "gauge-2", "water_level", 2.0, t0 + timedelta(seconds=10))
    _reading(instance, "smoke-1", "smoke", 0.8, t0 + timedelta(seconds=10))
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
    token = instance.token(Role.operator, "ani")
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
    bad = _pantau(instance, "reload")
    assert bad.returncode == 1 and "abvoe" in bad.stderr
    assert _pids(_pantau(instance, "status", "--pids").stdout) == before  # nothing restarted, by reload or by SIGHUP
    _reading(instance, "smoke-2", "smoke", 0.9, t0 + timedelta(seconds=20))
    instance.wait(lambda: ("smoke-2",) in instance.query(raised), "a smoke alert on the running V2")
