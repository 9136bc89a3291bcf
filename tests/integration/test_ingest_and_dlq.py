"""Sensor ingest over HTTP, and dead-lettering of bad input on the endpoint and on the topic."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from pantau.auth import Role, issue_token
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

CONFIG = "sensor_rules:\n  - {name: smoke-school, kind: smoke, above: 0.3, severity: critical}\n"


def smoke(value: float, ts: datetime, sensor: str = "smk-sman3") -> dict[str, Any]:
    return {
        "sensor_id": sensor,
        "kind": "smoke",
        "value": value,
        "unit": "ratio",
        "ts": ts.isoformat(),
        "location": {"lat": -7.97, "lon": 112.63, "district": "Klojen"},
    }


def test_post_readings_single_and_batch_reach_timescaledb(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "alerting", "detectors", "ingest-api"))
    url = f"http://127.0.0.1:{pipeline.ingest_port}/api/v1/readings"
    headers = {"Authorization": f"Bearer {pipeline.token(Role.ingest, 'gateway-1')}"}
    now = datetime.now(UTC)
    one = httpx.post(url, json=smoke(0.05, now - timedelta(seconds=10)), headers=headers)
    assert one.status_code == 202 and one.json() == {"accepted": 1}
    batch = [smoke(0.05 + i / 100, now - timedelta(seconds=9 - i)) for i in range(5)] + [smoke(0.6, now)]
    many = httpx.post(url, json=batch, headers=headers)
    assert many.status_code == 202 and many.json() == {"accepted": 6}
    # Replaying the same batch stores nothing twice: a reading's identity is (sensor_id, ts).
    assert httpx.post(url, json=batch, headers=headers).status_code == 202
    deadline = time.monotonic() + 60
    while pipeline.count("alerts") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pipeline.wait_count("sensor_readings", 7) == 7
    assert pipeline.wait_count("incidents", 1, "type = 'smoke_high' AND phase = 'raised'") == 1
    time.sleep(1.0)  # the replayed batch has been consumed by now: still one row per reading
    assert pipeline.count("sensor_readings") == 7
    assert pipeline.count("alerts", "priority = 1 AND district = 'Klojen'") == 1


def test_bad_http_input_gets_clear_4xx_and_a_dead_letter(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(CONFIG, services=("ingest-api",))
    url = f"http://127.0.0.1:{pipeline.ingest_port}/api/v1/readings"
    ingest = {"Authorization": f"Bearer {pipeline.token(Role.ingest)}"}
    now = datetime.now(UTC)

    assert httpx.post(url, json=smoke(0.1, now)).status_code == 401
    assert httpx.post(url, json=smoke(0.1, now), headers={"Authorization": "Bearer nope"}).status_code == 401
    operator = {"Authorization": f"Bearer {pipeline.token(Role.operator)}"}
    assert httpx.post(url, json=smoke(0.1, now), headers=operator).status_code == 403

    bad_json = httpx.post(url, content=b"{not json", headers=ingest)
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["detail"]

    invalid = httpx.post(
        url,
        json=[smoke(0.1, now), {**smoke(7.0, now), "unit": "ratio"}, {**smoke(0.1, now), "ts": "2026-11-27T10:00:00"}],
        headers=ingest,
    )
    assert invalid.status_code == 422
    body = invalid.json()
    assert [e["index"] for e in body["errors"]] == [1, 2]
    assert "above 1" in body["errors"][0]["error"]
    assert "timezone" in body["errors"][1]["error"]

    letters = pipeline.dead_letters(2)
    assert len(letters) == 2
    assert {letter["endpoint"] for letter in letters} == {"POST /api/v1/readings"}
    assert base64.b64decode(letters[0]["value_b64"]) == b"{not json"
    assert "2 of 3 readings are invalid" in letters[1]["reason"]


def test_bad_records_on_the_topic_are_dead_lettered_and_the_pipeline_keeps_running(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "alerting", "detectors"))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    topic = pipeline.topic("pantau.sensor-readings.v1")
    now = datetime.now(UTC)
    producer.send(topic, key=b"x", value=b"\xff\xfe garbage", headers=[("source", b"fuzz")]).get(10)
    producer.send(topic, key=b"smk-sman3", value=orjson.dumps(smoke(1.5, now))).get(10)
    producer.send(topic, key=b"smk-sman3", value=orjson.dumps(smoke(0.9, now + timedelta(seconds=1)))).get(10)
    producer.close()

    deadline = time.monotonic() + 60
    while pipeline.count("alerts") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pipeline.wait_count("sensor_readings", 1) == 1
    assert pipeline.count("alerts", "type = 'smoke_high'") == 1
    letters = pipeline.dead_letters(4)
    stages = sorted(letter["stage"] for letter in letters)
    assert stages == ["archive", "archive", "detectors.sensor-rules", "detectors.sensor-rules"]
    garbage = [letter for letter in letters if letter["key_b64"] == base64.b64encode(b"x").decode()]
    assert len(garbage) == 2  # one from each stage that reads the topic
    assert all(base64.b64decode(letter["value_b64"]) == b"\xff\xfe garbage" for letter in garbage)
    assert all(letter["topic"] == topic and letter["partition"] is not None for letter in letters)
    assert any("above 1" in letter["reason"] for letter in letters)
    assert garbage[0]["headers"] == [["source", base64.b64encode(b"fuzz").decode()]]


def test_console_dead_letters_an_invalid_alert_and_keeps_serving(pipeline_factory: Callable[..., Pipeline]) -> None:
    import json

    from websockets.sync.client import connect as ws_connect

    pipeline = pipeline_factory(CONFIG, services=("console",))
    topic = pipeline.topic("pantau.alerts.v1")
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(topic, key=b"a-1", value=b'{"id": "a-1", "status": "exploded"}').get(10)
    now = datetime.now(UTC).isoformat()
    valid = {
        "id": "a-2",
        "status": "new",
        "priority": 2,
        "priority_reason": "P2",
        "severity": "high",
        "type": "smoke_high",
        "source": "smk-1",
        "source_kind": "sensor",
        "title": "Smoke",
        "first_seen": now,
        "last_seen": now,
        "count": 1,
        "last_incident_id": "i-1",
        "version": 1,
        "change": "opened",
        "updated_at": now,
    }
    producer.send(topic, key=b"a-2", value=orjson.dumps(valid)).get(10)
    producer.close()
    letters = pipeline.dead_letters(1)
    assert [letter["stage"] for letter in letters] == ["console"]
    assert "status" in letters[0]["reason"] and letters[0]["topic"] == topic
    url = f"ws://127.0.0.1:{pipeline.console_port}/ws/alerts?token={pipeline.token(Role.operator)}"
    deadline = time.monotonic() + 60
    while True:
        with ws_connect(url, open_timeout=30) as ws:
            snapshot = json.loads(ws.recv(timeout=30))
        if snapshot["alerts"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [a["id"] for a in snapshot["alerts"]] == ["a-2"]


def test_oversized_body_is_refused_before_it_is_read(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(CONFIG, services=("ingest-api",), PANTAU_INGEST_MAX_BODY_BYTES="2048")
    url = f"http://127.0.0.1:{pipeline.ingest_port}/api/v1/readings"
    headers = {"Authorization": f"Bearer {pipeline.token(Role.ingest)}"}
    batch = [smoke(0.1, datetime.now(UTC) - timedelta(seconds=i)) for i in range(40)]
    response = httpx.post(url, json=batch, headers=headers)
    assert response.status_code == 413 and "larger than 2048" in response.json()["detail"]


def test_a_token_scoped_to_sensors_cannot_send_for_others(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(CONFIG, services=("ingest-api",))
    url = f"http://127.0.0.1:{pipeline.ingest_port}/api/v1/readings"
    token = issue_token(pipeline.secret, Role.ingest, "gauge-pos-3", sensors=["smk-*"])
    headers = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC)
    mine = smoke(0.1, now)
    assert httpx.post(url, json=mine, headers=headers).status_code == 202
    other = {**smoke(0.1, now), "sensor_id": "wl-brantas-01", "kind": "water_level", "unit": "m"}
    refused = httpx.post(url, json=[mine, other], headers=headers)
    assert refused.status_code == 403 and "wl-brantas-01" in refused.json()["detail"]  # none of the batch
