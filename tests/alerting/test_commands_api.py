"""Operator and responder commands through the real alerting service, Kafka and TimescaleDB."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer

from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


def _incident(n: int = 1) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "id": f"inc-{n}",
        "type": "water_level",
        "source": "river-01",
        "source_kind": "sensor",
        "rule": "flood",
        "ts": now,
        "detected_at": now,
        "severity": "critical",
        "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"},
        "title": "River Brantas at 3.1 m",
    }


def _published(pipeline: Pipeline) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        pipeline.topic("pantau.alerts.v1"),
        bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=1500,
    )
    values = [orjson.loads(rec.value) for rec in consumer]
    consumer.close()
    return values


def test_commands_walk_the_lifecycle_with_audit_conflicts_and_clear_errors(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory("", services=("alerting",))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(pipeline.topic("pantau.incidents.v1"), key=b"river-01", value=orjson.dumps(_incident())).get(10)
    producer.close()
    pipeline.wait_count("alerts", 1)
    with pipeline.db() as conn:
        row = conn.execute("SELECT id FROM alerts").fetchone()
    assert row is not None
    alert_id = row[0]

    operator = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ops-ani')}"}
    responder = {"Authorization": f"Bearer {pipeline.token(Role.responder, 'budi')}"}
    planner = {"Authorization": f"Bearer {pipeline.token(Role.planner, 'plan-1')}"}
    with httpx.Client(base_url=pipeline.alerting_url, timeout=10) as http:

        def post(action: str, body: dict[str, Any], headers: dict[str, str] = operator) -> httpx.Response:
            return http.post(f"/api/v1/alerts/{alert_id}/{action}", json=body, headers=headers)

        acked = post("ack", {"version": 1, "reason": "on the wall screen"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["status"] == "acknowledged" and acked.json()["acknowledged_by"] == "ops-ani"

        stale = post("resolve", {"version": 1})
        assert stale.status_code == 409 and "at version 2, not 1" in stale.json()["detail"]
        again = post("ack", {"version": 2})
        assert again.status_code == 409 and "only a new alert can be acknowledged" in again.json()["detail"]

        assert post("report", {"status": "en_route"}, responder).status_code == 403  # not assigned to budi yet
        assert post("assign", {"version": 2, "assignee": "budi"}).json()["status"] == "assigned"
        reported = post("report", {"status": "on_scene", "note": "water at the bridge deck"}, responder)
        assert reported.status_code == 200 and reported.json()["responders"] == {"budi": "on_scene"}
        assert post("ack", {"version": 4}, responder).status_code == 403

        bad = post("close", {"version": 4, "close_reason": "bored"})
        assert bad.status_code == 422 and "close_reason" in bad.json()["detail"]
        assert post("close", {"version": 4, "close_reason": "handled", "surprise": 1}).status_code == 422
        assert http.post("/api/v1/alerts/nope/ack", json={"version": 1}, headers=operator).status_code == 404
        assert http.post(f"/api/v1/alerts/{alert_id}/ack", json={"version": 1}).status_code == 401
        assert post("resolve", {"version": 4}, planner).status_code == 403
        assert (
            post(
                "note", {"text": "not mine"}, {"Authorization": f"Bearer {pipeline.token(Role.responder, 'eko')}"}
            ).status_code
            == 403
        )
        assert post("note", {"text": "handed over to BPBD"}).json()["notes"] == 1
        # Only a note came after version 4: a command made on version 4 still goes through.
        assert post("resolve", {"version": 4}).json()["status"] == "resolved"
        closed = post("close", {"version": 6, "close_reason": "handled"})
        assert closed.json()["status"] == "closed" and closed.json()["close_reason"] == "handled"

        audit = http.get(f"/api/v1/alerts/{alert_id}/audit", headers=operator).json()
        assert [(e["change"], e["actor"]) for e in audit] == [
            ("opened", "system"),
            ("acknowledged", "ops-ani"),
            ("assigned", "ops-ani"),
            ("responder", "budi"),
            ("noted", "ops-ani"),
            ("resolved", "ops-ani"),
            ("closed", "ops-ani"),
        ]
        assert audit[1]["detail"]["reason"] == "on the wall screen"
        assert audit[3]["detail"] == {
            "action": "report",
            "from_status": "assigned",
            "to_status": "assigned",
            "responder_status": "on_scene",
            "text": "water at the bridge deck",
        }
        assert http.get(f"/api/v1/alerts/{alert_id}/audit", headers=responder).status_code == 403

    # Every committed change reached the alerts topic, in order, and the outbox is empty.
    deadline = time.monotonic() + 60
    while [a["version"] for a in _published(pipeline) if a["id"] == alert_id] != list(range(1, 8)):
        assert time.monotonic() < deadline, _published(pipeline)
        time.sleep(0.3)
    assert pipeline.count("alert_outbox") == 0
    # The audit is append-only, even for the database owner.
    with pipeline.db() as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("UPDATE alert_history SET actor = 'someone else'")
