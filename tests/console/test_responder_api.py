"""The responder view's API on the real stack: Web Push subscriptions through the console, alerts of
a responder's group on the websocket and in REST, a responder acknowledging what was sent to their
group, and photos from the scene stored with the note and served under the evidence access record."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cv2
import httpx
import numpy as np
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kafka import KafkaProducer
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from alerting.channels.config import generate_vapid_keys
from pantau.auth import Role
from tests.console.conftest import LoginFactory, PersonFactory
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

ROUTING = """
timezone: Asia/Jakarta
alerting:
  corroboration_window_s: 0
  routing:
    groups: [{id: rescue-klojen, name: Rescue Klojen}, {id: duty, name: Duty officers}]
    responders:
      - {id: budi, name: Budi, groups: [rescue-klojen]}
      - {id: sari, name: Sari, groups: [duty]}
    routes:
      - match: {types: [smoke]}
        tiers: [{groups: [rescue-klojen], ack_deadline_s: 3600}]
      - match: {}
        tiers: [{groups: [duty], ack_deadline_s: 3600}]
"""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jpeg() -> bytes:
    picture = np.zeros((120, 160, 3), np.uint8)
    cv2.rectangle(picture, (20, 30), (140, 100), (40, 80, 220), -1)
    ok, buf = cv2.imencode(".jpg", picture)
    assert ok
    return buf.tobytes()


def _produce(pipeline: Pipeline, incident_id: str, source: str, incident_type: str) -> None:
    now = datetime.now(UTC).isoformat()
    incident = {"id": incident_id, "type": incident_type, "source": source, "source_kind": "sensor", "rule": "r",
                "ts": now, "detected_at": now, "severity": "high",
                "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"},
                "title": f"{incident_type} at {source}", "evidence": {}}  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(pipeline.topic("pantau.incidents.v1"), key=source.encode(), value=orjson.dumps(incident)).get(10)
    producer.close()


def _alerts_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    if message["type"] == "alert":
        return [message["alert"]]
    return list(message.get("alerts", []))


def _wait_for(ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool], timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        for alert in _alerts_of(message):
            if wanted(alert):
                return alert
    raise AssertionError("the alert never came")


def test_web_push_subscriptions_go_through_the_console(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory, login_factory: LoginFactory
) -> None:
    private_key, public_key = generate_vapid_keys()
    config = f"""
alerting:
  channels:
    - {{type: webpush, name: phones, vapid_private_key: "{private_key}", vapid_subject: "mailto:ops@kota.example",
       push_services: ["push.example"]}}
"""
    pipeline = pipeline_factory(config, services=("alerting", "console"))
    budi = login_factory(pipeline, person_factory(pipeline, "budi", Role.responder))
    planner = login_factory(pipeline, person_factory(pipeline, "plan", Role.planner))
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    endpoint = "https://push.example/send/abc123"
    subscription = {"endpoint": endpoint, "expirationTime": None,
                    "keys": {"p256dh": _b64url(point), "auth": _b64url(os.urandom(16))}}  # fmt: skip

    assert budi.get("/api/v1/push/vapid-public-key").json() == {"public_key": public_key}
    assert planner.get("/api/v1/push/vapid-public-key").status_code == 403
    stored = budi.post("/api/v1/push/subscriptions", json=subscription)
    assert stored.status_code == 201 and stored.json()["endpoint"] == endpoint
    with pipeline.db() as conn:
        assert conn.execute("SELECT user_id FROM push_subscriptions").fetchall() == [("budi",)]
    # A change without the CSRF header is refused by the console before it reaches alerting.
    bare = httpx.Client(base_url=str(budi.base_url), cookies=budi.cookies, timeout=10)
    assert bare.post("/api/v1/push/subscriptions", json=subscription).status_code == 403
    bad = {**subscription, "keys": {"p256dh": "not-a-key", "auth": "x"}}
    assert budi.post("/api/v1/push/subscriptions", json=bad).status_code == 422  # alerting's answer, unchanged

    gone = budi.request("DELETE", "/api/v1/push/subscriptions", json={"endpoint": endpoint})
    assert gone.status_code == 204 and gone.content == b""
    assert budi.request("DELETE", "/api/v1/push/subscriptions", json={"endpoint": endpoint}).status_code == 404
    assert pipeline.count("push_subscriptions") == 0
    bare.close()


def test_a_responder_sees_and_works_the_alerts_of_their_group(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory, login_factory: LoginFactory
) -> None:
    pipeline = pipeline_factory(ROUTING, services=("alerting", "console"))
    ani = login_factory(pipeline, person_factory(pipeline, "ani", Role.operator))
    budi_person = person_factory(pipeline, "budi", Role.responder)
    sari_person = person_factory(pipeline, "sari", Role.responder)
    budi, sari = login_factory(pipeline, budi_person), login_factory(pipeline, sari_person)
    plan = login_factory(pipeline, person_factory(pipeline, "plan", Role.planner))
    root = login_factory(pipeline, person_factory(pipeline, "root", Role.admin))
    ws_base = f"ws://127.0.0.1:{pipeline.console_port}/ws/alerts?token="

    _produce(pipeline, "inc-smoke", "smoke-01", "smoke")  # routed to rescue-klojen: budi's group
    _produce(pipeline, "inc-water", "wl-01", "water_level_high")  # routed to duty
    assert pipeline.wait_count("alerts", 2) == 2
    by_source = {a["source"]: a for a in ani.get("/api/v1/alerts").json()["alerts"]}
    smoke, water = by_source["smoke-01"], by_source["wl-01"]

    # Acknowledging: what was sent to their group, not what went to another.
    refused = budi.post(f"/api/v1/alerts/{water['id']}/ack", json={"version": water["version"]})
    assert refused.status_code == 403 and "may not ack" in refused.json()["detail"]
    acked = budi.post(f"/api/v1/alerts/{smoke['id']}/ack", json={"version": smoke["version"]})
    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["acknowledged_by"]) == ("acknowledged", "budi")
    assert [a["id"] for a in budi.get("/api/v1/alerts").json()["alerts"]] == [smoke["id"]]  # what he acknowledged

    with (
        ws_connect(ws_base + budi_person.token, open_timeout=30) as budi_ws,
        ws_connect(ws_base + sari_person.token, open_timeout=30) as sari_ws,
    ):
        snapshot = json.loads(budi_ws.recv(timeout=10))
        assert [a["id"] for a in snapshot["alerts"]] == [smoke["id"]]
        assert json.loads(sari_ws.recv(timeout=10))["alerts"] == []
        # An operator assigns the water alert to budi's group: it reaches him live, not sari.
        assigned = ani.post(
            f"/api/v1/alerts/{water['id']}/assign", json={"version": water["version"], "assignee": "rescue-klojen"}
        )
        assert assigned.status_code == 200, assigned.text
        live = _wait_for(budi_ws, lambda a: a["id"] == water["id"])
        assert (live["status"], live["assignee"]) == ("assigned", "rescue-klojen")
        deadline = time.monotonic() + 4  # heartbeats every 2 s; no alert for sari
        while time.monotonic() < deadline:
            message = json.loads(sari_ws.recv(timeout=5))
            assert message["type"] == "heartbeat", message

        # A group member reports on the group's alert; the REST scope agrees with the feed.
        reported = budi.post(f"/api/v1/alerts/{water['id']}/report", json={"status": "on_scene"})
        assert reported.status_code == 200, reported.text
        assert reported.json()["responders"] == {"rescue-klojen": "notified", "budi": "on_scene"}
        _wait_for(budi_ws, lambda a: a["id"] == water["id"] and a["responders"].get("budi") == "on_scene")
    assert {a["id"] for a in budi.get("/api/v1/alerts", params={"status": "open"}).json()["alerts"]} == {
        smoke["id"],
        water["id"],
    }
    assert {a["id"] for a in budi.get("/api/v1/alerts/open").json()} == {smoke["id"], water["id"]}
    assert budi.get(f"/api/v1/alerts/{water['id']}").status_code == 200
    assert sari.get("/api/v1/alerts").json()["alerts"] == []
    assert sari.get(f"/api/v1/alerts/{water['id']}").status_code == 404
    assert sari.get("/api/v1/alerts/open").json() == []

    # A note with a photo from the scene: stored with the note, the audit names it, never holds it.
    jpeg = _jpeg()
    photo_b64 = base64.b64encode(jpeg).decode()
    noted = budi.post(
        f"/api/v1/alerts/{water['id']}/note", json={"text": "air setinggi lutut", "photo_jpeg_b64": photo_b64}
    )
    assert noted.status_code == 200, noted.text
    assert budi.post(f"/api/v1/alerts/{water['id']}/note", json={"photo_jpeg_b64": photo_b64}).status_code == 200
    not_jpeg = budi.post(
        f"/api/v1/alerts/{water['id']}/note", json={"photo_jpeg_b64": base64.b64encode(b"GIF89a..").decode()}
    )
    assert not_jpeg.status_code == 400 and "not a JPEG" in not_jpeg.json()["detail"]
    assert budi.post(f"/api/v1/alerts/{water['id']}/note", json={}).status_code == 422
    assert pipeline.count("alert_photos") == 2
    with pipeline.db() as conn:
        details = [row[0] for row in conn.execute(
            "SELECT detail FROM alert_history WHERE alert_id = %s AND change = 'noted' ORDER BY version",
            (water["id"],),
        )]  # fmt: skip
        stored = conn.execute("SELECT id::text, actor, jpeg FROM alert_photos ORDER BY at").fetchall()
        assert all(photo_b64[:40] not in json.dumps(d) for d in details)
    assert [d.get("text") for d in details] == ["air setinggi lutut", None]
    photo_id = details[0]["photo_id"]
    assert {row[0] for row in stored} == {d["photo_id"] for d in details}
    assert [(row[1], bytes(row[2])) for row in stored] == [("budi", jpeg), ("budi", jpeg)]

    detail = ani.get(f"/api/v1/alerts/{water['id']}").json()
    assert [n["detail"].get("photo_id") for n in detail["notes"]] == [d["photo_id"] for d in details]
    url = f"/api/v1/alerts/{water['id']}/photos/{photo_id}"
    for client in (budi, ani):
        shown = client.get(url)
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg" and shown.content == jpeg
        assert "no-store" in shown.headers["cache-control"]
    assert plan.get(url).status_code == 403
    assert sari.get(url).status_code == 404  # not her alert
    assert ani.get(f"/api/v1/alerts/{smoke['id']}/photos/{photo_id}").status_code == 404  # another alert's
    assert ani.get(f"/api/v1/alerts/{water['id']}/photos/not-a-uuid").status_code == 422
    log = root.get("/api/v1/evidence-access").json()
    assert [(e["user"], e["role"], e["kind"], e["incident_id"], e["source"]) for e in log] == [
        ("ani", "operator", "scene_photo", photo_id, water["id"]),
        ("budi", "responder", "scene_photo", photo_id, water["id"]),
    ]
