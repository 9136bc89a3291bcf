"""Camera feeds for ``pantau demo`` on a machine without cameras: looping synthetic scenes.

Each scene is rendered once into ``<stack home>/demo/`` (an MJPG .avi) and played by camera ingest
like any video file, in real time and looped, so the demo shows the camera path end to end: people
walking onto the Alun-Alun lawn, a bag left at the station, dusk falling, rain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import yaml

from detectors.video.synthetic import FigurePath, LightingRamp, Rain, SceneSpec, SensorNoise, render

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


def _render(path: Path, spec: SceneSpec) -> None:
    tmp = path.with_suffix(".tmp.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), spec.fps, (spec.width_px, spec.height_px))
    for frame in render(spec):
        writer.write(cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR))
    writer.release()
    tmp.rename(path)


def demo_config(base: Path, folder: Path) -> Path:
    """``base`` plus the demo cameras (scenes rendered on first use), written to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(base.read_text(encoding="utf-8")) or {}
    cameras = []
    for spec in _CAMERAS:
        video = folder / f"{spec['scene']}.avi"
        if not video.exists():
            _render(video, _SCENES[spec["scene"]])
        camera = {k: v for k, v in spec.items() if k != "scene"}
        # The scenes' figures are drawn shapes, not people a CNN knows: these cameras run on motion
        # alone (their incidents say so).
        camera.update(source=str(video), fps=5, loop=True, realtime=True, object_check=None)
        cameras.append(camera)
    data["cameras"] = [*(data.get("cameras") or []), *cameras]
    out = folder / "config.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out
