"""``/metrics``, ``/healthz`` and ``/readyz`` of every service ``pantau up`` runs, on the ports the
supervisor gives them: the figures follow what flowed through the pipeline."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from pantau.auth import Role
from tests.supervised import FLOOD_RULE, SENSORS, Supervised

pytestmark = pytest.mark.integration

SERVICES = ("archiver", "alerting", "detectors", "ingest-api", "mqtt-bridge", "console")


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` of a Prometheus text page (the labels given must all match)."""
    total = None
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    assert total is not None, f"no {name}{labels} in:\n{text[:3000]}"
    return total


def test_every_service_serves_metrics_and_probes_that_follow_the_traffic(
    supervised_factory: Callable[..., Supervised],
) -> None:
    pantau = supervised_factory(FLOOD_RULE, SERVICES)
    pantau.up()
    ports = {name: state.metrics_port for name, state in pantau.states().items()}
    assert all(ports.values()), ports
    base = "2026-11-28T00:00:{:02d}+00:00"
    readings = [
        {"sensor_id": f"gauge-{n:03d}", "kind": "water_level", "value": 3.0 if s == 0 else 1.0, "unit": "m",
         "ts": base.format(s)}
        for s in range(3) for n in range(SENSORS)
    ]  # fmt: skip
    token = pantau.token(Role.ingest, "gw")
    with httpx.Client(timeout=15) as client:
        posted = client.post(
            f"http://127.0.0.1:{pantau.ingest_port}/api/v1/readings",
            json=readings,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert posted.status_code == 202, posted.text
        pantau.wait(lambda: pantau.count("alerts") == SENSORS and pantau.count("sensor_readings") == 120, "the alerts")
        operator = pantau.token(Role.operator, "ani")
        with ws_connect(f"ws://127.0.0.1:{pantau.console_port}/ws/alerts?token={operator}", open_timeout=30) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "snapshot"
            console = client.get(f"http://127.0.0.1:{ports['console']}/metrics").text
        time.sleep(11)  # the workers measure their lag every 10 s
        pages = {name: client.get(f"http://127.0.0.1:{port}/metrics") for name, port in ports.items()}
        for name, port in ports.items():
            assert pages[name].status_code == 200 and pages[name].headers["content-type"].startswith("text/plain")
            assert client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200, name
            assert client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200, name
            assert client.get(f"http://127.0.0.1:{port}/nothing").status_code == 404

    text = {name: page.text for name, page in pages.items()}
    assert _value(text["ingest-api"], "pantau_readings_accepted_total", via="http") == 120
    assert _value(text["archiver"], "pantau_records_consumed_total", worker="archiver") >= 120 + 80
    # Every gauge rose once (reading 0) and cleared once (reading 1).
    flood = {"stage": "detectors.sensor-rules", "type": "water_level_high"}
    assert _value(text["detectors"], "pantau_incidents_total", phase="raised", **flood) == SENSORS
    assert _value(text["detectors"], "pantau_incidents_total", phase="cleared", **flood) == SENSORS
    # One published version per alert at least (a raise and its clear in one batch publish the last)
    assert _value(text["alerting"], "pantau_alert_changes_total") >= SENSORS
    # Caught up: no consumer lag left in any group.
    for name in ("archiver", "alerting", "detectors"):
        assert _value(text[name], "pantau_consumer_lag_records") == 0, name
        assert _value(text[name], "pantau_batch_seconds_count") > 0, name
    assert _value(console, "pantau_websocket_clients") == 1
    # A client that left is counted out when the console next writes to it (a heartbeat at the latest).
    url = f"http://127.0.0.1:{ports['console']}/metrics"
    pantau.wait(lambda: _value(httpx.get(url).text, "pantau_websocket_clients") == 0, "the client counted out")
