"""The spine end to end, through the real Kafka broker and TimescaleDB.

A reading produced by a plain Kafka client (not Pantau's code) for a configured rule must reach an
operator's websocket as an alert within a second and land as rows in TimescaleDB.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaProducer
from websockets.sync.client import connect as ws_connect

from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

RIVER_CONFIG = """
timezone: Asia/Jakarta
sensors:
  - {id: wl-brantas-01, kind: water_level, location: {lat: -7.98, lon: 112.63, district: Klojen}, interval_s: 60}
sensor_rules:
  - {name: river-flood, kind: water_level, above: 2.5, for_s: 0, severity: critical}
"""


def raw_producer(pipeline: Pipeline) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=0)


def reading(value: float, ts: datetime, sensor_id: str = "wl-brantas-01") -> bytes:
    return json.dumps(
        {
            "sensor_id": sensor_id,
            "kind": "water_level",
            "value": value,
            "unit": "m",
            "ts": ts.isoformat(),
            "ignored_extra": "ok",
        }
    ).encode()


def ws_url(pipeline: Pipeline, token: str) -> str:
    return f"ws://127.0.0.1:{pipeline.console_port}/ws/alerts?token={token}"


def recv_json(ws: Any, timeout_s: float) -> dict[str, Any]:
    """The next message that is not a heartbeat, within ``timeout_s`` in all."""
    deadline = time.monotonic() + timeout_s
    while True:
        msg = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if msg["type"] != "heartbeat":
            return msg  # type: ignore[no-any-return]


def alerts_of(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """The alert changes a feed message carries (one, or several when the client lagged)."""
    if msg["type"] == "alert":
        return [msg["alert"]]
    assert msg["type"] == "alerts", msg
    return list(msg["alerts"])


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def test_reading_from_outside_client_becomes_alert_on_websocket_and_rows(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(RIVER_CONFIG)
    producer = raw_producer(pipeline)
    topic = pipeline.topic("pantau.sensor-readings.v1")
    now = datetime.now(UTC)
    with ws_connect(ws_url(pipeline, pipeline.token(Role.operator, "ani")), open_timeout=30) as ws:
        snapshot = recv_json(ws, 10)
        assert snapshot == {"type": "snapshot", "seq": -1, "alerts": []}  # nothing on the alerts topic yet

        producer.send(topic, key=b"wl-brantas-01", value=reading(1.2, now - timedelta(seconds=2))).get(10)
        sent_at = time.monotonic()
        producer.send(topic, key=b"wl-brantas-01", value=reading(2.71, now)).get(10)
        msg = recv_json(ws, 5)
        latency_s = time.monotonic() - sent_at
        assert msg["type"] == "alert" and msg["seq"] == 0  # the first record of the alerts topic
        alert = msg["alert"]
        assert latency_s < 1.0, f"alert took {latency_s:.3f} s"
        assert alert["status"] == "new"
        assert alert["priority"] == 1
        assert alert["source"] == "wl-brantas-01"
        assert alert["type"] == "water_level_high"
        assert alert["count"] == 1 and alert["version"] == 1
        assert alert["location"]["district"] == "Klojen"  # taken from the sensor registry

        # A second reading above the threshold after clearing repeats onto the same open alert.
        producer.send(topic, key=b"wl-brantas-01", value=reading(2.0, now + timedelta(seconds=1))).get(10)
        producer.send(topic, key=b"wl-brantas-01", value=reading(2.9, now + timedelta(seconds=2))).get(10)
        # Alerting publishes an alert's latest state per batch, so the clear and the repeat may arrive
        # as one change or two; either way the last one is version 3.
        changes = alerts_of(recv_json(ws, 5))
        while changes[-1]["version"] < 3:
            changes.extend(alerts_of(recv_json(ws, 5)))
        assert {c["id"] for c in changes} == {alert["id"]}
        assert changes[-1]["version"] == 3
        assert changes[-1]["count"] == 2 and changes[-1]["condition_active"] is True

    wait_for(lambda: pipeline.count("sensor_readings") == 4, 60, "4 readings stored")
    wait_for(lambda: pipeline.count("incidents") == 3, 60, "3 incidents stored (raised, cleared, raised)")
    assert pipeline.count("alerts") == 1
    assert pipeline.count("alerts", "status = 'new' AND count = 2") == 1
    assert pipeline.count("alert_history") == 3  # opened, cleared, repeated
    assert pipeline.count("sensor_readings", "district = 'Klojen'") == 4


def test_websocket_refuses_missing_bad_and_unauthorised_tokens(pipeline_factory: Callable[..., Pipeline]) -> None:
    from websockets.exceptions import InvalidStatus

    pipeline = pipeline_factory(RIVER_CONFIG, services=("console",))
    base = f"ws://127.0.0.1:{pipeline.console_port}/ws/alerts"
    cases = [(base, 401), (base + "?token=garbage", 401), (ws_url(pipeline, pipeline.token(Role.planner)), 403)]
    for url, expected in cases:
        with pytest.raises(InvalidStatus) as err:
            ws_connect(url, open_timeout=30)
        assert err.value.response.status_code == expected, url


def test_silent_sensor_is_raised_by_the_timer_and_cleared_by_its_next_reading(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    config = """
sensors:
  - {id: rg-sukun-01, kind: rainfall, location: {lat: -8.0, lon: 112.61, district: Sukun}, interval_s: 1}
sensor_rules:
  - {name: gauge-silent, type: silent, kind: rainfall, after_s: 2, severity: medium}
"""
    pipeline = pipeline_factory(config, services=("archiver", "alerting", "detectors"))
    producer = raw_producer(pipeline)
    topic = pipeline.topic("pantau.sensor-readings.v1")

    def rain(ts: datetime) -> bytes:
        return json.dumps(
            {"sensor_id": "rg-sukun-01", "kind": "rainfall", "value": 3.0, "unit": "mm/h", "ts": ts.isoformat()}
        ).encode()

    producer.send(topic, key=b"rg-sukun-01", value=rain(datetime.now(UTC))).get(10)
    # No reading follows: only the detectors' timer can raise this one.
    wait_for(lambda: pipeline.count("alerts", "type = 'sensor_silent' AND priority = 3") == 1, 60, "silent alert")
    assert pipeline.count("alerts", "district = 'Sukun'") == 1
    producer.send(topic, key=b"rg-sukun-01", value=rain(datetime.now(UTC))).get(10)
    wait_for(lambda: pipeline.count("alerts", "(doc->>'condition_active')::boolean = false") == 1, 60, "cleared")
    wait_for(lambda: pipeline.count("incidents", "type = 'sensor_silent'") == 2, 60, "raised and cleared stored")
