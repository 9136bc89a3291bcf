"""An RTSP camera (what most city CCTV speaks) read by camera ingest, through the real broker.

The camera is GStreamer's RTSP server serving a live test pattern, 320x240 at 25 fps, as motion
JPEG over RTP (``rtsp_camera_factory``; a subprocess of the system Python on 127.0.0.1). Camera
ingest reads it with OpenCV's FFmpeg backend, as in production, next to a looping video file, and
camera-health watches both, as in test_network_camera.py (whose helpers this reuses). The frames
reach the topic decoded and re-encoded at the configured size; when the camera goes away (the server
process ends) or goes silent (the process is frozen, its connections kept open) the feed goes
``reconnecting`` and a ``video_loss`` incident is raised; when it comes back on the same port frames
flow again and the incident is cleared. The times measured are printed (``pytest -s``) and quoted in
docs/operations.md ("A camera disappearing").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from kafka import KafkaConsumer

from ingest.cameras.schemas import TOPIC_FRAMES
from tests.ingest.cameras.rtsp_camera import RtspCamera
from tests.ingest.cameras.test_network_camera import (
    Topics,
    check_gone_camera,
    check_silent_camera,
    start_cameras,
)
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

WIDTH_PX, HEIGHT_PX = 320, 240


def assert_frames_are_the_cameras_picture(pipeline: Pipeline, topics: Topics) -> None:
    """The RTSP camera's frames on the topic: at 5 fps, with the camera's size in their headers and
    as JPEG (colour, the default), showing the test pattern (not a blank or corrupt picture)."""
    metas = [f.meta for f in topics.camera_frames("street")]
    assert {(m.width_px, m.height_px) for m in metas} == {(WIDTH_PX, HEIGHT_PX)}
    assert len({m.session for m in metas}) == 1 and [m.seq for m in metas] == list(range(len(metas)))
    span_s = (metas[-1].capture_ts - metas[0].capture_ts).total_seconds()
    assert 3.5 < (len(metas) - 1) / span_s < 6.5, (len(metas), span_s)

    consumer = KafkaConsumer(
        pipeline.topic(TOPIC_FRAMES),
        bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
    )
    try:
        jpegs: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(jpegs) < 3 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                jpegs += [rec.value for rec in batch if rec.key == b"street"]
    finally:
        consumer.close()
    assert len(jpegs) >= 3
    for jpeg in jpegs[:3]:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
        assert image is not None and image.shape == (HEIGHT_PX, WIDTH_PX, 3)
        assert float(image.std()) > 10  # the pattern's ball on black, not a flat frame


def test_rtsp_camera_that_disappears_and_returns(
    pipeline_factory: Callable[..., Pipeline], rtsp_camera_factory: Callable[..., RtspCamera], tmp_path: Path
) -> None:
    street = rtsp_camera_factory()
    pipeline, topics = start_cameras(pipeline_factory, street, tmp_path, width_px=WIDTH_PX)
    try:
        assert_frames_are_the_cameras_picture(pipeline, topics)
    except BaseException:
        topics.close()
        raise
    check_gone_camera(pipeline, topics, street, "RTSP gone")


def test_rtsp_camera_that_goes_silent_is_reconnected_after_the_read_timeout(
    pipeline_factory: Callable[..., Pipeline], rtsp_camera_factory: Callable[..., RtspCamera], tmp_path: Path
) -> None:
    """The camera keeps its RTSP connection open but sends nothing (the server process is frozen):
    the feed gives up after the read timeout."""
    street = rtsp_camera_factory()
    pipeline, topics = start_cameras(pipeline_factory, street, tmp_path, width_px=WIDTH_PX)
    check_silent_camera(pipeline, topics, street, "RTSP silent")
