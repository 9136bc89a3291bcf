"""``pantau analyze``: the camera detectors on a recorded file, without Kafka.

Frames go through what the live path does — sampled to the camera's fps, resized to its
``width_px`` as ingest does — and the same :class:`~detectors.camera_pipeline.CameraPipeline`
(motion, tracking, object confirmation, faults, zone rules), so operators can tune zones on footage
and trust the result. One JSON object per incident on stdout (nothing else there).

Two shortcuts keep it fast without changing what the detectors see: frames the camera's fps drops
are skipped without being decoded (``grab`` without ``retrieve``), and the file is decoded on a
second thread while the detectors work on the previous frame (OpenCV releases the GIL). By default a
frame is not JPEG-encoded and decoded again as ingest and the worker would do: at ingest's default
quality (80) that changes a few gray levels, not what is found; ``as_ingest=True``
(``--as-ingest``) reproduces it exactly, with the camera's ``jpeg_quality``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from detectors.camera_pipeline import CameraPipeline
from detectors.schemas import LineCrossing
from detectors.video.frames import CameraFrame
from detectors.zones.config import CameraDetectorsConfig, DetectorCameraConfig
from ingest.cameras.capture import FrameSampler, encode_frame
from pantau.exceptions import ConfigError, PantauError

_LISTED_EVIDENCE = frozenset({"tamper_kind", "frame", "camera", "track_id", "bbox_xyxy", "object"})
_END = object()
_READ_AHEAD_FRAMES = 8


class AnalyzeError(PantauError):
    """The video cannot be read."""


def find_camera(config: CameraDetectorsConfig, camera_id: str) -> DetectorCameraConfig:
    for camera in config.cameras:
        if camera.id == camera_id:
            return camera
    valid = ", ".join(c.id for c in config.cameras) or "(none configured)"
    raise ConfigError(f"camera {camera_id!r} is not in the config; cameras: {valid}")


def _resized(image: np.ndarray, camera: DetectorCameraConfig) -> np.ndarray:
    height_px, width_px = image.shape[:2]
    if width_px == camera.width_px:
        return image
    target_h = max(1, round(height_px * camera.width_px / width_px))
    return cv2.resize(image, (camera.width_px, target_h), interpolation=cv2.INTER_AREA)


def _frames(capture: cv2.VideoCapture, camera: DetectorCameraConfig, source_fps: float) -> Iterator[tuple[int, Any]]:
    """(index in the file, image) of each frame the camera's fps keeps, decoded on another thread."""
    out: queue.Queue[Any] = queue.Queue(maxsize=_READ_AHEAD_FRAMES)
    stop = threading.Event()

    def read() -> None:
        sampler = FrameSampler(camera.fps)
        index = 0
        try:
            while not stop.is_set():
                if not capture.grab():
                    break
                if sampler.keep(index / source_fps):
                    ok, image = capture.retrieve()
                    if not ok or image is None:
                        break
                    out.put((index, _resized(image, camera)))
                index += 1
        finally:
            out.put(_END)

    reader = threading.Thread(target=read, name="analyze-decode", daemon=True)
    reader.start()
    try:
        while (item := out.get()) is not _END:
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # let the reader see the stop even if it waits on a full queue
            try:
                out.get_nowait()
            except queue.Empty:
                reader.join(0.05)


def analyze(
    video: Path,
    config: CameraDetectorsConfig,
    camera_id: str,
    start: datetime,
    annotate: Path | None = None,
    as_ingest: bool = False,
    models_dir: Path | None = None,
    crossings: list[LineCrossing] | None = None,
) -> Iterator[dict[str, Any]]:
    """Incidents of ``video`` as the camera ``camera_id`` would raise them, as JSON-able dicts.

    Counting-line crossings are appended to ``crossings`` when a list is given.
    """
    camera = find_camera(config, camera_id)
    pipeline = CameraPipeline(camera, ZoneInfo(config.timezone), models_dir=models_dir)
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise AnalyzeError(f"cannot open video {video}")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    source_fps = fps if 0 < fps < 1000 else 25.0
    writer: cv2.VideoWriter | None = None
    try:
        for index, image in _frames(capture, camera, source_fps):
            offset_s = index / source_fps
            if as_ingest:
                jpeg, width_px, _height_px = encode_frame(image, camera)
                frame = CameraFrame.from_jpeg(jpeg, width_px)
            else:
                if camera.grayscale and image.ndim == 3:
                    image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
                frame = CameraFrame.from_image(image)
            for incident in pipeline.process(frame, start + timedelta(seconds=offset_s), index):
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
                    "object_class": incident.object_class,
                    "track_id": evidence.get("track_id"),
                    "bbox_xyxy": evidence.get("bbox_xyxy"),
                    "title": incident.title,
                    "id": incident.id,
                    # What else the rule measured: people and occupancy, stayed_s, direction...
                    "details": {k: v for k, v in evidence.items() if k not in _LISTED_EVIDENCE},
                }
            if crossings is not None:
                crossings.extend(pipeline.take_crossings())
            else:
                pipeline.take_crossings()
            if annotate is not None:
                picture = _annotated(frame, pipeline, camera)
                if writer is None:
                    height_px, width_px = picture.shape[:2]
                    writer = cv2.VideoWriter(
                        str(annotate), cv2.VideoWriter.fourcc(*"mp4v"), camera.fps, (width_px, height_px)
                    )
                writer.write(picture)
    finally:
        capture.release()
        if writer is not None:
            writer.release()


def _annotated(frame: CameraFrame, pipeline: CameraPipeline, camera: DetectorCameraConfig) -> np.ndarray:
    """The frame with zones (yellow), masks (grey), moving tracks (red, green once motion confirmed)
    and the objects the detector named (blue, with class and score)."""
    image = frame.colour.copy()
    height_px, width_px = image.shape[:2]

    def pts(polygon: list[tuple[float, float]]) -> np.ndarray:
        return np.array([[round(x * width_px), round(y * height_px)] for x, y in polygon], np.int32)

    def box(xyxy: tuple[float, float, float, float]) -> tuple[tuple[int, int], tuple[int, int]]:
        return (round(xyxy[0] * width_px), round(xyxy[1] * height_px)), (
            round(xyxy[2] * width_px),
            round(xyxy[3] * height_px),
        )

    for mask in camera.masks:
        cv2.polylines(image, [pts(mask)], True, (128, 128, 128), 1)
    for zone in camera.zones:
        cv2.polylines(image, [pts(zone.polygon)], True, (0, 220, 255), 1)
    for track in pipeline.tracks:
        if not track.missed_frames:
            cv2.rectangle(image, *box(track.xyxy), (0, 200, 0) if track.confirmed else (0, 0, 220), 1)
    for obj in pipeline.objects:
        if obj.object_class is not None and obj.score is not None:
            top_left, bottom_right = box(obj.xyxy)
            cv2.rectangle(image, top_left, bottom_right, (255, 128, 0), 2)
            cv2.putText(image, f"{obj.object_class} {obj.score:.2f}", (top_left[0], max(top_left[1] - 3, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 128, 0), 1, cv2.LINE_AA)  # fmt: skip
    return image
