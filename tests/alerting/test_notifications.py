"""Pushes to responders through the real alerting service: routing, retries, escalation, stand-down."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from alerting.channels.webhook import verify_signature
from pantau.auth import Role
from tests.alerting.conftest import Hook
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration
SECRET = "a-webhook-secret-of-some-length"


def _config(hook: Hook) -> str:
    return f"""
alerting:
  channels:
    - {{type: webhook, name: rescue-hook, url: "{hook.url}", secret: "{SECRET}", timeout_s: 2}}
  routing:
    groups: [{{id: rescue, name: Rescue}}, {{id: duty, name: Duty officers}}]
    responders:
      - {{id: budi, name: Budi, groups: [rescue], channels: [rescue-hook]}}
      - {{id: sari, name: Sari, groups: [duty], channels: [rescue-hook]}}
    routes:
      - match: {{}}
        tiers: [{{groups: [rescue], ack_deadline_s: 2}}, {{groups: [duty], ack_deadline_s: 600}}]
"""


def _send_incident(pipeline: Pipeline, source: str) -> None:
    now = datetime.now(UTC).isoformat()
    incident = {
        "id": f"inc-{source}",
        "type": "water_level",
        "source": source,
        "source_kind": "sensor",
        "rule": "flood",
        "ts": now,
        "detected_at": now,
        "severity": "critical",
        "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"},
        "title": f"River high at {source}",
    }
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(pipeline.topic("pantau.incidents.v1"), key=source.encode(), value=orjson.dumps(incident)).get(10)
    producer.close()


def test_a_p1_goes_out_signed_escalates_unacknowledged_and_ends_with_a_stand_down(
    pipeline_factory: Callable[..., Pipeline], hook_factory: Callable[..., Hook]
) -> None:
    hook = hook_factory(fail_first=1)  # the first push meets a 500 and is retried
    pipeline = pipeline_factory(_config(hook), services=("alerting",))
    _send_incident(pipeline, "river-01")

    first = hook.wait_for(lambda b: any(x["kind"] == "alert" for x in b[1:]))
    assert first[0]["delivery_id"] == first[1]["delivery_id"]  # the retry carries the same idempotency key
    headers, body = hook.requests[1]
    assert headers["x-pantau-delivery"] == first[1]["delivery_id"]
    assert verify_signature(SECRET, headers["x-pantau-timestamp"], body, headers["x-pantau-signature"])
    assert not verify_signature(
        "another-secret-entirely-123", headers["x-pantau-timestamp"], body, headers["x-pantau-signature"]
    )
    alert = first[1]["alert"]
    assert first[1]["priority"] == 1 and alert["source"] == "river-01"
    assert first[1]["link"].endswith(f"/alerts/{alert['id']}")

    # Nobody acknowledges within 2 s: the duty officer is told, and the alert records the escalation.
    bodies = hook.wait_for(lambda b: any(x["kind"] == "escalation" for x in b))
    escalation = next(x for x in bodies if x["kind"] == "escalation")
    assert escalation["alert"]["id"] == alert["id"]
    with pipeline.db() as conn:
        row = conn.execute("SELECT doc FROM alerts WHERE id = %s", (alert["id"],)).fetchone()
    assert row is not None and row[0]["escalation_level"] == 1 and row[0]["change"] == "escalated"

    operator = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ops-ani')}"}
    with httpx.Client(base_url=pipeline.alerting_url, timeout=10) as http:
        version = row[0]["version"]
        assert http.post(f"/api/v1/alerts/{alert['id']}/ack", json={"version": version}, headers=operator).is_success
        resolved = http.post(f"/api/v1/alerts/{alert['id']}/resolve", json={"version": version + 1}, headers=operator)
        assert resolved.is_success
        bodies = hook.wait_for(lambda b: sum(1 for x in b if x["kind"] == "stand_down") == 2)
        stand_downs = [x for x in bodies if x["kind"] == "stand_down"]
        assert {x["alert"]["status"] for x in stand_downs} == {"resolved"}
        assert "Stand down" in stand_downs[0]["title"]

        log = http.get(f"/api/v1/alerts/{alert['id']}/deliveries", headers=operator).json()
        assert sorted((d["kind"], d["recipient"], d["status"]) for d in log) == [
            ("alert", "budi", "sent"),
            ("escalation", "sari", "sent"),
            ("stand_down", "budi", "sent"),
            ("stand_down", "sari", "sent"),
        ]
        first_log = next(d for d in log if d["kind"] == "alert")
        assert first_log["attempts"] == 2
        assert [a["outcome"] for a in first_log["log"]] == ["retrying", "sent"]
        assert "500" in (first_log["log"][0]["detail"] or "")
    # After the acknowledgement nothing else went out but the stand-downs.
    time.sleep(2.5)
    assert sorted(x["kind"] for x in hook.bodies()) == ["alert", "alert", "escalation", "stand_down", "stand_down"]


@pytest.mark.parametrize("failure", ["500", "hang"])
def test_a_receiver_failing_forever_is_retried_with_its_reason_logged_and_blocks_nothing(
    pipeline_factory: Callable[..., Pipeline], hook_factory: Callable[..., Hook], failure: str
) -> None:
    good = hook_factory()
    dead = hook_factory(fail_first=10**6) if failure == "500" else hook_factory(hang_s=30.0)
    config = f"""
alerting:
  channels:
    - {{type: webhook, name: good, url: "{good.url}", secret: "{SECRET}", timeout_s: 2}}
    - {{type: webhook, name: dead, url: "{dead.url}", secret: "{SECRET}", timeout_s: 2}}
  routing:
    groups: [{{id: rescue, name: Rescue}}]
    responders: [{{id: budi, name: Budi, groups: [rescue], channels: [dead, good]}}]
    routes: [{{match: {{}}, tiers: [{{groups: [rescue], ack_deadline_s: 3600}}]}}]
"""
    pipeline = pipeline_factory(config, services=("alerting",))
    _send_incident(pipeline, "river-00")
    good.wait_for(lambda b: len(b) >= 1)  # the first push may wait on a loaded machine's start-up
    for n in range(1, 5):
        _send_incident(pipeline, f"river-{n:02d}")
    # The good channel gets every push while the dead one keeps failing (a hanging receiver holds
    # up only its own channel's workers).
    good.wait_for(lambda b: {x["alert"]["source"] for x in b} == {f"river-{n:02d}" for n in range(5)}, 10)
    dead.wait_for(lambda b: len(b) >= (10 if failure == "500" else 4))
    operator = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ops-ani')}"}
    with pipeline.db() as conn:
        row = conn.execute("SELECT id FROM alerts WHERE source = 'river-00'").fetchone()
    assert row is not None
    with httpx.Client(base_url=pipeline.alerting_url, timeout=10) as http:
        log = http.get(f"/api/v1/alerts/{row[0]}/deliveries", headers=operator).json()
        by_channel = {d["channel"]: d for d in log}
        assert by_channel["good"]["status"] == "sent"
        failing = by_channel["dead"]
        if failure == "500":
            assert failing["status"] == "retrying" and failing["attempts"] >= 2
            assert "returned 500" in failing["last_error"]
            assert all(a["outcome"] == "retrying" and a["status_code"] == 500 for a in failing["log"])
        # Incidents keep turning into alerts and pushes meanwhile.
        _send_incident(pipeline, "river-99")
        good.wait_for(lambda b: any(x["alert"]["source"] == "river-99" for x in b), 20)
        if failure == "hang":
            return
        # A P1 is retried until its alert is over: resolving it cancels the pending retries.
        with pipeline.db() as conn:
            version = conn.execute("SELECT version FROM alerts WHERE id = %s", (row[0],)).fetchone()
        assert version is not None
        resolve = http.post(f"/api/v1/alerts/{row[0]}/resolve", json={"version": version[0]}, headers=operator)
        assert resolve.is_success
        assert pipeline.wait_count("alert_deliveries", 1, f"alert_id = '{row[0]}' AND status = 'cancelled'") == 1
