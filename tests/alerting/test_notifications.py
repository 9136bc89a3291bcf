"""Pushes to responders through the real alerting service: routing, retries, escalation, stand-down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from alerting.channels.webhook import verify_signature
from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration
SECRET = "a-webhook-secret-of-some-length"


class Hook:
    """A loopback webhook receiver: records every request; fails the first ``fail_first`` with a 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hook.lock:
                    hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    failing = len(hook.requests) <= hook.fail_first
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [orjson.loads(body) for _headers, body in self.requests]

    def wait_for(self, check: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while not check(bodies := self.bodies()):
            assert time.monotonic() < deadline, [(b["kind"], b["alert"]["change"]) for b in bodies]
            time.sleep(0.1)
        return bodies


@pytest.fixture
def hook_factory() -> Iterator[Callable[..., Hook]]:
    hooks: list[Hook] = []

    def make(fail_first: int = 0) -> Hook:
        hooks.append(Hook(fail_first))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.server.shutdown()


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
