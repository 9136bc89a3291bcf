"""The ``cameras:`` section of the configuration file, as camera ingest reads it.

Ingest needs where a feed comes from and how to sample it; zones, masks and rules belong to the
detectors, which validate them strictly with their own model (this one keeps them as data).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ingest.schemas import SENSOR_ID_PATTERN, Location


class CameraConfig(BaseModel):
    """One camera: a video file, an RTSP or HTTP/MJPEG URL, or a local device (``/dev/video0`` or ``0``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=SENSOR_ID_PATTERN)
    source: str = Field(min_length=1)
    fps: float = Field(5.0, gt=0, le=60, description="Frames per second sent to the detectors")
    width_px: int = Field(640, ge=64, le=3840, description="Detection width; height keeps the aspect ratio")
    jpeg_quality: int = Field(80, ge=10, le=100)
    grayscale: bool = Field(
        False, description="Send grayscale frames (smaller; the object detector and evidence lose colour)"
    )
    loop: bool = Field(False, description="Video files: start again at the end")
    realtime: bool = Field(True, description="Video files: play at the file's speed (false: as fast as possible)")
    location: Location | None = None
    name: str | None = None
    masks: list[Any] = Field(default_factory=list, description="Ignored areas (validated by the detectors)")
    zones: list[Any] = Field(default_factory=list, description="Zones and their rules (validated by the detectors)")
    object_check: Any = Field(
        None, description="CNN object confirmation of moving objects (validated by the detectors; default on)"
    )
    person_check: Any = Field(None, description="replaced by object_check (the detectors say so when it is set)")
    retention_days: float = Field(30, gt=0, description="How long evidence of this camera is kept")
    network_timeout_s: float | None = Field(
        None,
        gt=0,
        le=300,
        description=(
            "RTSP/HTTP cameras: how long opening, or waiting for the next frame, may take before the feed "
            "counts as lost and is reconnected (default 10 s; raise it for a camera that sends rarely)"
        ),
    )

    @property
    def is_file(self) -> bool:
        return "://" not in self.source and not self.is_device

    @property
    def is_device(self) -> bool:
        return self.source.isdigit() or self.source.startswith("/dev/video")

    @property
    def is_network(self) -> bool:
        """An RTSP or HTTP(S) URL: a camera somewhere on the network, which can vanish without a word."""
        return "://" in self.source


class CamerasConfig(BaseModel):
    """What camera ingest reads from the configuration file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Asia/Jakarta"
    cameras: list[CameraConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> CamerasConfig:
        ids = [c.id for c in self.cameras]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate camera ids: {', '.join(duplicates)}")
        return self
