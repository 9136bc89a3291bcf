"""Reading one camera feed: open, sample to the configured fps, resize, JPEG-encode, hand over.

The OpenCV calls are confined to :class:`OpenCvSource` and :func:`encode_frame`; the sampling and
reconnect logic (:class:`FrameSampler`, :class:`Backoff`) are plain code that tests drive directly.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import cv2
import numpy as np

from ingest.cameras.config import CameraConfig
from ingest.cameras.schemas import CameraStatus, FeedState, FrameMeta
from ingest.exceptions import IngestError
from pantau.redact import redact_credentials, redact_source
from pantau.timeutil import utcnow

log = logging.getLogger(__name__)


class SourceError(IngestError):
    """A feed cannot be opened or stopped delivering frames."""


class FrameSampler:
    """Keeps the frames that bring a feed down to ``fps``, by media time.

    A frame is kept when at least one target interval has passed since the last kept frame
    (with a little slack, so 25 fps sampled to 5 fps keeps exactly every fifth frame).
    """

    def __init__(self, fps: float) -> None:
        self.interval_s = 1.0 / fps
        self._last_kept_s: float | None = None

    def keep(self, media_s: float) -> bool:
        if self._last_kept_s is not None and media_s - self._last_kept_s < self.interval_s * 0.98:
            return False
        self._last_kept_s = media_s
        return True

    def reset(self) -> None:
        self._last_kept_s = None


class Backoff:
    """Exponential back-off with full jitter, so many cameras that fail together do not retry together."""

    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay_s(self) -> float:
        ceiling = min(self.max_s, self.initial_s * (2**self.attempt))
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class FrameSource(Protocol):
    """Where frames come from; ``read`` returns (image, media time in s) or None at the end or on loss."""

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def close(self) -> None: ...


# How long OpenCV's FFmpeg backend may wait on a network camera. Its own default is 30 s for both,
# during which a camera that vanished without closing the connection (power or cable lost, a link
# down) still looks ``connected`` and its feed thread cannot be stopped. Opening covers the RTSP or
# HTTP handshake and the probing of the stream; reading, one frame: 10 s is far longer than any
# streaming camera's frame interval, and reports the loss before camera-health's default 15 s.
NETWORK_OPEN_TIMEOUT_S = 10.0
NETWORK_READ_TIMEOUT_S = 10.0


class OpenCvSource:
    """A feed opened with OpenCV's ``VideoCapture`` (files, RTSP and HTTP URLs, local devices).

    Network URLs are opened with open and read timeouts (the camera's ``network_timeout_s``, else
    10 s), so that a camera which stops answering makes :meth:`read` return None (a lost feed)
    after ``read_timeout_s`` instead of blocking.
    """

    def __init__(
        self,
        camera: CameraConfig,
        *,
        open_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
    ) -> None:
        target: int | str = int(camera.source) if camera.source.isdigit() else camera.source
        if open_timeout_s is None:
            open_timeout_s = camera.network_timeout_s or NETWORK_OPEN_TIMEOUT_S
        if read_timeout_s is None:
            read_timeout_s = camera.network_timeout_s or NETWORK_READ_TIMEOUT_S
        if camera.is_network:
            # Only network URLs get the timeouts: a backend that does not know a parameter (V4L2 for
            # a local device) may refuse to open at all.
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                round(open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                round(read_timeout_s * 1000),
            ]
            self._cap = cv2.VideoCapture(target, cv2.CAP_ANY, params)
        else:
            self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            raise SourceError(f"cannot open {redact_source(camera.source)!r}")
        self.is_file = camera.is_file
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.source_fps = fps if 0 < fps < 1000 else 25.0
        self._index = 0
        self._started = time.monotonic()

    def read(self) -> tuple[np.ndarray, float] | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        # Files carry their own clock (frame index / fps); live feeds are timed as they arrive.
        media_s = self._index / self.source_fps if self.is_file else time.monotonic() - self._started
        self._index += 1
        return image, media_s

    def close(self) -> None:
        self._cap.release()


def encode_frame(image: np.ndarray, camera: CameraConfig) -> tuple[bytes, int, int]:
    """Resize to the detection width, optionally to grayscale, and JPEG-encode."""
    height_px, width_px = image.shape[:2]
    if width_px != camera.width_px:
        target_h = max(1, round(height_px * camera.width_px / width_px))
        image = cv2.resize(image, (camera.width_px, target_h), interpolation=cv2.INTER_AREA)
    if camera.grayscale and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality])
    if not ok:
        raise SourceError("JPEG encoding failed")
    return buf.tobytes(), image.shape[1], image.shape[0]


FrameSink = Callable[[FrameMeta, bytes], None]
StatusSink = Callable[[CameraStatus], None]


@dataclass
class FeedCounters:
    frames_sent: int = 0
    reconnects: int = 0
    last_frame_ts: datetime | None = None
    error: str | None = None


class CameraFeed:
    """Runs one camera until stopped: frames to ``on_frame``, state changes to ``on_status``."""

    def __init__(
        self,
        camera: CameraConfig,
        on_frame: FrameSink,
        on_status: StatusSink,
        *,
        open_source: Callable[[CameraConfig], FrameSource] = OpenCvSource,
        status_interval_s: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.camera = camera
        self.on_frame = on_frame
        self.on_status = on_status
        self.open_source = open_source
        self.status_interval_s = status_interval_s
        self.backoff = backoff or Backoff()
        self.stop = threading.Event()
        self.counters = FeedCounters()
        self._recent: deque[float] = deque(maxlen=50)  # monotonic send times of the last frames, for the fps

    def _status(self, state: FeedState) -> None:
        now = time.monotonic()
        window = [t for t in self._recent if now - t <= 10.0]
        fps = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 and window[-1] > window[0] else 0.0
        self.on_status(
            CameraStatus(
                camera_id=self.camera.id,
                state=state,
                at=utcnow(),
                last_frame_ts=self.counters.last_frame_ts,
                frames_sent=self.counters.frames_sent,
                fps_measured=round(fps, 2),
                reconnects=self.counters.reconnects,
                error=self.counters.error,
            )
        )

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                source = self.open_source(self.camera)
            except (SourceError, cv2.error) as exc:
                self._lost(f"open failed: {exc}")
                continue
            try:
                ended = self._stream(source)
            except (SourceError, cv2.error) as exc:
                self._lost(str(exc))
                continue
            finally:
                source.close()
            if ended and not self.camera.loop:
                self._status(FeedState.ended)
                return

    def _lost(self, error: str) -> None:
        # OpenCV's and FFmpeg's messages repeat the URL, credentials and all: this text goes on the
        # camera-status topic, into video-loss incidents, pushes, the database and the health page.
        error = redact_credentials(error)
        self.counters.error = error
        self.counters.reconnects += 1
        self._status(FeedState.reconnecting)
        delay_s = self.backoff.next_delay_s()
        log.warning("camera %s: %s; retrying in %.1f s", self.camera.id, error, delay_s)
        self.stop.wait(delay_s)

    def _stream(self, source: FrameSource) -> bool:
        """Frames until the source ends (True: a file's end) or the feed is stopped (False)."""
        sampler = FrameSampler(self.camera.fps)
        session = uuid.uuid4().hex[:12]
        seq = 0
        wall_start_s = time.monotonic()
        ts_start = utcnow()
        connected = False
        next_status_s = 0.0
        while not self.stop.is_set():
            item = source.read()
            if item is None:
                if self.camera.is_file:
                    return True
                raise SourceError("no frame from the feed")
            image, media_s = item
            if not connected:
                connected = True
                self.backoff.reset()
                self.counters.error = None
                self._status(FeedState.connected)
            if not sampler.keep(media_s):
                continue
            if self.camera.is_file and self.camera.realtime:
                delay_s = wall_start_s + media_s - time.monotonic()
                if delay_s > 0 and self.stop.wait(delay_s):
                    return False
            capture_ts = ts_start + timedelta(seconds=media_s) if self.camera.is_file else utcnow()
            jpeg, width_px, height_px = encode_frame(image, self.camera)
            meta = FrameMeta(
                camera_id=self.camera.id,
                capture_ts=capture_ts,
                seq=seq,
                session=session,
                width_px=width_px,
                height_px=height_px,
            )
            self.on_frame(meta, jpeg)
            seq += 1
            self.counters.frames_sent += 1
            self.counters.last_frame_ts = capture_ts
            now_s = time.monotonic()
            self._recent.append(now_s)
            if now_s >= next_status_s:
                next_status_s = now_s + self.status_interval_s
                self._status(FeedState.connected)
        return False
