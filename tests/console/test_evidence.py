"""Evidence through the console: snapshots and clips for those allowed, every access recorded."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import orjson
import pytest
from kafka import KafkaProducer

from detectors.video.avi import read_mjpeg_avi, write_mjpeg_avi
from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


def _jpeg(level: int) -> bytes:
    _ok, buf = cv2.imencode(".jpg", np.full((90, 160), level, np.uint8))
    return buf.tobytes()


def test_snapshots_and_clips_are_served_to_those_allowed_and_every_access_is_recorded(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory("", services=("archiver", "alerting", "console"))
    snapshot = _jpeg(120)
    clip_frames = [_jpeg(level) for level in (10, 60, 110)]
    write_mjpeg_avi(Path(pipeline.env["PANTAU_EVIDENCE_DIR"]) / "cam-gate" / "inc-1.avi", clip_frames, fps=5)
    now = datetime.now(UTC).isoformat()
    evidence = {"snapshot_jpeg_b64": base64.b64encode(snapshot).decode(), "clip": "cam-gate/inc-1.avi"}
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    for incident_id, extra in (("inc-1", evidence), ("inc-2", {"clip": "../../etc/passwd"})):
        incident = {"id": incident_id, "type": "intrusion", "source": "cam-gate", "source_kind": "camera",
                    "rule": "z", "ts": now, "detected_at": now, "severity": "high", "title": "Intrusion",
                    "evidence": extra}  # fmt: skip
        producer.send(pipeline.topic("pantau.incidents.v1"), key=b"cam-gate", value=orjson.dumps(incident)).get(10)
    producer.close()
    pipeline.wait_count("incidents", 2)

    def headers(role: Role, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {pipeline.token(role, user)}"}

    with httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=10) as http:
        # The alert's detail points at its evidence.
        pipeline.wait_count("alert_incidents", 2)
        alert_id = http.get("/api/v1/alerts", headers=headers(Role.operator, "ani")).json()["alerts"][0]["id"]
        detail = http.get(f"/api/v1/alerts/{alert_id}", headers=headers(Role.operator, "ani")).json()
        urls = {i["id"]: (i["snapshot_url"], i["clip_url"]) for i in detail["incidents"]}
        assert urls["inc-1"] == ("/api/v1/incidents/inc-1/snapshot", "/api/v1/incidents/inc-1/clip")
        shown = http.get("/api/v1/incidents/inc-1/snapshot", headers=headers(Role.operator, "ani"))
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
        assert shown.content == snapshot and "no-store" in shown.headers["cache-control"]
        video = http.get("/api/v1/incidents/inc-1/clip", headers=headers(Role.responder, "budi"))
        assert video.status_code == 200 and read_mjpeg_avi(video.content) == (5.0, clip_frames)

        assert http.get("/api/v1/incidents/inc-1/snapshot", headers=headers(Role.planner, "plan")).status_code == 403
        assert http.get("/api/v1/incidents/inc-1/snapshot").status_code == 401
        assert http.get("/api/v1/incidents/nope/snapshot", headers=headers(Role.operator, "ani")).status_code == 404
        assert http.get("/api/v1/incidents/inc-2/snapshot", headers=headers(Role.operator, "ani")).status_code == 404
        escape = http.get("/api/v1/incidents/inc-2/clip", headers=headers(Role.operator, "ani"))
        assert escape.status_code == 404  # a stored path never leads outside the evidence folder

        log = http.get("/api/v1/evidence-access", headers=headers(Role.admin, "root")).json()
        assert [(e["user"], e["role"], e["incident_id"], e["kind"]) for e in log] == [
            ("budi", "responder", "inc-1", "clip"),
            ("ani", "operator", "inc-1", "snapshot"),
        ]
        assert log[0]["source"] == "cam-gate"
        only_ani = http.get("/api/v1/evidence-access", params={"user": "ani"}, headers=headers(Role.admin, "root"))
        assert [e["kind"] for e in only_ani.json()] == ["snapshot"]
        assert http.get("/api/v1/evidence-access", headers=headers(Role.operator, "ani")).status_code == 403
