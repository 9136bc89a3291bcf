"""The live feed's protocol through a real console and alerts topic: seq, filters, resume, heartbeat."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


def _incident(n: int, source: str, district: str, severity: str = "high") -> bytes:
    now = datetime.now(UTC).isoformat()
    return orjson.dumps(
        {"id": f"inc-{n}", "type": "water_level_high", "source": source, "source_kind": "sensor", "rule": "r",
         "ts": now, "detected_at": now, "severity": severity,
         "location": {"lat": -7.98, "lon": 112.63, "district": district}, "title": f"{source} high"}
    )  # fmt: skip


def _next(ws: Any, timeout_s: float = 30) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    deadline = time.monotonic() + timeout_s
    while True:
        msg: dict[str, Any] = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if msg["type"] != "heartbeat":
            return msg


def _alerts(msg: dict[str, Any]) -> list[dict[str, Any]]:
    return [msg["alert"]] if msg["type"] == "alert" else list(msg["alerts"])


def test_filters_seq_resume_without_gap_or_repeat_and_heartbeats(pipeline_factory: Callable[..., Pipeline]) -> None:
    config = "alerting: {corroboration_window_s: 0}\n"  # priorities exactly as the incidents say
    pipeline = pipeline_factory(config, services=("alerting", "console"), PANTAU_HEARTBEAT_INTERVAL_S="1")
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    topic = pipeline.topic("pantau.incidents.v1")
    token = pipeline.token(Role.operator, "ani")
    base = f"ws://127.0.0.1:{pipeline.console_port}/ws/alerts?token={token}"

    with ws_connect(f"{base}&district=Sukun", open_timeout=30) as sukun:
        assert _next(sukun) == {"type": "snapshot", "seq": -1, "alerts": []}
        producer.send(topic, key=b"k-1", value=_incident(1, "k-1", "Klojen")).get(10)
        producer.send(topic, key=b"s-1", value=_incident(2, "s-1", "Sukun")).get(10)
        seen = _alerts(_next(sukun))
        assert [a["source"] for a in seen] == ["s-1"]  # the Klojen alert is not for this client
        heartbeat = json.loads(sukun.recv(timeout=3))
        assert heartbeat["type"] == "heartbeat" and heartbeat["seq"] >= 1
        last_seq = heartbeat["seq"]

    # While the client is away: two more changes in Sukun (one new, one repeat) and one elsewhere.
    producer.send(topic, key=b"s-2", value=_incident(3, "s-2", "Sukun", "critical")).get(10)
    producer.send(topic, key=b"s-1", value=_incident(4, "s-1", "Sukun")).get(10)
    producer.send(topic, key=b"k-2", value=_incident(5, "k-2", "Klojen")).get(10)
    time.sleep(2)  # let alerting publish and the console read them
    with ws_connect(f"{base}&district=Sukun&since={last_seq}", open_timeout=30) as resumed:
        missed = _alerts(_next(resumed))
        assert sorted((a["source"], a["version"]) for a in missed) == [("s-1", 2), ("s-2", 1)]
        assert all(a.get("seq", last_seq + 1) > last_seq for a in missed)
        # Nothing is repeated after the backlog: the next message is a heartbeat.
        assert json.loads(resumed.recv(timeout=3))["type"] == "heartbeat"

    with ws_connect(f"{base}&min_priority=1", open_timeout=30) as urgent:
        snapshot = _next(urgent)
        assert snapshot["type"] == "snapshot" and [a["source"] for a in snapshot["alerts"]] == ["s-2"]
        assert snapshot["seq"] >= 4

    for bad in ("&since=yesterday", "&min_priority=9"):
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(f"{base}{bad}", open_timeout=30)
        assert refused.value.response.status_code == 400
    producer.close()
