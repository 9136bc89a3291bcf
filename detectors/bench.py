"""``pantau bench detect``: frames per second on one core for the whole camera detection path.

The path measured is what the worker does with a frame message: JPEG bytes → grayscale decode (at
the reduced scale that still gives 320 px of width) → frozen-picture and tamper checks → motion →
tracking → object confirmation (the CNN on crops, colour decoded only on the frames that need it) →
static objects (when a zone has ``abandoned_object``) → zone rules → incidents and their snapshots.
A plain baseline runs in the same process on the same frames: decode + OpenCV's
``createBackgroundSubtractorMOG2`` + contours.

``--video FILE`` runs it on a real recording, at 640x360 and at the file's own size, JPEG-encoded at
ingest's default quality (80), with its timestamps at the file's fps; the camera's zones are drawn
for OpenCV's ``vtest.avi`` (a lawn with ``intrusion``, a counting line across the walkway). Without
it, the synthetic scene generator's frames are used (people walking, rain, noise), motion only.
With ``--video``, ``pantau bench analyze`` also times ``pantau analyze`` on the file as a whole
process next to a plain OpenCV motion detector on the same file (decode + MOG2 + contours), three
runs each. ``--looks-per-s 1 0.6`` adds the confirmed path with those look budgets
(``object_check.max_looks_per_s``) next to the unlimited one.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import yaml

from detectors.camera_pipeline import CameraPipeline, shared_detector
from detectors.video.frames import CameraFrame
from detectors.video.synthetic import FigurePath, Rain, SceneSpec, SensorNoise, render
from detectors.zones.config import DetectorCameraConfig

# Zones drawn on OpenCV's vtest.avi the way docs/detectors.md says (on the ground), as the
# hand-made ground truth draws them (tests/detectors/data/vtest_truth.yaml): the lawn in the
# foreground, 12 px inside the grass's edge, and a counting line across the walkway left of the lamp post.
VTEST_LAWN = [[0.0, 0.438], [0.083, 0.455], [0.167, 0.472], [0.25, 0.486], [0.333, 0.517], [0.417, 0.552],
              [0.458, 0.583], [0.5, 0.604], [0.542, 0.632], [0.583, 0.656], [0.625, 0.688], [0.667, 0.701],
              [0.708, 0.726], [0.75, 0.75], [0.792, 0.778], [0.833, 0.802], [0.875, 0.826], [0.917, 0.851],
              [0.958, 0.868], [1.0, 0.882], [1.0, 1.0], [0.0, 1.0]]  # fmt: skip
VTEST_LINE = [[0.449, 0.552], [0.438, 0.361]]


@dataclass(frozen=True)
class PathFigures:
    """One size of one source: frames/s of each path, and the object detector's work."""

    source: str
    width_px: int
    height_px: int
    frames: int
    motion_fps: float  # the worker path without object confirmation
    confirmed_fps: float | None  # with it (None: not measured)
    baseline_fps: float
    decode_only_fps: float
    calls: int = 0
    call_ms: float = 0.0
    footage_s: float = 0.0
    incidents: dict[str, int] = field(default_factory=dict)
    # With a look budget (object_check.max_looks_per_s): (budget, frames/s, detector calls).
    budgeted: tuple[tuple[float, float, int], ...] = ()

    @property
    def calls_per_footage_s(self) -> float:
        return self.calls / self.footage_s if self.footage_s else 0.0


def _synthetic(width_px: int, height_px: int, count: int) -> list[bytes]:
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
    return [_jpeg(frame.gray) for frame in render(spec)]


def _jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def video_frames(video: Path, size: tuple[int, int] | None) -> tuple[list[bytes], float, int, int]:
    """The file's frames JPEG-encoded as ingest sends them, scaled to ``size`` (None: as they are);
    its fps and the frames' size."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ValueError(f"cannot open video {video}")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    out: list[bytes] = []
    got = (0, 0)
    try:
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                break
            if size is not None and (image.shape[1], image.shape[0]) != size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            got = (image.shape[1], image.shape[0])
            out.append(_jpeg(image))
    finally:
        capture.release()
    return out, fps if 0 < fps < 1000 else 25.0, got[0], got[1]


def vtest_camera(object_check: bool, fps: float = 10.0, max_looks_per_s: float | None = None) -> dict[str, Any]:
    """The bench's camera on vtest.avi, as a config file holds it."""
    check: dict[str, Any] | None = None
    if object_check:
        check = {} if max_looks_per_s is None else {"max_looks_per_s": max_looks_per_s}
    return {
        "id": "bench",
        "source": "bench.avi",
        "fps": fps,
        "object_check": check,
        "zones": [
            {"name": "lawn", "polygon": VTEST_LAWN, "rules": ["intrusion"]},
            {
                "name": "walkway",
                "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
                "rules": [{"line_crossing": {"line": VTEST_LINE, "alert": False}}],
            },
        ],
    }


def bench_camera(object_check: bool, fps: float = 10.0, max_looks_per_s: float | None = None) -> DetectorCameraConfig:
    return DetectorCameraConfig.model_validate(vtest_camera(object_check, fps, max_looks_per_s))


def _synthetic_camera() -> DetectorCameraConfig:
    return DetectorCameraConfig.model_validate(
        {
            "id": "bench",
            "source": "bench.mp4",
            "object_check": None,
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


def _run_path(
    camera: DetectorCameraConfig, jpegs: list[bytes], width_px: int, fps: float, models_dir: Path | None
) -> tuple[float, dict[str, int], int, float]:
    """Seconds for the worker path over the frames; incidents by type; detector calls and their seconds."""
    pipeline = CameraPipeline(camera, ZoneInfo("Asia/Jakarta"), models_dir=models_dir)
    detector = pipeline.detector
    calls0, seconds0 = (detector.calls, detector.seconds) if detector is not None else (0, 0.0)
    t0 = datetime(2026, 11, 27, tzinfo=UTC)
    incidents: dict[str, int] = {}
    start = time.perf_counter()
    for index, jpeg in enumerate(jpegs):
        for incident in pipeline.process(
            CameraFrame.from_jpeg(jpeg, width_px), t0 + timedelta(seconds=index / fps), index
        ):
            incidents[incident.type] = incidents.get(incident.type, 0) + 1
        pipeline.take_crossings()
    elapsed = time.perf_counter() - start
    if detector is None:
        return elapsed, incidents, 0, 0.0
    return elapsed, incidents, detector.calls - calls0, detector.seconds - seconds0


def _baseline(jpegs: list[bytes]) -> float:
    mog = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=16, detectShadows=False)
    start = time.perf_counter()
    for jpeg in jpegs:
        gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise ValueError("not a JPEG")
        mask = mog.apply(gray)
        cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return time.perf_counter() - start


def _decode_only(jpegs: list[bytes]) -> float:
    start = time.perf_counter()
    for jpeg in jpegs:
        cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    return time.perf_counter() - start


def bench_frames(
    source: str,
    jpegs: list[bytes],
    width_px: int,
    height_px: int,
    fps: float,
    cameras: tuple[DetectorCameraConfig, DetectorCameraConfig | None],
    models_dir: Path | None = None,
    repeats: int = 3,
    budgeted: Sequence[DetectorCameraConfig] = (),
) -> PathFigures:
    """Best of ``repeats`` for each path on the same frames, in one process; ``budgeted``: the
    checked camera with look budgets, measured the same way."""
    motion_camera, checked_camera = cameras
    if checked_camera is not None and checked_camera.object_check is not None:
        shared_detector(checked_camera.object_check.model, _models(models_dir))  # loaded before the clock runs
    best = {"motion": float("inf"), "checked": float("inf"), "base": float("inf"), "decode": float("inf")}
    calls, call_s = 0, 0.0
    incidents: dict[str, int] = {}
    for _ in range(repeats):
        best["motion"] = min(best["motion"], _run_path(motion_camera, jpegs, width_px, fps, models_dir)[0])
        if checked_camera is not None:
            elapsed, incidents, calls, call_s = _run_path(checked_camera, jpegs, width_px, fps, models_dir)
            best["checked"] = min(best["checked"], elapsed)
        best["base"] = min(best["base"], _baseline(jpegs))
        best["decode"] = min(best["decode"], _decode_only(jpegs))
    n = len(jpegs)
    budget_rows: list[tuple[float, float, int]] = []
    for camera in budgeted:
        check = camera.object_check
        if check is None or check.max_looks_per_s is None:
            raise ValueError("a budgeted camera needs object_check.max_looks_per_s")
        runs = [_run_path(camera, jpegs, width_px, fps, models_dir) for _ in range(repeats)]
        budget_rows.append((check.max_looks_per_s, _rate(n, min(r[0] for r in runs)), runs[-1][2]))
    return PathFigures(
        source,
        width_px,
        height_px,
        n,
        _rate(n, best["motion"]),
        _rate(n, best["checked"]) if checked_camera is not None else None,
        _rate(n, best["base"]),
        _rate(n, best["decode"]),
        calls,
        1000 * call_s / calls if calls else 0.0,
        n / fps,
        incidents,
        tuple(budget_rows),
    )


def _models(models_dir: Path | None) -> Path:
    from detectors.video.models import default_models_dir

    return models_dir or default_models_dir()


def bench_detect(
    frames: int = 300,
    video: Path | None = None,
    models_dir: Path | None = None,
    looks_per_s: Sequence[float] = (),
) -> list[PathFigures]:
    """Figures on one thread (one core): the synthetic scenes at 640x360 and 1280x720, or ``video``
    at 640x360 and at its own size, with and without object confirmation (and with each look budget
    of ``looks_per_s``)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        if video is None:
            out = []
            for width_px, height_px in ((640, 360), (1280, 720)):
                jpegs = _synthetic(width_px, height_px, frames)
                out.append(
                    bench_frames("synthetic", jpegs, width_px, height_px, 5.0, (_synthetic_camera(), None), models_dir)
                )
            return out
        out = []
        # 640x360, where the figures were measured (vtest.avi is 4:3: this squeezes it); 640
        # wide as ingest sends it with width_px 640; and the file's own size.
        capture = cv2.VideoCapture(str(video))
        own = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        capture.release()
        if min(own) <= 0:
            raise ValueError(f"cannot read the size of {video}")
        sizes = list(dict.fromkeys([(640, 360), (640, round(own[1] * 640 / own[0])), own]))
        for size in sizes:
            jpegs, fps, w, h = video_frames(video, size)
            cameras = (bench_camera(False, fps), bench_camera(True, fps))
            budgeted = [bench_camera(True, fps, rate) for rate in looks_per_s]
            out.append(bench_frames(video.name, jpegs, w, h, fps, cameras, _models(models_dir), budgeted=budgeted))
        return out
    finally:
        cv2.setNumThreads(threads)


def render_figures(figures: list[PathFigures]) -> str:
    lines = [
        "frames/s on one core; `motion`: the worker path without object confirmation, `confirmed`: with it;",
        "baseline: decode + MOG2 + contours; calls: object detector calls per second of footage, ms per call",
        "",
        f"{'source':<14} {'size':<10} {'frames':>6} {'motion':>8} {'confirmed':>10} {'baseline':>9} {'decode':>8}"
        f" {'calls/s':>8} {'ms/call':>8}  incidents",
    ]
    for f in figures:
        confirmed = f"{f.confirmed_fps:,.0f}" if f.confirmed_fps is not None else "-"
        calls = f"{f.calls_per_footage_s:.2f}" if f.confirmed_fps is not None else "-"
        per_call = f"{f.call_ms:.1f}" if f.confirmed_fps is not None else "-"
        found = ", ".join(f"{k} {v}" for k, v in sorted(f.incidents.items())) or "-"
        lines.append(
            f"{f.source:<14} {f'{f.width_px}x{f.height_px}':<10} {f.frames:>6} {f.motion_fps:>8,.0f} {confirmed:>10}"
            f" {f.baseline_fps:>9,.0f} {f.decode_only_fps:>8,.0f} {calls:>8} {per_call:>8}  {found}"
        )
        for rate, fps, n_calls in f.budgeted:
            per_s = n_calls / f.footage_s if f.footage_s else 0.0
            budget = f"with max_looks_per_s {rate:g}: {per_s:.2f} calls/s"
            lines.append(f"{'':<14} {'':<10} {'':>6} {'':>8} {fps:>10,.0f}  {budget}")
    return "\n".join(lines)


# -- pantau analyze as a whole process -----------------------------------------------------------

PLAIN_MOTION = """
import sys, cv2
cv2.setNumThreads(1)
capture = cv2.VideoCapture(sys.argv[1])
mog = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=16, detectShadows=False)
while True:
    ok, image = capture.read()
    if not ok:
        break
    mask = mog.apply(image)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) > 100]
"""


def _spread(times: list[float]) -> str:
    return f"{min(times):.2f}-{max(times):.2f} s"


@dataclass(frozen=True)
class ProcessFigures:
    """Whole-process wall times (seconds) of ``pantau analyze`` and the plain motion detector."""

    video: str
    frames: int
    analyze_s: list[float]
    plain_s: list[float]

    def render(self) -> str:
        a, p = statistics.median(self.analyze_s), statistics.median(self.plain_s)
        return "\n".join(
            [
                f"{self.video}: {self.frames} frames, whole processes, {len(self.analyze_s)} runs each (median, range)",
                f"pantau analyze (object confirmation on): {a:.2f} s ({_spread(self.analyze_s)}), "
                f"{self.frames / a:,.0f} frames/s",
                f"plain OpenCV (decode + MOG2 + contours): {p:.2f} s ({_spread(self.plain_s)}), "
                f"{self.frames / p:,.0f} frames/s",
                f"pantau analyze is {p / a:.2f}x the plain path",
            ]
        )


def bench_analyze(video: Path, runs: int = 3) -> ProcessFigures:
    """Time ``pantau analyze`` (object confirmation on, the vtest zones) and a plain OpenCV motion
    detector on ``video`` as whole processes, alternately, ``runs`` times each."""
    capture = cv2.VideoCapture(str(video))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 10.0)
    capture.release()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        camera = vtest_camera(True, fps)
        config.write_text(yaml.safe_dump({"timezone": "Asia/Jakarta", "cameras": [camera]}))
        analyze_cmd = [sys.executable, "-m", "pantau.cli", "analyze", str(video), "--config", str(config),
                       "--camera", "bench", "--start", "2026-11-27T21:00:00+07:00"]  # fmt: skip
        plain_cmd = [sys.executable, "-c", PLAIN_MOTION, str(video)]
        analyze_s: list[float] = []
        plain_s: list[float] = []
        for _ in range(runs):
            for cmd, times in ((analyze_cmd, analyze_s), (plain_cmd, plain_s)):
                start = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, timeout=600)
                times.append(time.perf_counter() - start)
    return ProcessFigures(video.name, frames, analyze_s, plain_s)
