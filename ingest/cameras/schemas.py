"""Wire contracts of camera ingest: frames and feed status, owned by the ingest stage.

``pantau.frames.v1`` — key: camera id; value: the frame as JPEG bytes (grayscale or colour, already
resized to the camera's detection size); headers carry what the detectors need without decoding:

| header | value |
|---|---|
| ``pantau-capture-ts`` | ISO-8601 capture time with zone |
| ``pantau-seq`` | frame number within this capture session (decimal) |
| ``pantau-session`` | id of the capture session (changes when ingest restarts or reconnects) |
| ``pantau-size`` | ``WIDTHxHEIGHT`` in pixels |
| ``content-type`` | ``image/jpeg`` |

A frame's id (:attr:`FrameMeta.frame_id`, ``<camera id>@<session>/<seq>``) is derived from these headers:
the incidents it triggers carry it as their ``correlation_id``.

``pantau.camera-status.v1`` — key: camera id; value: a :class:`CameraStatus` JSON object, sent on
every change of state and every ``status_interval_s`` while connected.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, ConfigDict, Field

from pantau.contract import Contract, Line
from pantau.topics import TopicSpec

SCHEMA_VERSION = 1
TOPIC_FRAMES = f"pantau.frames.v{SCHEMA_VERSION}"
TOPIC_CAMERA_STATUS = f"pantau.camera-status.v{SCHEMA_VERSION}"
# Frames are bulky and only useful for a short while: keep an hour by default.
FRAMES_TOPIC = TopicSpec(TOPIC_FRAMES, partitions=4, configs={"retention.ms": str(3600 * 1000)})
CAMERA_STATUS_TOPIC = TopicSpec(TOPIC_CAMERA_STATUS, partitions=1, configs={"cleanup.policy": "compact"})

HEADER_CAPTURE_TS = "pantau-capture-ts"
HEADER_SEQ = "pantau-seq"
HEADER_SESSION = "pantau-session"
HEADER_SIZE = "pantau-size"
HEADER_CONTENT_TYPE = "content-type"
JPEG = b"image/jpeg"


class FrameMeta(Contract):
    """The headers of one frame message, parsed."""

    model_config = ConfigDict(frozen=True)

    camera_id: Line
    capture_ts: AwareDatetime
    seq: int = Field(ge=0)
    session: Line
    width_px: int = Field(gt=0)
    height_px: int = Field(gt=0)

    @property
    def frame_id(self) -> str:
        """``<camera id>@<session>/<seq>``: this frame's id in logs and on the incidents it triggers.
        A session changes whenever ingest restarts or reconnects, so the id is unique per camera."""
        return f"{self.camera_id}@{self.session}/{self.seq}"

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (HEADER_CAPTURE_TS, self.capture_ts.isoformat().encode()),
            (HEADER_SEQ, str(self.seq).encode()),
            (HEADER_SESSION, self.session.encode()),
            (HEADER_SIZE, f"{self.width_px}x{self.height_px}".encode()),
            (HEADER_CONTENT_TYPE, JPEG),
        ]

    @classmethod
    def from_headers(cls, camera_id: str, headers: list[tuple[str, bytes]]) -> FrameMeta:
        """Parse a frame's headers; ``ValueError`` (or pydantic's) naming what is missing or wrong."""
        values = {name: value.decode("utf-8", "replace") for name, value in headers}
        missing = [h for h in (HEADER_CAPTURE_TS, HEADER_SEQ, HEADER_SIZE) if h not in values]
        if missing:
            raise ValueError(f"frame headers missing: {', '.join(missing)}")
        width, _, height = values[HEADER_SIZE].partition("x")
        if not (width.isdigit() and height.isdigit()):
            raise ValueError(f"frame header {HEADER_SIZE} is not WIDTHxHEIGHT: {values[HEADER_SIZE]!r}")
        return cls(
            camera_id=camera_id,
            capture_ts=datetime.fromisoformat(values[HEADER_CAPTURE_TS]),
            seq=int(values[HEADER_SEQ]),
            session=values.get(HEADER_SESSION, ""),
            width_px=int(width),
            height_px=int(height),
        )


class FeedState(StrEnum):
    """Where a camera feed is: delivering frames, trying to get them back, or finished (a file's end)."""

    connected = "connected"
    reconnecting = "reconnecting"
    ended = "ended"


class CameraStatus(Contract):
    """What ingest knows of one feed: the detectors' camera-health watch turns silence into ``video_loss``."""

    model_config = ConfigDict(frozen=True)
    schema_version: ClassVar[int] = SCHEMA_VERSION

    camera_id: Line
    state: FeedState
    at: AwareDatetime
    last_frame_ts: AwareDatetime | None = None
    frames_sent: int = Field(0, ge=0)
    fps_measured: float = Field(0.0, ge=0)
    reconnects: int = Field(0, ge=0)
    error: Line | None = None

    def key(self) -> bytes:
        return self.camera_id.encode()
