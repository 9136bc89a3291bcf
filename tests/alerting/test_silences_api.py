"""Silences, inhibition and CAP export through the real alerting service, Kafka and TimescaleDB."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
CONFIG = """
alerting:
  inhibit_rules:
    - {name: power, source_match: {types: [power_loss]}, target_match: {types: [video_loss]}, equal: [district]}
"""


def _incident(n: int, type_: str, source: str, kind: str, district: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "id": f"inc-{n}",
        "type": type_,
        "source": source,
        "source_kind": kind,
        "rule": type_,
        "ts": now,
        "detected_at": now,
        "severity": "high",
        "location": {"lat": -7.98, "lon": 112.63, "district": district},
        "title": f"{type_} at {source}",
    }


def _alert(pipeline: Pipeline, source: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        with pipeline.db() as conn:
            row = conn.execute("SELECT doc FROM alerts WHERE source = %s", (source,)).fetchone()
        if row is not None:
            doc: dict[str, Any] = row[0]
            return doc
        assert time.monotonic() < deadline, f"no alert from {source}"
        time.sleep(0.2)


def _wait(pipeline: Pipeline, source: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while not check(alert := _alert(pipeline, source)):
        assert time.monotonic() < deadline, alert
        time.sleep(0.2)
    return alert


def test_silences_hold_alerts_back_until_they_end_and_inhibition_follows_the_power_alert(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("alerting",))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")

    def send(*incidents: dict[str, Any]) -> None:
        for incident in incidents:
            producer.send(
                pipeline.topic("pantau.incidents.v1"), key=incident["source"].encode(), value=orjson.dumps(incident)
            )
        producer.flush()

    operator = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ops-ani')}"}
    planner = {"Authorization": f"Bearer {pipeline.token(Role.planner, 'plan-1')}"}
    with httpx.Client(base_url=pipeline.alerting_url, timeout=10) as http:
        refused = http.post(
            "/api/v1/silences", json={"matchers": {}, "duration_s": 600, "reason": "x"}, headers=operator
        )
        assert refused.status_code == 422
        maintenance = {"matchers": {"cameras": ["cam-1"]}, "duration_s": 3600, "reason": "lens cleaning"}
        assert http.post("/api/v1/silences", json=maintenance, headers=planner).status_code == 403
        created = http.post("/api/v1/silences", json=maintenance, headers=operator)
        assert created.status_code == 201, created.text
        silence = created.json()
        assert silence["created_by"] == "ops-ani" and silence["matchers"]["cameras"] == ["cam-1"]
        assert [s["id"] for s in http.get("/api/v1/silences", headers=planner).json()] == [silence["id"]]

        send(
            _incident(1, "intrusion", "cam-1", "camera", "Klojen"),
            _incident(2, "intrusion", "cam-2", "camera", "Klojen"),
        )
        held = _alert(pipeline, "cam-1")
        assert held["suppressed"] and held["suppressed_by"] == [silence["id"]]
        assert not _alert(pipeline, "cam-2")["suppressed"]

        ended = http.delete(f"/api/v1/silences/{silence['id']}", headers=operator)
        assert ended.status_code == 200 and ended.json()["ended_at"] is not None
        released = _wait(pipeline, "cam-1", lambda a: not a["suppressed"])
        assert released["change"] == "unsuppressed"
        assert http.get("/api/v1/silences", headers=operator).json() == []
        assert len(http.get("/api/v1/silences?include_ended_s=3600", headers=operator).json()) == 1
        assert http.delete("/api/v1/silences/nope", headers=operator).status_code == 404

        # A power cut in Klojen explains the dark camera there, not the one in Sukun.
        send(_incident(3, "power_loss", "pln-klojen", "sensor", "Klojen"))
        power = _alert(pipeline, "pln-klojen")
        send(
            _incident(4, "video_loss", "cam-3", "camera", "Klojen"),
            _incident(5, "video_loss", "cam-4", "camera", "Sukun"),
        )
        assert _wait(pipeline, "cam-3", lambda a: a["suppressed"])["suppressed_by"] == [power["id"]]
        assert not _alert(pipeline, "cam-4")["suppressed"]
        resolved = http.post(
            f"/api/v1/alerts/{power['id']}/resolve", json={"version": power["version"]}, headers=operator
        )
        assert resolved.status_code == 200
        assert _wait(pipeline, "cam-3", lambda a: not a["suppressed"])["change"] == "unsuppressed"

        # CAP: the first message is an Alert; after a change, an Update referencing the earlier ones.
        cam2 = _alert(pipeline, "cam-2")
        first = http.get(f"/api/v1/alerts/{cam2['id']}/cap", headers=planner)
        assert first.status_code == 200 and first.headers["content-type"].startswith("application/cap+xml")
        root = ET.fromstring(first.content)
        assert root.findtext(f"{CAP}msgType") == "Alert" and root.find(f"{CAP}references") is None
        expected = {"critical": "Extreme", "high": "Severe", "medium": "Moderate", "low": "Minor"}[cam2["severity"]]
        assert root.findtext(f"{CAP}info/{CAP}severity") == expected
        assert root.findtext(f"{CAP}info/{CAP}area/{CAP}circle", "").startswith("-7.98,112.63 ")
        http.post(f"/api/v1/alerts/{cam2['id']}/ack", json={"version": cam2["version"]}, headers=operator)
        closed = http.post(
            f"/api/v1/alerts/{cam2['id']}/close",
            json={"version": cam2["version"] + 1, "close_reason": "false_alarm"},
            headers=operator,
        )
        assert closed.status_code == 200
        root = ET.fromstring(http.get(f"/api/v1/alerts/{cam2['id']}/cap", headers=planner).content)
        assert root.findtext(f"{CAP}msgType") == "Cancel"
        references = root.findtext(f"{CAP}references", "")
        assert f"pantau-{cam2['id']}-v1" in references and f"pantau-{cam2['id']}-v2" in references
        assert http.get("/api/v1/alerts/nope/cap", headers=planner).status_code == 404
    producer.close()
