"""Camera capture logic without a camera: sampling, back-off, the feed loop, encoding."""

from __future__ import annotations

import itertools
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest

from ingest.cameras import capture
from ingest.cameras.capture import Backoff, CameraFeed, FrameSampler, SourceError, encode_frame
from ingest.cameras.config import CameraConfig, CamerasConfig
from ingest.cameras.schemas import CameraStatus, FeedState, FrameMeta
from tests.ingest.cameras.mjpeg_camera import MjpegCamera

pytestmark = pytest.mark.unit


@pytest.fixture
def camera_factory() -> Callable[..., CameraConfig]:
    def make(**overrides: object) -> CameraConfig:
        base: dict[str, object] = {"id": "plaza", "source": "plaza.mp4", "fps": 5, "width_px": 160, "realtime": False}
        base.update(overrides)
        return CameraConfig.model_validate(base)

    return make


class ListSource:
    """``count`` frames of a 320x180 colour image at ``fps`` media time."""

    def __init__(self, count: int, fps: float) -> None:
        self.count, self.fps, self.index, self.closed = count, fps, 0, False

    def read(self) -> tuple[np.ndarray, float] | None:
        if self.index >= self.count:
            return None
        image = np.full((180, 320, 3), self.index % 255, np.uint8)
        self.index += 1
        return image, (self.index - 1) / self.fps

    def close(self) -> None:
        self.closed = True


def test_sampler_brings_25_fps_down_to_5_by_keeping_every_fifth_frame() -> None:
    sampler = FrameSampler(5)
    kept = [i for i in range(50) if sampler.keep(i / 25)]
    assert kept == list(range(0, 50, 5))


def test_backoff_grows_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(initial_s=1, max_s=8, rng=random.Random(3))
    delays = [backoff.next_delay_s() for _ in range(6)]
    for attempt, delay in enumerate(delays):
        ceiling = min(8, 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay_s() <= 1


def test_feed_sends_sampled_frames_in_order_and_reports_connected_then_ended(
    camera_factory: Callable[..., CameraConfig],
) -> None:
    frames: list[tuple[FrameMeta, bytes]] = []
    statuses: list[CameraStatus] = []
    source = ListSource(count=30, fps=10)
    feed = CameraFeed(
        camera_factory(), lambda m, b: frames.append((m, b)), statuses.append, open_source=lambda _c: source
    )
    feed.run()
    assert [m.seq for m, _ in frames] == list(range(15))
    assert len({m.session for m, _ in frames}) == 1
    gaps = [(b.capture_ts - a.capture_ts).total_seconds() for (a, _), (b, _) in itertools.pairwise(frames)]
    assert all(abs(g - 0.2) < 1e-6 for g in gaps)
    assert all(m.capture_ts.tzinfo is not None and (m.width_px, m.height_px) == (160, 90) for m, _ in frames)
    assert statuses[0].state is FeedState.connected and statuses[-1].state is FeedState.ended
    assert statuses[-1].frames_sent == 15 and source.closed


def test_feed_that_cannot_open_reports_reconnecting_with_the_error_and_keeps_trying(
    camera_factory: Callable[..., CameraConfig],
) -> None:
    statuses: list[CameraStatus] = []
    attempts = []

    def broken(_camera: CameraConfig) -> ListSource:
        attempts.append(1)
        if len(attempts) >= 3:
            feed.stop.set()
        # As OpenCV's and FFmpeg's own messages do: the URL with its credentials.
        raise SourceError("cannot open 'rtsp://admin:Hunter2@cam/1?password=Hunter2'")

    feed = CameraFeed(
        camera_factory(source="rtsp://admin:Hunter2@cam/1?password=Hunter2"),
        lambda m, b: None,
        statuses.append,
        open_source=broken,
        backoff=Backoff(initial_s=0.001, max_s=0.002),
    )
    thread = threading.Thread(target=feed.run)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(attempts) == 3
    assert [s.state for s in statuses] == [FeedState.reconnecting] * 3
    assert statuses[-1].reconnects == 3 and "cannot open" in (statuses[-1].error or "")
    # The error travels on the camera-status topic, into video-loss incidents, pushes and the health page.
    assert statuses[-1].error == "open failed: cannot open 'rtsp://***@cam/1?password=***'"


def test_encode_resizes_to_the_detection_width_in_colour_or_grayscale(
    camera_factory: Callable[..., CameraConfig],
) -> None:
    jpeg, width_px, height_px = encode_frame(np.zeros((720, 1280, 3), np.uint8), camera_factory(width_px=640))
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    assert (width_px, height_px) == (640, 360) and decoded.shape == (360, 640, 3)
    gray, _, _ = encode_frame(np.zeros((720, 1280, 3), np.uint8), camera_factory(width_px=640, grayscale=True))
    decoded = cv2.imdecode(np.frombuffer(gray, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.shape == (360, 640)


def test_frame_headers_round_trip_and_bad_headers_are_named() -> None:
    from datetime import UTC, datetime

    meta = FrameMeta(camera_id="plaza", capture_ts=datetime.now(UTC), seq=7, session="s1", width_px=640, height_px=360)
    assert FrameMeta.from_headers("plaza", meta.headers()) == meta
    with pytest.raises(ValueError, match="pantau-seq"):
        FrameMeta.from_headers("plaza", [h for h in meta.headers() if h[0] != "pantau-seq"])


def test_camera_ids_must_be_unique_and_unknown_keys_are_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="duplicate camera ids: a"):
        CamerasConfig.model_validate({"cameras": [{"id": "a", "source": "x"}, {"id": "a", "source": "y"}]})
    with pytest.raises(ValidationError, match="fsp"):
        CamerasConfig.model_validate({"cameras": [{"id": "a", "source": "x", "fsp": 5}]})


def test_network_sources_get_open_and_read_timeouts_and_devices_none(
    camera_factory: Callable[..., CameraConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[object, ...]] = []

    class FakeCapture:
        def __init__(self, *args: object) -> None:
            opened.append(args)

        def isOpened(self) -> bool:
            return True

        def get(self, _prop: int) -> float:
            return 25.0

        def release(self) -> None:
            pass

    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)  # capture.py calls it as cv2.VideoCapture
    for source in ("rtsp://cam/1", "http://cam/video.mjpg", "0", "/dev/video0", "plaza.mp4"):
        capture.OpenCvSource(camera_factory(source=source)).close()
    timeouts = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        round(capture.NETWORK_OPEN_TIMEOUT_S * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        round(capture.NETWORK_READ_TIMEOUT_S * 1000),
    ]
    assert opened == [
        ("rtsp://cam/1", cv2.CAP_ANY, timeouts),
        ("http://cam/video.mjpg", cv2.CAP_ANY, timeouts),
        (0,),
        ("/dev/video0",),
        ("plaza.mp4",),
    ]
    # Below camera-health's default 15 s, so a silent camera shows as reconnecting before video loss.
    assert capture.NETWORK_READ_TIMEOUT_S < 15


def test_stalled_network_camera_is_reported_reconnecting_within_the_read_timeout(
    camera_factory: Callable[..., CameraConfig], mjpeg_camera_factory: Callable[..., MjpegCamera]
) -> None:
    """The camera keeps the connection open but sends nothing: without a read timeout OpenCV would
    block for its default 30 s, the feed still showing ``connected`` and its thread unstoppable."""
    mjpeg = mjpeg_camera_factory(fps=10)
    statuses: list[CameraStatus] = []
    frames: list[FrameMeta] = []
    feed = CameraFeed(
        camera_factory(source=mjpeg.url),
        lambda m, _b: frames.append(m),
        statuses.append,
        open_source=lambda c: capture.OpenCvSource(c, open_timeout_s=1.0, read_timeout_s=1.0),
        backoff=Backoff(initial_s=0.1, max_s=0.2),
    )
    thread = threading.Thread(target=feed.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(frames) < 5:
            assert time.monotonic() < deadline, f"no frames from {mjpeg.url}: {statuses}"
            time.sleep(0.05)
        mjpeg.stall()
        stalled_at = time.monotonic()
        while not any(s.state is FeedState.reconnecting for s in statuses):
            assert time.monotonic() - stalled_at < 10, "stalled camera still not reported"
            time.sleep(0.05)
        assert time.monotonic() - stalled_at < 4  # 1 s read timeout, plus frames already buffered
        lost = next(s for s in statuses if s.state is FeedState.reconnecting)
        assert lost.error == "no frame from the feed" and lost.reconnects == 1
    finally:
        feed.stop.set()
        thread.join(timeout=5)
    # Reconnecting to the stalled camera is bounded by the open timeout, so the feed stops quickly.
    assert not thread.is_alive()


def test_network_camera_that_accepts_but_never_answers_fails_to_open_within_the_timeout(
    camera_factory: Callable[..., CameraConfig],
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # the kernel completes the handshake; nobody ever answers the request
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/video.mjpg"
        started = time.monotonic()
        with pytest.raises(SourceError, match="cannot open") as refused:
            capture.OpenCvSource(camera_factory(source=url.replace("//", "//cam:Hunter2@")), open_timeout_s=1.0)
        assert time.monotonic() - started < 5
        assert "Hunter2" not in str(refused.value) and f"'{url}'" in str(refused.value)


def test_a_cameras_own_network_timeout_replaces_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[Any, ...]] = []

    class FakeCapture:
        def __init__(self, *args: Any) -> None:
            opened.append(args)

        def isOpened(self) -> bool:
            return True

        def get(self, _prop: int) -> float:
            return 25.0

    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    camera = CameraConfig(id="slow-cam", source="rtsp://10.0.0.5/stream", network_timeout_s=45)
    capture.OpenCvSource(camera)
    params = opened[0][2]
    assert params == [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 45_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 45_000]
