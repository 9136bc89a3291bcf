"""Camera feeds for ``pantau demo`` on a machine without cameras: looping synthetic scenes, and one
real CCTV recording.

Each scene is rendered once into ``<stack home>/demo/`` (an MJPG .avi) and played by camera ingest
like any video file, in real time and looped, so the demo shows the camera path end to end: people
walking onto the Alun-Alun lawn, a bag left at the station, dusk falling, rain. Their figures are
drawn shapes, so those cameras run on motion alone.

When a footage fetcher is given (``pantau demo`` gives :func:`pantau.footage.ensure_opencv_footage`),
a third camera plays OpenCV's ``vtest.avi``, a real plaza camera, looped in real time with object
confirmation on (the default SSD-MobileNet-v2) and the zones the hand-made ground truth draws
(``tests/detectors/data/vtest_truth.yaml``): the lawn (``intrusion``) and the counting line across
the walkway (``line_crossing``, counted, no incident). If the footage cannot be fetched, or the
model is not installed, that camera is left out with one warning saying why and what to run; it
never falls back to motion alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from detectors.bench import VTEST_LAWN, VTEST_LINE
from detectors.video.models import MODELS, ModelMissing, default_models_dir, model_path
from detectors.video.synthetic import FigurePath, LightingRamp, Rain, SceneSpec, SensorNoise, write_video
from detectors.zones.config import ObjectCheckConfig
from pantau.exceptions import FootageError

FootageFetcher = Callable[[], Path]  # the folder holding vtest.avi, or FootageError
Warn = Callable[[str], None]

_SCENES: dict[str, SceneSpec] = {
    "alun-alun": SceneSpec(
        figures=[
            FigurePath(1, [(0.15, 0.35), (0.3, 1.15)], start_s=3.0, speed_px_s=45),
            FigurePath(2, [(0.85, 0.3), (0.7, 1.15)], start_s=14.0, speed_px_s=40),
        ],
        nuisances=[LightingRamp(start_s=20.0, end_s=28.0), SensorNoise(sigma_levels=4.0)],
        frames=150,
        seed=21,
    ),
    "stasiun": SceneSpec(
        figures=[FigurePath(1, [(0.3, 0.35), (0.45, 1.15)], start_s=2.0, speed_px_s=50)],
        nuisances=[Rain(streaks_per_frame=80), SensorNoise(sigma_levels=4.0)],
        frames=150,
        seed=22,
    ),
}

_CAMERAS: list[dict[str, Any]] = [
    {
        "id": "cam-alun-alun",
        "name": "Alun-Alun Merdeka",
        "scene": "alun-alun",
        "location": {"lat": -7.9826, "lon": 112.6308, "district": "Klojen"},
        "zones": [
            {
                "name": "lawn",
                "polygon": [[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]],
                "rules": ["intrusion", {"crowd": {"max_people": 25}}],
                "criticality": "high",
                "schedule": "always",
            }
        ],
    },
    {
        "id": "cam-stasiun",
        "name": "Stasiun Malang Kota Baru",
        "scene": "stasiun",
        "location": {"lat": -7.9773, "lon": 112.6371, "district": "Klojen"},
        "masks": [[[0.0, 0.0], [1.0, 0.0], [1.0, 0.12], [0.0, 0.12]]],
        "zones": [
            {
                "name": "platform edge",
                "polygon": [[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]],
                "rules": [
                    {"line_crossing": {"line": [[0.0, 0.7], [1.0, 0.7]], "direction": "both"}},
                    {"abandoned_object": {"min_s": 30}},
                ],
                "criticality": "medium",
            }
        ],
    },
]


PLAZA_ID = "cam-plaza-real"
PLAZA_VIDEO = "vtest.avi"
# Half the width of the walkway zone drawn around the counting line (normalized): the zone is only
# the operator's picture of the line; the rule uses the line itself.
_WALKWAY_HALF_WIDTH = 0.03


def plaza_camera(video: Path) -> dict[str, Any]:
    """The real-footage camera on ``video`` (OpenCV's vtest.avi: 768x576, 10 fps, 80 s), as the
    configuration file holds it."""
    (ax, ay), (bx, by) = VTEST_LINE
    w = _WALKWAY_HALF_WIDTH
    return {
        "id": PLAZA_ID,
        "name": "Plaza (real CCTV, vtest.avi)",
        "location": {"lat": -7.9771, "lon": 112.6340, "district": "Klojen"},  # by Alun-Alun Tugu
        "source": str(video),
        "fps": 10,  # the file's own rate, as the ground truth and the real-footage tests use it
        "loop": True,
        "realtime": True,
        "object_check": {},  # SSD-MobileNet-v2, the default
        "zones": [
            {
                "name": "lawn",
                "polygon": [list(p) for p in VTEST_LAWN],
                "rules": ["intrusion"],
                "criticality": "high",
                "schedule": "always",
            },
            {
                "name": "walkway",
                "polygon": [[ax - w, ay], [ax + w, ay], [bx + w, by], [bx - w, by]],
                # A counting line: ~26 crossings a loop go to the planners' counts, not to the operators.
                "rules": [{"line_crossing": {"line": [list(p) for p in VTEST_LINE], "alert": False}}],
            },
        ],
    }


def real_cameras(fetch: FootageFetcher, models_dir: Path, warn: Warn) -> list[dict[str, Any]]:
    """The real-footage camera, or none (with one ``warn`` line saying why and what to run) when its
    footage cannot be fetched or its object detector is not installed in ``models_dir``."""
    left_out = f"demo camera {PLAZA_ID} (real CCTV footage) left out"
    try:
        video = fetch() / PLAZA_VIDEO
    except FootageError as exc:  # its message says what failed and how to fetch the files by hand
        warn(" ".join(f"{left_out}: {exc}".split()))
        return []
    except OSError as exc:  # the cache folder cannot be written
        warn(" ".join(f"{left_out}: cannot cache OpenCV's sample videos: {exc}".split()))
        return []
    camera = plaza_camera(video)
    model = ObjectCheckConfig.model_validate(camera["object_check"]).model
    try:
        # model_path checks every file of the model (size, sha256) the way camera-detectors will.
        model_path(models_dir, model, Path(MODELS[model].files[0].name).suffix)
    except ModelMissing as exc:
        warn(" ".join(f"{left_out}: it needs object confirmation and {exc}".split()))
        return []
    return [camera]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def demo_config(
    base: Path,
    folder: Path,
    real_footage: FootageFetcher | None = None,
    models_dir: Path | None = None,
    warn: Warn = _warn,
) -> Path:
    """``base`` plus the demo cameras (scenes rendered on first use), written to ``folder``; with
    ``real_footage``, also the real-footage camera, if its footage and its model (in ``models_dir``,
    by default camera-detectors' default) are there (:func:`real_cameras`)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(base.read_text(encoding="utf-8")) or {}
    cameras = []
    for spec in _CAMERAS:
        video = folder / f"{spec['scene']}.avi"
        if not video.exists():
            write_video(_SCENES[spec["scene"]], video)
        camera = {k: v for k, v in spec.items() if k != "scene"}
        # The scenes' figures are drawn shapes, not people a CNN knows: these cameras run on motion
        # alone (their incidents say so).
        camera.update(source=str(video), fps=5, loop=True, realtime=True, object_check=None)
        cameras.append(camera)
    if real_footage is not None:
        cameras += real_cameras(real_footage, default_models_dir() if models_dir is None else models_dir, warn)
    data["cameras"] = [*(data.get("cameras") or []), *cameras]
    out = folder / "config.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out
