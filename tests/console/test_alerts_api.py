"""The console's REST history beside the feed: filters, pagination, alert detail, who sees what."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


def _incident(n: int, source: str, district: str, severity: str, ts: datetime) -> bytes:
    return orjson.dumps(
        {"id": f"inc-{n}", "type": "water_level_high" if source.startswith("gauge") else "intrusion",
         "source": source, "source_kind": "sensor" if source.startswith("gauge") else "camera", "rule": "r",
         "ts": ts.isoformat(), "detected_at": ts.isoformat(), "severity": severity,
         "location": {"lat": -7.98, "lon": 112.63, "district": district}, "title": f"{source} trouble",
         "evidence": {"snapshot_jpeg_b64": "/9j/AAAA", "bbox_xyxy": [0.1, 0.1, 0.2, 0.4]}}
    )  # fmt: skip


def test_history_filters_pages_details_and_scopes_responders(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory("alerting: {corroboration_window_s: 0}\n", services=("archiver", "alerting", "console"))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    topic = pipeline.topic("pantau.incidents.v1")
    now = datetime.now(UTC)
    sent = [
        ("gauge-1", "Klojen", "critical"),
        ("gauge-2", "Sukun", "high"),
        ("cam-1", "Klojen", "medium"),
        ("cam-2", "Blimbing", "low"),
    ]
    for n, (source, district, severity) in enumerate(sent):
        producer.send(
            topic, key=source.encode(), value=_incident(n, source, district, severity, now + timedelta(seconds=n))
        )
    producer.send(
        topic, key=b"gauge-1", value=_incident(9, "gauge-1", "Klojen", "critical", now + timedelta(seconds=9))
    )
    producer.flush()
    pipeline.wait_count("alerts", 4)
    pipeline.wait_count("incidents", 5)

    operator = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ani')}"}
    planner = {"Authorization": f"Bearer {pipeline.token(Role.planner, 'plan')}"}
    budi = {"Authorization": f"Bearer {pipeline.token(Role.responder, 'budi')}"}
    console = httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=10)
    alerting = httpx.Client(base_url=pipeline.alerting_url, timeout=10)

    def page(headers: dict[str, str], **params: Any) -> dict[str, Any]:
        response = console.get("/api/v1/alerts", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = page(planner)
    assert [a["source"] for a in everything["alerts"]] == ["gauge-1", "cam-2", "cam-1", "gauge-2"]  # newest first
    assert [a["source"] for a in page(operator, district="Klojen")["alerts"]] == ["gauge-1", "cam-1"]
    assert [a["source"] for a in page(operator, priority=[1, 2])["alerts"]] == ["gauge-1", "gauge-2"]
    assert [a["source"] for a in page(operator, type="intrusion", status="open")["alerts"]] == ["cam-2", "cam-1"]
    assert page(operator, status="closed")["alerts"] == []
    recent = page(operator, since=(now + timedelta(seconds=2.5)).isoformat())
    assert {a["source"] for a in recent["alerts"]} == {"gauge-1", "cam-2"}

    # Pages of one, following the cursor, give every alert exactly once.
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        body = page(operator, **params)
        seen += [a["source"] for a in body["alerts"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["gauge-1", "cam-2", "cam-1", "gauge-2"]
    assert console.get("/api/v1/alerts", params={"cursor": "bogus"}, headers=operator).status_code == 422
    assert console.get("/api/v1/alerts", params={"priority": 7}, headers=operator).status_code == 422
    assert console.get("/api/v1/alerts").status_code == 401

    # Detail: the incidents (without the inline JPEG), the audit with notes, the delivery log.
    gauge = everything["alerts"][0]
    assert alerting.post(f"/api/v1/alerts/{gauge['id']}/note", json={"text": "called the river post"},
                         headers=operator).is_success  # fmt: skip
    assert alerting.post(f"/api/v1/alerts/{gauge['id']}/assign", json={"version": gauge["version"] + 1,
                         "assignee": "budi"}, headers=operator).is_success  # fmt: skip
    time.sleep(0.5)
    detail = console.get(f"/api/v1/alerts/{gauge['id']}", headers=operator).json()
    assert detail["alert"]["id"] == gauge["id"] and detail["alert"]["count"] == 2
    assert [i["id"] for i in detail["incidents"]] == ["inc-9", "inc-0"]
    assert "snapshot_jpeg_b64" not in detail["incidents"][0]["evidence"]
    assert detail["incidents"][0]["snapshot_url"] == "/api/v1/incidents/inc-9/snapshot"
    assert [e["change"] for e in detail["audit"]] == ["opened", "repeated", "noted", "assigned"]
    assert [n["detail"]["text"] for n in detail["notes"]] == ["called the river post"]
    assert detail["deliveries"] == [] and detail["related"] == []
    assert console.get("/api/v1/alerts/nope", headers=operator).status_code == 404

    # A responder sees what was assigned to them, nothing else.
    assert [a["id"] for a in page(budi)["alerts"]] == [gauge["id"]]
    assert console.get(f"/api/v1/alerts/{gauge['id']}", headers=budi).status_code == 200
    assert console.get(f"/api/v1/alerts/{everything['alerts'][1]['id']}", headers=budi).status_code == 404
    console.close()
    alerting.close()
    producer.close()
