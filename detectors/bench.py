"""``pantau bench detect``: frames per second on one core for the whole camera detection path.

The path measured is what the worker does with a frame message: JPEG bytes → grayscale decode (at
the reduced scale that still gives 320 px of width) →
motion → tracking → static objects (when a zone has ``abandoned_object``) → zone rules → incidents.
A plain baseline runs in the same process on the same frames: decode + OpenCV's
``createBackgroundSubtractorMOG2`` + contours. Frames come from the synthetic scene generator (people
walking, rain, noise), JPEG-encoded at the detection size as ingest sends them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from detectors.camera_pipeline import CameraPipeline
from detectors.video.evidence import decode_gray
from detectors.video.synthetic import FigurePath, Rain, SceneSpec, SensorNoise, render
from detectors.zones.config import DetectorCameraConfig


@dataclass(frozen=True)
class DetectFigures:
    width_px: int
    height_px: int
    frames: int
    pantau_fps: float
    baseline_fps: float
    decode_only_fps: float


def _frames(width_px: int, height_px: int, count: int) -> list[bytes]:
    spec = SceneSpec(
        figures=[
            FigurePath(i, [(0.05 + 0.2 * i, 0.5), (0.9 - 0.1 * i, 0.95)], start_s=i, speed_px_s=40) for i in range(3)
        ],
        nuisances=[Rain(streaks_per_frame=60), SensorNoise()],
        frames=count,
        width_px=width_px,
        height_px=height_px,
        seed=11,
    )
    out = []
    for frame in render(spec):
        ok, buf = cv2.imencode(".jpg", frame.gray, [cv2.IMWRITE_JPEG_QUALITY, 80])
        assert ok
        out.append(buf.tobytes())
    return out


def _camera() -> DetectorCameraConfig:
    return DetectorCameraConfig.model_validate(
        {
            "id": "bench",
            "source": "bench.mp4",
            "zones": [
                {
                    "name": "lawn",
                    "polygon": [[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]],
                    "rules": ["intrusion", {"loitering": {"min_s": 30}}, {"crowd": {"max_people": 10}}],
                },
                {
                    "name": "gate",
                    "polygon": [[0.6, 0.2], [0.9, 0.2], [0.9, 0.6], [0.6, 0.6]],
                    "rules": [
                        {"line_crossing": {"line": [[0.6, 0.4], [0.9, 0.4]]}},
                        {"abandoned_object": {"min_s": 30}},
                    ],
                },
            ],
        }
    )


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def bench_size(width_px: int, height_px: int, frames: int, repeats: int = 3) -> DetectFigures:
    jpegs = _frames(width_px, height_px, frames)
    best_pantau = best_base = best_decode = float("inf")
    for _ in range(repeats):
        pipeline = CameraPipeline(_camera(), ZoneInfo("Asia/Jakarta"))
        t0 = datetime(2026, 11, 27, tzinfo=UTC)
        start = time.perf_counter()
        for index, jpeg in enumerate(jpegs):
            pipeline.process(decode_gray(jpeg, width_px), t0 + timedelta(seconds=index / 5), index)
        best_pantau = min(best_pantau, time.perf_counter() - start)

        mog = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=16, detectShadows=False)
        start = time.perf_counter()
        for jpeg in jpegs:
            gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
            assert gray is not None
            mask = mog.apply(gray)
            cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        best_base = min(best_base, time.perf_counter() - start)

        start = time.perf_counter()
        for jpeg in jpegs:
            cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        best_decode = min(best_decode, time.perf_counter() - start)
    return DetectFigures(
        width_px, height_px, frames, _rate(frames, best_pantau), _rate(frames, best_base), _rate(frames, best_decode)
    )


def bench_detect(frames: int = 300) -> list[DetectFigures]:
    """Figures for 640x360 and 1280x720, OpenCV on one thread (one core)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return [bench_size(640, 360, frames), bench_size(1280, 720, frames)]
    finally:
        cv2.setNumThreads(threads)


def render_figures(figures: list[DetectFigures]) -> str:
    lines = ["size       frames  pantau path  baseline (decode+MOG2+contours)  decode only   (frames/s, one core)"]
    for f in figures:
        lines.append(
            f"{f.width_px}x{f.height_px:<5} {f.frames:>6}  {f.pantau_fps:>11,.0f}  {f.baseline_fps:>31,.0f}"
            f"  {f.decode_only_fps:>11,.0f}"
        )
    return "\n".join(lines)
