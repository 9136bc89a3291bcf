"""A network camera that disappears and returns (issue 7), through the real broker.

The camera serves MJPEG over HTTP (what many IP cameras serve; OpenCV's FFmpeg backend reads it as
it reads RTSP), in-process on 127.0.0.1 (``mjpeg_camera_factory``). Camera ingest serves it next to
a looping video file; camera-health watches both. The camera fails in the two ways a real one does:
it goes away (listening socket closed, open connection dropped) and comes back on the same port, or
it goes silent (connection kept open, nothing sent) and resumes. Either way its feed goes
``reconnecting``, a ``video_loss`` incident is raised, frames flow again and the incident is
cleared, while the file's frames never stop. The times measured are printed (``pytest -s``) and
quoted in docs/operations.md ("A camera disappearing").
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

import cv2
import numpy as np
import pytest
from kafka import KafkaConsumer

from detectors.schemas import TOPIC_INCIDENTS, Incident, Phase
from ingest.cameras.capture import NETWORK_READ_TIMEOUT_S
from ingest.cameras.schemas import TOPIC_CAMERA_STATUS, TOPIC_FRAMES, CameraStatus, FeedState, FrameMeta
from pantau.timeutil import utcnow
from tests.ingest.cameras.mjpeg_camera import MjpegCamera
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

EVENTUALLY_S = 60.0
VIDEO_LOSS_AFTER_S = 3
T = TypeVar("T")


@dataclass
class Frame:
    """A frame record as seen here: its headers, and when Kafka got it (the producer's timestamp)."""

    meta: FrameMeta
    sent_at_ms: int


@dataclass
class Topics:
    """Everything the services under test produce, read as it arrives from the three topics."""

    pipeline: Pipeline
    frames: list[Frame] = field(default_factory=list)
    statuses: list[CameraStatus] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)

    def __post_init__(self) -> None:
        # No group: every partition from the earliest offset, nothing committed.
        self._consumer = KafkaConsumer(
            self.pipeline.topic(TOPIC_FRAMES),
            self.pipeline.topic(TOPIC_CAMERA_STATUS),
            self.pipeline.topic(TOPIC_INCIDENTS),
            bootstrap_servers=self.pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
            auto_offset_reset="earliest",
        )

    def poll(self) -> None:
        for batch in self._consumer.poll(timeout_ms=200).values():
            for rec in batch:
                if rec.topic == self.pipeline.topic(TOPIC_FRAMES):
                    self.frames.append(Frame(FrameMeta.from_headers(rec.key.decode(), rec.headers), rec.timestamp))
                elif rec.topic == self.pipeline.topic(TOPIC_CAMERA_STATUS):
                    self.statuses.append(CameraStatus.model_validate_json(rec.value))
                else:
                    self.incidents.append(Incident.model_validate_json(rec.value))

    def wait_for(self, what: str, found: Callable[[], T | None], timeout_s: float = EVENTUALLY_S) -> T:
        """Read on until ``found`` returns something (that is returned), for at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while (result := found()) is None:
            assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
            self.poll()
        return result

    def camera_frames(self, camera_id: str, after: datetime | None = None) -> list[Frame]:
        return [
            f for f in self.frames if f.meta.camera_id == camera_id and (after is None or f.meta.capture_ts > after)
        ]

    def video_loss(self, camera_id: str, phase: Phase, after: datetime | None = None) -> list[Incident]:
        return [
            i
            for i in self.incidents
            if i.type == "video_loss" and i.source == camera_id and i.phase is phase and (after is None or i.ts > after)
        ]

    def close(self) -> None:
        self._consumer.close()


def looping_clip(path: Path, frames: int = 40, fps: float = 10, size: tuple[int, int] = (320, 180)) -> Path:
    """A short MJPEG AVI of a moving block, played in a loop by the file camera."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        image = np.full((size[1], size[0], 3), 40, np.uint8)
        cv2.rectangle(image, (10 + i * 6, 60), (40 + i * 6, 120), (220, 220, 220), -1)
        writer.write(image)
    writer.release()
    return path


def first(items: list[T]) -> T | None:
    return items[0] if items else None


class NetworkCamera(Protocol):
    """A camera served over the network that a test can take away, freeze and bring back."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...

    def start(self) -> None: ...

    def stall(self) -> None: ...

    def resume(self) -> None: ...


def start_cameras(
    pipeline_factory: Callable[..., Pipeline], street: NetworkCamera, tmp_path: Path, width_px: int = 160
) -> tuple[Pipeline, Topics]:
    """Camera ingest serving ``street`` (the network camera, scaled to ``width_px``) and ``plaza`` (a
    looping file), and camera-health watching both; returns once both cameras' frames are on the topic."""
    clip = looping_clip(tmp_path / "plaza.avi")
    config = f"""
cameras:
  - {{id: street, source: "{street.url}", fps: 5, width_px: {width_px}, name: Jalan Ijen}}
  - {{id: plaza, source: "{clip}", fps: 5, width_px: 160, loop: true, realtime: true}}
"""
    # Status every second, so that camera-health sees progress well within the short video-loss delay.
    pipeline = pipeline_factory(
        config,
        services=("camera-ingest", "camera-health"),
        PANTAU_VIDEO_LOSS_AFTER_S=str(VIDEO_LOSS_AFTER_S),
        PANTAU_CAMERA_STATUS_INTERVAL_S="1",
    )
    topics = Topics(pipeline)
    topics.wait_for("frames from the network camera", lambda: len(topics.camera_frames("street")) >= 10 or None)
    topics.wait_for("frames from the file camera", lambda: len(topics.camera_frames("plaza")) >= 10 or None)
    return pipeline, topics


def wait_lost(topics: Topics, since: datetime) -> tuple[CameraStatus, Incident]:
    """The network camera's first ``reconnecting`` status and ``video_loss`` incident after ``since``."""
    reconnecting = topics.wait_for(
        "street reported reconnecting",
        lambda: first(
            [
                s
                for s in topics.statuses
                if s.camera_id == "street" and s.state is FeedState.reconnecting and s.at > since
            ]
        ),
    )
    raised = topics.wait_for("video_loss raised", lambda: first(topics.video_loss("street", Phase.raised, after=since)))
    assert reconnecting.error and reconnecting.reconnects >= 1
    assert raised.source_kind == "camera" and "Jalan Ijen" in raised.title
    return reconnecting, raised


def wait_back(topics: Topics, since: datetime, lost_at: datetime, raised: Incident) -> tuple[Frame, Incident]:
    """The network camera's first frame and ``video_loss`` clearing after ``since``; the frames before
    ``lost_at`` were of another capture session."""
    back = topics.wait_for("street frames again", lambda: first(topics.camera_frames("street", after=since)))
    cleared = topics.wait_for(
        "video_loss cleared", lambda: first(topics.video_loss("street", Phase.cleared, after=since))
    )
    assert cleared.id != raised.id
    before = [f for f in topics.camera_frames("street") if f.meta.capture_ts <= lost_at]
    assert before and back.meta.session != before[-1].meta.session  # reconnected: a new capture session
    return back, cleared


def assert_file_camera_kept_sending(topics: Topics, pipeline: Pipeline, lost_at: datetime) -> None:
    """Across the network camera's loss and return, the file camera in the same ingest never paused."""
    cleared_seen_at = utcnow()
    topics.wait_for(  # a few more frames, so the file camera's record reaches past the return
        "more street frames", lambda: len(topics.camera_frames("street", after=cleared_seen_at)) >= 5 or None
    )
    topics.poll()
    plaza_ms = [f.sent_at_ms for f in topics.camera_frames("plaza")]
    assert plaza_ms[0] < lost_at.timestamp() * 1000 and plaza_ms[-1] > cleared_seen_at.timestamp() * 1000
    assert max(b - a for a, b in itertools.pairwise(plaza_ms)) < 2000
    assert not [i for i in topics.incidents if i.source == "plaza"]
    # And the network camera was never reported lost while it was serving.
    assert all(i.ts > lost_at for i in topics.video_loss("street", Phase.raised))
    assert pipeline.procs["camera-ingest"].poll() is None


def report(
    what: str,
    lost_at: datetime,
    reconnecting: CameraStatus,
    raised: Incident,
    returned_at: datetime,
    back: Frame,
    cleared: Incident,
    topics: Topics,
) -> None:
    """Print the measured times (``pytest -s``): docs/operations.md quotes them."""
    last = [f for f in topics.camera_frames("street") if f.meta.capture_ts <= lost_at][-1]
    print(
        f"\nnetwork camera {what}: last frame {(lost_at - last.meta.capture_ts).total_seconds():.2f} s before; "
        f"-> reconnecting status {(reconnecting.at - lost_at).total_seconds():.2f} s, "
        f"-> video_loss raised {(raised.ts - lost_at).total_seconds():.2f} s "
        f"(after {VIDEO_LOSS_AFTER_S} s without progress); "
        f"back -> first frame {(back.meta.capture_ts - returned_at).total_seconds():.2f} s, "
        f"-> video_loss cleared {(cleared.ts - returned_at).total_seconds():.2f} s; "
        f"reconnects {max(s.reconnects for s in topics.statuses if s.camera_id == 'street')}"
    )


def test_network_camera_that_disappears_and_returns(
    pipeline_factory: Callable[..., Pipeline], mjpeg_camera_factory: Callable[..., MjpegCamera], tmp_path: Path
) -> None:
    street = mjpeg_camera_factory(fps=10)
    pipeline, topics = start_cameras(pipeline_factory, street, tmp_path)
    assert street.frames_served > 0
    check_gone_camera(pipeline, topics, street, "gone")


def check_gone_camera(pipeline: Pipeline, topics: Topics, street: NetworkCamera, label: str) -> None:
    """``street`` goes away (its server ends, connections drop, new ones are refused): ``reconnecting``
    and ``video_loss``; it returns on the same port: frames again and the incident cleared."""
    try:
        dropped_at = utcnow()
        street.stop()
        reconnecting, raised = wait_lost(topics, dropped_at)
        # Nothing from the camera while it is gone (frames still in OpenCV's buffer are sent at once).
        assert not topics.camera_frames("street", after=dropped_at + timedelta(seconds=1))

        returned_at = utcnow()
        street.start()  # back on the same port
        back, cleared = wait_back(topics, returned_at, dropped_at, raised)
        assert_file_camera_kept_sending(topics, pipeline, dropped_at)
        report(label, dropped_at, reconnecting, raised, returned_at, back, cleared, topics)
    finally:
        topics.close()


def test_network_camera_that_goes_silent_is_reconnected_after_the_read_timeout(
    pipeline_factory: Callable[..., Pipeline], mjpeg_camera_factory: Callable[..., MjpegCamera], tmp_path: Path
) -> None:
    """The camera keeps the connection open but sends nothing (power or link lost without the TCP
    connection being closed): the feed gives up after the read timeout instead of OpenCV's 30 s."""
    street = mjpeg_camera_factory(fps=10)
    pipeline, topics = start_cameras(pipeline_factory, street, tmp_path)
    assert street.frames_served > 0
    check_silent_camera(pipeline, topics, street, "silent")


def check_silent_camera(pipeline: Pipeline, topics: Topics, street: NetworkCamera, label: str) -> None:
    """``street`` freezes (connection kept, nothing sent): ``reconnecting`` after the read timeout and
    ``video_loss``; it resumes: frames again and the incident cleared; the file camera never stops."""
    try:
        stalled_at = utcnow()
        street.stall()
        reconnecting, raised = wait_lost(topics, stalled_at)
        lag_s = (reconnecting.at - stalled_at).total_seconds()
        assert NETWORK_READ_TIMEOUT_S - 1 < lag_s < NETWORK_READ_TIMEOUT_S + 5, lag_s
        assert reconnecting.error == "no frame from the feed"
        assert not topics.camera_frames("street", after=stalled_at + timedelta(seconds=1))

        resumed_at = utcnow()
        street.resume()
        back, cleared = wait_back(topics, resumed_at, stalled_at, raised)
        assert_file_camera_kept_sending(topics, pipeline, stalled_at)
        report(label, stalled_at, reconnecting, raised, resumed_at, back, cleared, topics)
    finally:
        topics.close()
