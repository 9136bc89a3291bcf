"""A responder's browser subscribes through the alerting API and receives an encrypted Web Push."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import http_ece
import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kafka import KafkaProducer

from alerting.channels.config import generate_vapid_keys
from pantau.auth import Role
from tests.alerting.conftest import Hook
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_a_subscribed_browser_gets_the_push_and_can_read_it(
    pipeline_factory: Callable[..., Pipeline], hook_factory: Callable[..., Hook]
) -> None:
    push_service = hook_factory()  # stands in for the browser vendor's push service
    private_key, public_key = generate_vapid_keys()
    config = f"""
alerting:
  channels:
    - {{type: webpush, name: phones, vapid_private_key: "{private_key}", vapid_subject: "mailto:ops@kota.example",
       push_services: ["http://127.0.0.1"]}}
  routing:
    groups: [{{id: rescue, name: Rescue}}]
    responders: [{{id: budi, name: Budi, groups: [rescue], channels: [phones]}}]
    routes: [{{match: {{}}, tiers: [{{groups: [rescue], ack_deadline_s: 3600}}]}}]
"""
    pipeline = pipeline_factory(config, services=("alerting",))
    browser_key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    point = browser_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    subscription = {
        "endpoint": push_service.url,
        "expirationTime": None,
        "keys": {"p256dh": _b64url(point), "auth": _b64url(auth)},
    }
    budi = {"Authorization": f"Bearer {pipeline.token(Role.responder, 'budi')}"}
    with httpx.Client(base_url=pipeline.alerting_url, timeout=10) as http:
        assert http.get("/api/v1/push/vapid-public-key", headers=budi).json() == {"public_key": public_key}
        assert http.post("/api/v1/push/subscriptions", json=subscription, headers=budi).status_code == 201
        bad = {**subscription, "keys": {"p256dh": "not-a-key", "auth": _b64url(auth)}}
        assert http.post("/api/v1/push/subscriptions", json=bad, headers=budi).status_code == 422
        # Only the push services the channel names: never an address a subscriber picks (SSRF).
        for elsewhere in ("http://169.254.169.254/latest/meta-data", "https://10.0.0.5/push", "https://evil.example/p"):
            refused = http.post(
                "/api/v1/push/subscriptions", json={**subscription, "endpoint": elsewhere}, headers=budi
            )
            assert refused.status_code == 422 and "push services" in refused.json()["detail"], refused.text
        # Budi's browser cannot be taken over by another user who learns its endpoint.
        eko = {"Authorization": f"Bearer {pipeline.token(Role.responder, 'eko')}"}
        taken = http.post("/api/v1/push/subscriptions", json=subscription, headers=eko)
        assert taken.status_code == 409 and "another user" in taken.json()["detail"]
        # At most ten browsers per person: the eleventh replaces the oldest.
        for n in range(11):
            more = {**subscription, "endpoint": f"{push_service.url}/eko-{n}"}
            assert http.post("/api/v1/push/subscriptions", json=more, headers=eko).status_code == 201
        with pipeline.db() as conn:
            kept = [r[0] for r in conn.execute("SELECT endpoint FROM push_subscriptions WHERE user_id = 'eko'")]
        assert len(kept) == 10 and f"{push_service.url}/eko-0" not in kept
        assert http.post("/api/v1/push/subscriptions", json=subscription, headers=budi).status_code == 201  # still his

        now = datetime.now(UTC).isoformat()
        incident = {"id": "inc-1", "type": "intrusion", "source": "cam-gate", "source_kind": "camera", "rule": "z",
                    "ts": now, "detected_at": now, "severity": "critical", "zone": "gate",
                    "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"}, "title": "Intrusion at the gate",
                    "evidence": {"bbox_xyxy": [0.1, 0.2, 0.3, 0.9]}}  # fmt: skip
        producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
        producer.send(pipeline.topic("pantau.incidents.v1"), key=b"cam-gate", value=orjson.dumps(incident)).get(10)
        producer.close()

        deadline = time.monotonic() + 60
        while not push_service.requests:
            assert time.monotonic() < deadline, "no push reached the push service"
            time.sleep(0.1)
        headers, body = push_service.requests[0]
        assert headers["content-encoding"] == "aes128gcm" and headers["urgency"] == "high" and int(headers["ttl"]) > 0
        assert headers["authorization"].startswith("vapid t=") and f"k={public_key}" in headers["authorization"]
        payload = json.loads(http_ece.decrypt(body, private_key=browser_key, auth_secret=auth, version="aes128gcm"))
        assert payload["priority"] == 1 and payload["district"] == "Klojen" and payload["kind"] == "alert"
        assert payload["link"].endswith(f"/alerts/{payload['alert_id']}")
        assert payload["snapshot_url"].endswith("/api/v1/incidents/inc-1/snapshot")

        gone = http.request("DELETE", "/api/v1/push/subscriptions", json={"endpoint": push_service.url}, headers=budi)
        assert gone.status_code == 204
        assert http.request("DELETE", "/api/v1/push/subscriptions", json={"endpoint": push_service.url},
                            headers=budi).status_code == 404  # fmt: skip
