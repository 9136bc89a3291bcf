"""``pantau analyze``: the camera detectors on a recorded file, without Kafka.

Frames go through exactly what the live path does — sampled to the camera's fps, resized and
JPEG-encoded as ingest does, decoded to grayscale as the worker does — so operators can tune zones
on footage and trust the result. One JSON object per incident on stdout (nothing else there).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from detectors.camera_pipeline import CameraPipeline
from detectors.video.evidence import decode_gray
from detectors.zones.config import CameraDetectorsConfig, DetectorCameraConfig
from ingest.cameras.capture import FrameSampler, encode_frame
from pantau.exceptions import ConfigError, PantauError

_LISTED_EVIDENCE = frozenset({"tamper_kind", "frame", "camera", "track_id", "bbox_xyxy"})


class AnalyzeError(PantauError):
    """The video cannot be read."""


def find_camera(config: CameraDetectorsConfig, camera_id: str) -> DetectorCameraConfig:
    for camera in config.cameras:
        if camera.id == camera_id:
            return camera
    valid = ", ".join(c.id for c in config.cameras) or "(none configured)"
    raise ConfigError(f"camera {camera_id!r} is not in the config; cameras: {valid}")


def analyze(
    video: Path, config: CameraDetectorsConfig, camera_id: str, start: datetime, annotate: Path | None = None
) -> Iterator[dict[str, Any]]:
    """Incidents of ``video`` as the camera ``camera_id`` would raise them, as JSON-able dicts."""
    camera = find_camera(config, camera_id)
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise AnalyzeError(f"cannot open video {video}")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    source_fps = fps if 0 < fps < 1000 else 25.0
    pipeline = CameraPipeline(camera, ZoneInfo(config.timezone))
    sampler = FrameSampler(camera.fps)
    writer: cv2.VideoWriter | None = None
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                break
            offset_s = index / source_fps
            if sampler.keep(offset_s):
                jpeg, width_px, height_px = encode_frame(image, camera)
                gray = decode_gray(jpeg, width_px)
                for incident in pipeline.process(gray, start + timedelta(seconds=offset_s), index):
                    evidence = {k: v for k, v in incident.evidence.items() if k != "snapshot_jpeg_b64"}
                    yield {
                        "type": incident.type,
                        "zone": incident.zone,
                        "tamper_kind": evidence.get("tamper_kind"),
                        "frame": index,
                        "offset_s": round(offset_s, 3),
                        "phase": incident.phase.value,
                        "severity": incident.severity.value,
                        "confidence": incident.confidence,
                        "track_id": evidence.get("track_id"),
                        "bbox_xyxy": evidence.get("bbox_xyxy"),
                        "title": incident.title,
                        "id": incident.id,
                        # What else the rule measured: people and occupancy, stayed_s, person_score...
                        "details": {k: v for k, v in evidence.items() if k not in _LISTED_EVIDENCE},
                    }
                if annotate is not None:
                    if writer is None:
                        writer = cv2.VideoWriter(
                            str(annotate), cv2.VideoWriter.fourcc(*"mp4v"), camera.fps, (width_px, height_px)
                        )
                    writer.write(_annotated(gray, pipeline, camera))
            index += 1
    finally:
        capture.release()
        if writer is not None:
            writer.release()


def _annotated(gray: np.ndarray, pipeline: CameraPipeline, camera: DetectorCameraConfig) -> np.ndarray:
    """The frame with zones (yellow), masks (grey) and tracks (green confirmed, red not yet)."""
    image = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    height_px, width_px = gray.shape[:2]

    def pts(polygon: list[tuple[float, float]]) -> np.ndarray:
        return np.array([[round(x * width_px), round(y * height_px)] for x, y in polygon], np.int32)

    for mask in camera.masks:
        cv2.polylines(image, [pts(mask)], True, (128, 128, 128), 1)
    for zone in camera.zones:
        cv2.polylines(image, [pts(zone.polygon)], True, (0, 220, 255), 1)
    for track in pipeline.tracks:
        if track.missed_frames:
            continue
        x1, y1, x2, y2 = track.xyxy
        colour = (0, 200, 0) if track.confirmed else (0, 0, 220)
        cv2.rectangle(
            image,
            (round(x1 * width_px), round(y1 * height_px)),
            (round(x2 * width_px), round(y2 * height_px)),
            colour,
            1,
        )
    return image
