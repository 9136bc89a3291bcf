"""Camera ingest through the real broker: a video file becomes sampled, resized JPEG frames on
``pantau.frames.v1`` with their headers, and feed status on ``pantau.camera-status.v1``."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import orjson
import pytest
from kafka import KafkaConsumer

from ingest.cameras.schemas import FrameMeta
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def video_factory(tmp_path: Path) -> Callable[..., Path]:
    def make(frames: int = 30, fps: float = 10, size: tuple[int, int] = (320, 180)) -> Path:
        path = tmp_path / f"clip-{frames}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
        for i in range(frames):
            image = np.full((size[1], size[0], 3), 40, np.uint8)
            cv2.rectangle(image, (10 + i * 5, 60), (40 + i * 5, 120), (220, 220, 220), -1)
            writer.write(image)
        writer.release()
        return path

    return make


def consume(pipeline: Pipeline, topic: str, expected: int, timeout_s: float = 60) -> list[Any]:
    consumer = KafkaConsumer(
        pipeline.topic(topic),
        bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=500,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        records.extend(consumer)
    consumer.close()
    return records


def test_video_file_becomes_sampled_jpeg_frames_and_feed_status(
    pipeline_factory: Callable[..., Pipeline], video_factory: Callable[..., Path]
) -> None:
    clip = video_factory(frames=30, fps=10)
    config = f"""
cameras:
  - {{id: plaza, source: "{clip}", fps: 5, width_px: 160, realtime: false,
     location: {{lat: -7.98, lon: 112.63, district: Klojen}}}}
  - {{id: gone, source: "rtsp://127.0.0.1:1/none", fps: 5}}
"""
    pipeline = pipeline_factory(config, services=("camera-ingest",))
    frames = consume(pipeline, "pantau.frames.v1", 15)
    assert len(frames) == 15  # 3 s of 10 fps sampled to 5 fps
    metas = [FrameMeta.from_headers(rec.key.decode(), rec.headers) for rec in frames]
    assert [m.seq for m in metas] == list(range(15))
    assert {m.camera_id for m in metas} == {"plaza"}
    assert all((m.width_px, m.height_px) == (160, 90) for m in metas)
    image = cv2.imdecode(np.frombuffer(frames[0].value, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.shape == (90, 160, 3)  # colour at the detection size

    statuses = [orjson.loads(rec.value) for rec in consume(pipeline, "pantau.camera-status.v1", 3)]
    plaza = [s["state"] for s in statuses if s["camera_id"] == "plaza"]
    assert plaza[0] == "connected" and plaza[-1] == "ended"
    gone = [s for s in statuses if s["camera_id"] == "gone"]
    assert gone and gone[0]["state"] == "reconnecting" and gone[0]["error"]
    assert pipeline.procs["camera-ingest"].poll() is None  # a dead feed does not take the service down


def test_unreachable_camera_becomes_a_video_loss_alert(pipeline_factory: Callable[..., Pipeline]) -> None:
    config = """
cameras:
  - {id: gone, source: "rtsp://127.0.0.1:1/none", fps: 5, name: Pasar Besar,
     location: {lat: -7.99, lon: 112.63, district: Klojen}}
"""
    pipeline = pipeline_factory(
        config, services=("alerting", "camera-health", "camera-ingest"), PANTAU_VIDEO_LOSS_AFTER_S="2"
    )
    deadline = time.monotonic() + 60
    while pipeline.count("alerts", "type = 'video_loss' AND source = 'gone'") < 1:
        assert time.monotonic() < deadline, "no video_loss alert"
        time.sleep(0.2)
    assert pipeline.count("alerts", "priority = 2 AND district = 'Klojen'") == 1


def test_reload_starts_an_added_camera_and_leaves_a_running_one_alone(
    pipeline_factory: Callable[..., Pipeline], video_factory: Callable[..., Path]
) -> None:
    clip = video_factory(frames=80, fps=10)  # 8 s played in real time
    plaza = f'{{id: plaza, source: "{clip}", fps: 5, width_px: 160, realtime: true}}'
    pipeline = pipeline_factory(f"cameras:\n  - {plaza}\n", services=("camera-ingest",))
    assert len(consume(pipeline, "pantau.frames.v1", 5)) >= 5
    config = Path(pipeline.env["PANTAU_CONFIG"])
    config.write_text(f'cameras:\n  - {plaza}\n  - {{id: gate, source: "{clip}", fps: 5, realtime: false}}\n')
    os.kill(pipeline.procs["camera-ingest"].pid, signal.SIGHUP)  # what `pantau reload` sends
    frames = consume(pipeline, "pantau.frames.v1", 40 + 5, timeout_s=30)
    metas = [FrameMeta.from_headers(rec.key.decode(), rec.headers) for rec in frames]
    gate = [m.seq for m in metas if m.camera_id == "gate"]
    assert gate == list(range(40))  # the added camera plays its whole clip
    plaza_seqs = [m.seq for m in metas if m.camera_id == "plaza"]
    assert plaza_seqs == list(range(len(plaza_seqs)))  # never restarted: one unbroken sequence
    assert pipeline.procs["camera-ingest"].poll() is None
    assert "cameras added ['gate'], removed [], changed []" in pipeline.log_tail("camera-ingest", 100)
