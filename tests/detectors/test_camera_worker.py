"""Camera detection through the real pipeline: a video file with someone walking onto the lawn
becomes an intrusion alert with a snapshot; unusable frames are dead-lettered and change nothing."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

from detectors.video.synthetic import FigurePath, SceneSpec, render
from ingest.cameras.schemas import FrameMeta
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def walker_video_factory(tmp_path: Path) -> Callable[[], Path]:
    def make() -> Path:
        spec = SceneSpec(
            figures=[FigurePath(1, [(0.3, 0.4), (0.35, 0.95)], start_s=1.0, speed_px_s=60)], frames=60, seed=3
        )
        path = tmp_path / "walker.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), spec.fps, (spec.width_px, spec.height_px))
        for frame in render(spec):
            writer.write(cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR))
        writer.release()
        return path

    return make


def read_topic(pipeline: Pipeline, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(
        pipeline.topic(topic),
        bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    values = [rec.value for rec in consumer]
    consumer.close()
    return values


def test_walker_on_the_lawn_becomes_an_intrusion_alert_and_bad_frames_are_dead_lettered(
    pipeline_factory: Callable[..., Pipeline], walker_video_factory: Callable[[], Path]
) -> None:
    video = walker_video_factory()
    config = f"""
cameras:
  - id: plaza
    source: "{video}"
    fps: 5
    realtime: false
    object_check: null  # the walker is a drawn shape: the motion layer alone
    location: {{lat: -7.98, lon: 112.63, district: Klojen}}
    zones:
      - name: lawn
        polygon: [[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]]
        rules: [intrusion]
        criticality: high
"""
    pipeline = pipeline_factory(config, services=("archiver", "alerting", "camera-detectors"))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    topic = pipeline.topic("pantau.frames.v1")
    good = FrameMeta(
        camera_id="plaza", capture_ts=datetime(2026, 1, 1, tzinfo=UTC), seq=0, session="x", width_px=640, height_px=360
    )
    producer.send(topic, key=b"plaza", value=b"\xff\xd8 not really a jpeg", headers=good.headers()).get(10)
    producer.send(topic, key=b"plaza", value=b"x", headers=[]).get(10)
    producer.send(topic, key=b"nowhere", value=b"x", headers=good.headers()).get(10)
    _ok, small = cv2.imencode(".jpg", np.zeros((100, 100), np.uint8))
    producer.send(topic, key=b"plaza", value=small.tobytes(), headers=good.headers()).get(10)
    producer.close()

    pipeline.start("camera-ingest")
    deadline = time.monotonic() + 60
    while pipeline.count("alerts", "type = 'intrusion'") < 1:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no intrusion alert; dead letters: {read_topic(pipeline, 'pantau.dlq.v1')}; "
                f"frames on the topic: {len(read_topic(pipeline, 'pantau.frames.v1'))}\n"
                f"camera-detectors log:\n{pipeline.log_tail('camera-detectors', 80)}"
            )
        time.sleep(0.3)
    # A high-criticality zone is P2, one lower for motion alone (no object check on this camera).
    assert pipeline.count("alerts", "zone = 'lawn' AND priority = 3 AND district = 'Klojen'") == 1
    reason = ("%motion only, no object check: one lower%",)
    assert pipeline.count("alerts", "doc->>'priority_reason' LIKE %s", reason) == 1
    assert pipeline.wait_count("incidents", 1, "type = 'intrusion'") == 1
    with pipeline.db() as conn:
        row = conn.execute("SELECT evidence FROM incidents WHERE type = 'intrusion'").fetchone()
    assert row is not None
    snapshot = base64.b64decode(row[0]["snapshot_jpeg_b64"])
    assert snapshot[:2] == b"\xff\xd8" and len(snapshot) < 40_000
    assert len(row[0]["bbox_xyxy"]) == 4
    with pipeline.db() as conn:
        alert = conn.execute("SELECT doc->>'last_correlation_id' FROM alerts WHERE type = 'intrusion'").fetchone()
    assert alert is not None and re.fullmatch(r"plaza@.+/\d+", alert[0]), alert  # the frame that raised it
    clip = Path(pipeline.env["PANTAU_EVIDENCE_DIR"]) / row[0]["clip"]
    deadline = time.monotonic() + 60
    while not clip.exists():
        assert time.monotonic() < deadline, f"no evidence clip {clip}"
        time.sleep(0.2)
    frames = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert 40 <= frames <= 55  # 5 s before and 5 s after the incident at 5 fps

    consumer = KafkaConsumer(
        pipeline.topic("pantau.dlq.v1"),
        bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    reasons = sorted(orjson.loads(rec.value)["reason"] for rec in consumer)
    consumer.close()
    assert len(reasons) == 4
    assert any("not a decodable JPEG" in r for r in reasons)
    assert any("headers missing" in r for r in reasons)
    assert any("'nowhere' is not in the config" in r for r in reasons)
    assert any("not the 640x360 its headers announce" in r for r in reasons)
