"""An operator's work through the console, on the real stack: commands forwarded to alerting in
the person's name, procedures that gate resolving, alerts raised by hand with a photo, cases,
the shift handover, the city's cameras and sensors."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from pantau.auth import Role
from tests.console.conftest import LoginFactory, PersonFactory
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

CONFIG = """
timezone: Asia/Jakarta
sensors:
  - {id: wl-01, kind: water_level, name: Brantas at Dinoyo, location: {lat: -7.94, lon: 112.61, district: Lowokwaru}}
cameras:
  - id: cam-1
    source: "rtsp://cam-1.local/stream"
    name: Alun-alun
    location: {lat: -7.98, lon: 112.63, district: Klojen}
alerting:
  corroboration_window_s: 0
  reopen_window_s: 0
  sop:
    water_level_high:
      - {id: call-river-post, text: {en: Call the river post, id: Hubungi pos sungai}}
      - {id: notify-district, text: {en: Notify the district head}, required: false}
"""
PHOTO = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4).decode()


def _incident(n: int, ts: datetime) -> bytes:
    return orjson.dumps(
        {"id": f"wl-inc-{n}", "type": "water_level_high", "source": "wl-01", "source_kind": "sensor",
         "rule": "threshold", "ts": ts.isoformat(), "detected_at": ts.isoformat(), "severity": "high",
         "location": {"lat": -7.94, "lon": 112.61, "district": "Lowokwaru"}, "title": "Brantas over its mark",
         "evidence": {"value": 2.7}}
    )  # fmt: skip


def _wait(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_an_operators_shift(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory, login_factory: LoginFactory
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "alerting", "console"))
    ani = login_factory(pipeline, person_factory(pipeline, "ani", Role.operator))
    budi = login_factory(pipeline, person_factory(pipeline, "budi", Role.operator))
    sari = login_factory(pipeline, person_factory(pipeline, "sari", Role.admin))
    planner = login_factory(pipeline, person_factory(pipeline, "plan", Role.planner))

    # What the page draws the city and the procedures from.
    ui = ani.get("/api/v1/ui/config").json()
    assert ui["timezone"] == "Asia/Jakarta"
    assert [c["id"] for c in ui["cameras"]] == ["cam-1"] and ui["sensors"][0]["type"] == "water_level"
    assert ui["districts"] == ["Klojen", "Lowokwaru"]
    assert [s["id"] for s in ui["sop"]["water_level_high"]] == ["call-river-post", "notify-district"]
    assert "citizen_report" in ui["manual_types"]

    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    now = datetime.now(UTC)
    producer.send(pipeline.topic("pantau.incidents.v1"), key=b"wl-01", value=_incident(1, now))
    producer.flush()
    alert = _wait(lambda: ani.get("/api/v1/alerts/open").json())[0]

    # Commands go through the console to alerting, in the person's name.
    acked = ani.post(f"/api/v1/alerts/{alert['id']}/ack", json={"version": alert["version"]})
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "ani"
    stale = budi.post(f"/api/v1/alerts/{alert['id']}/ack", json={"version": alert["version"]})
    assert stale.status_code == 409 and "changed since you saw it" in stale.json()["detail"]
    assert planner.post(f"/api/v1/alerts/{alert['id']}/note", json={"text": "hi"}).status_code == 403

    # The procedure gates resolving; each step checked is in the audit with who checked it.
    version = acked.json()["version"]
    blocked = ani.post(f"/api/v1/alerts/{alert['id']}/resolve", json={"version": version})
    assert blocked.status_code == 409 and "call-river-post" in blocked.json()["detail"]
    checked = budi.post(f"/api/v1/alerts/{alert['id']}/sop", json={"step": "call-river-post"})
    assert checked.status_code == 200 and checked.json()["sop_done"] == {"call-river-post": "budi"}
    resolved = ani.post(
        f"/api/v1/alerts/{alert['id']}/resolve", json={"version": checked.json()["version"], "reason": "water receding"}
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    detail = ani.get(f"/api/v1/alerts/{alert['id']}").json()
    trail = [(entry["change"], entry["actor"]) for entry in detail["audit"]]
    assert ("acknowledged", "ani") in trail and ("sop", "budi") in trail and ("resolved", "ani") in trail

    # A second flood alert: an admin (the supervisor) may resolve with the step open, giving a reason.
    producer.send(pipeline.topic("pantau.incidents.v1"), key=b"wl-01", value=_incident(2, now + timedelta(hours=1)))
    producer.flush()
    again = _wait(lambda: ani.get("/api/v1/alerts/open").json())[0]
    refused = ani.post(
        f"/api/v1/alerts/{again['id']}/resolve", json={"version": again["version"], "override_reason": "x" * 5}
    )
    assert refused.status_code == 403
    overridden = sari.post(
        f"/api/v1/alerts/{again['id']}/resolve",
        json={"version": again["version"], "override_reason": "post has no phone"},
    )
    assert overridden.status_code == 200, overridden.text
    audit = ani.get(f"/api/v1/alerts/{again['id']}").json()["audit"]
    assert audit[-1]["detail"]["sop_override"]["reason"] == "post has no phone"

    # A citizen calls: the operator raises it by hand with the photo they sent.
    raised = ani.post(
        "/api/v1/alerts",
        json={"type": "fire", "severity": "critical", "title": "Smoke from a shophouse", "description": "2nd floor",
              "lat": -7.981, "lon": 112.632, "district": "Klojen", "photo_jpeg_b64": PHOTO},
    )  # fmt: skip
    assert raised.status_code == 201, raised.text
    manual = raised.json()
    assert manual["source_kind"] == "manual" and manual["priority"] == 1 and manual["status"] == "new"
    assert ani.post("/api/v1/alerts", json={"type": "ufo", "title": "lights", "lat": 0, "lon": 0}).status_code == 400
    assert planner.post("/api/v1/alerts", json={"type": "fire", "title": "x"}).status_code == 403
    # Its incident is archived like any other, and its photo is evidence (viewed under the access record).
    incident = _wait(lambda: ani.get(f"/api/v1/alerts/{manual['id']}").json()["incidents"])[0]
    photo = ani.get(f"/api/v1/incidents/{incident['id']}/snapshot")
    assert photo.status_code == 200 and photo.content == base64.b64decode(PHOTO)
    # A photo of several MB (more than a Kafka record holds; up to 5 MB is documented) is stored apart.
    big = b"\xff\xd8\xff\xe0" + secrets.token_bytes(3 * 1024 * 1024)
    big_report = ani.post(
        "/api/v1/alerts",
        json={"type": "fire", "severity": "high", "title": "Another shophouse", "lat": -7.982, "lon": 112.633,
              "photo_jpeg_b64": base64.b64encode(big).decode()},
    )  # fmt: skip
    assert big_report.status_code == 201, big_report.text
    big_incident = _wait(lambda: ani.get(f"/api/v1/alerts/{big_report.json()['id']}").json()["incidents"])[0]
    assert big_incident["snapshot_url"] and "photo_id" in big_incident["evidence"]
    assert ani.get(big_incident["snapshot_url"]).content == big

    # Cases link alerts; unknown alerts are refused.
    case = ani.post(
        "/api/v1/cases", json={"title": "Flood and fire in the north", "alert_ids": [alert["id"], manual["id"]]}
    )
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    assert ani.post(f"/api/v1/cases/{case_id}/alerts", json={"alert_ids": ["nope"]}).status_code == 422
    linked = budi.post(f"/api/v1/cases/{case_id}/alerts", json={"alert_ids": [again["id"], manual["id"]]}).json()
    # Oldest link first; each alert once.
    assert sorted(linked["alert_ids"][:2]) == sorted([alert["id"], manual["id"]])
    assert linked["alert_ids"][2:] == [again["id"]]
    assert [c["id"] for c in planner.get("/api/v1/cases", params={"alert": again["id"]}).json()] == [case_id]

    # The shift handover: written by one, signed by the next, once.
    written = ani.post("/api/v1/handovers", json={"text": "Fire at Klojen still open; river post called."}).json()
    assert written["open_alerts"] >= 1 and written["signed_by"] is None
    assert ani.post(f"/api/v1/handovers/{written['id']}/sign").status_code == 409
    signed = budi.post(f"/api/v1/handovers/{written['id']}/sign").json()
    assert signed["signed_by"] == "budi" and signed["signed_at"] is not None
    assert sari.post(f"/api/v1/handovers/{written['id']}/sign").status_code == 409
    assert planner.get("/api/v1/handovers").json()[0]["id"] == written["id"]

    # The admin sees it all in the console's audit log.
    actions = {(e["user"], e["action"]) for e in sari.get("/api/v1/audit").json()}
    assert {("ani", "case.created"), ("budi", "case.linked"), ("budi", "handover.signed")} <= actions


def test_camera_health_and_live_sensor_values(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "console"))
    headers = {"Authorization": f"Bearer {person_factory(pipeline, 'ani', Role.operator).token}"}
    console = httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", headers=headers, timeout=15)
    assert console.get("/api/v1/cameras/health").json()[0]["state"] == "unknown"

    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    now = datetime.now(UTC)
    status = {"camera_id": "cam-1", "state": "connected", "at": now.isoformat(), "last_frame_ts": now.isoformat(),
              "frames_sent": 500, "fps_measured": 4.9, "reconnects": 1}  # fmt: skip
    producer.send(pipeline.topic("pantau.camera-status.v1"), key=b"cam-1", value=orjson.dumps(status))
    for minute in range(30):
        reading = {"sensor_id": "wl-01", "kind": "water_level", "value": 1.0 + minute / 10, "unit": "m",
                   "ts": (now - timedelta(minutes=30 - minute)).isoformat()}  # fmt: skip
        producer.send(pipeline.topic("pantau.sensor-readings.v1"), key=b"wl-01", value=orjson.dumps(reading))
    producer.flush()

    camera = _wait(lambda: [c for c in console.get("/api/v1/cameras/health").json() if c["state"] == "online"])[0]
    assert (camera["camera"], camera["fps"], camera["reconnects"], camera["district"]) == ("cam-1", 4.9, 1, "Klojen")
    sensor = _wait(lambda: [s for s in console.get("/api/v1/sensors/latest").json() if len(s["series"]) >= 30])[0]
    assert sensor["sensor"] == "wl-01" and sensor["unit"] == "m"
    assert sensor["value"] == pytest.approx(3.9)
    values = [point[1] for point in sensor["series"]]
    assert values == sorted(values) and len(values) <= 60
