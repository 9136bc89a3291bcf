"""``pantau analyze`` on synthetic footage with ground truth: one intrusion per entry, found within
a second of the figure stepping into the zone; nuisance-only footage gives nothing; stdout holds
only JSON."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import orjson
import pytest

from detectors.video.synthetic import FigurePath, LightingStep, Rain, SceneSpec, SensorNoise, render
from detectors.zones.geometry import point_in_polygon

pytestmark = pytest.mark.unit

LAWN = [(0.0, 0.55), (0.5, 0.68), (1.0, 0.93), (1.0, 1.0), (0.0, 1.0)]
CONFIG = f"""
timezone: Asia/Jakarta
cameras:
  - id: plaza
    source: unused.mp4
    fps: 5
    object_check: null   # the generator's figures are shapes, not people a CNN knows: motion alone
    zones:
      - name: lawn
        polygon: {[list(p) for p in LAWN]}
        rules: [intrusion]
        criticality: high
"""


@pytest.fixture
def footage_factory(tmp_path: Path) -> Callable[[SceneSpec], tuple[Path, list[int]]]:
    """Writes a scene to an .avi and returns it with, per figure, the first frame its feet are in the lawn."""

    def make(spec: SceneSpec) -> tuple[Path, list[int]]:
        path = tmp_path / f"scene-{spec.seed}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), spec.fps, (spec.width_px, spec.height_px))
        entered: dict[int, int] = {}
        for frame in render(spec):
            writer.write(cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR))
            for box in frame.truth:
                if box.visible_frac > 0.9 and point_in_polygon(box.bottom_centre, LAWN):
                    entered.setdefault(box.figure_id, frame.index)
        writer.release()
        return path, sorted(entered.values())

    return make


def analyze(video: Path, tmp_path: Path) -> tuple[list[dict[str, object]], str]:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pantau.cli",
            "analyze",
            str(video),
            "--config",
            str(config),
            "--camera",
            "plaza",
            "--start",
            "2026-11-27T21:00:00+07:00",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    lines = result.stdout.decode().splitlines()
    return [orjson.loads(line) for line in lines], result.stderr.decode()


def walker(figure_id: int, waypoints: Sequence[tuple[float, float]], start_s: float = 0.0) -> FigurePath:
    return FigurePath(figure_id, waypoints, start_s=start_s, speed_px_s=60)


def test_person_entering_the_lawn_is_one_intrusion_within_a_second(
    footage_factory: Callable[[SceneSpec], tuple[Path, list[int]]], tmp_path: Path
) -> None:
    spec = SceneSpec(figures=[walker(1, [(0.3, 0.4), (0.35, 0.95)], start_s=1.0)], frames=60, seed=3)
    video, entered = footage_factory(spec)
    assert len(entered) == 1
    incidents, stderr = analyze(video, tmp_path)
    assert [(i["type"], i["zone"], i["phase"]) for i in incidents] == [("intrusion", "lawn", "raised")]
    delay_frames = int(incidents[0]["frame"]) - entered[0]  # type: ignore[call-overload]
    assert 0 <= delay_frames <= 5, f"found {delay_frames} frames after the figure entered"
    assert incidents[0]["offset_s"] == pytest.approx(int(incidents[0]["frame"]) / 5)  # type: ignore[call-overload]
    # Motion alone: nobody computed a confidence, and the incident says it was not verified.
    assert incidents[0]["confidence"] is None and incidents[0]["object_class"] is None
    assert incidents[0]["details"]["verification"] == "motion only"  # type: ignore[index]
    assert "1 incidents" in stderr


def test_nuisance_only_footage_gives_no_incident(
    footage_factory: Callable[[SceneSpec], tuple[Path, list[int]]], tmp_path: Path
) -> None:
    spec = SceneSpec(nuisances=[Rain(), SensorNoise(), LightingStep(at_s=6.0)], frames=60, seed=5)
    video, _ = footage_factory(spec)
    incidents, _ = analyze(video, tmp_path)
    assert incidents == []


def test_unknown_camera_is_named_with_the_valid_ones(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "analyze", "x.avi", "--config", str(config), "--camera", "gate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "camera 'gate' is not in the config; cameras: plaza" in result.stderr
    assert result.stdout == ""
