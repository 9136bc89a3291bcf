"""``pantau bench detect`` on real footage: the paths it times run the real detection path, and a
look budget bounds the object detector's calls (the figures themselves are benchmarks, not tested)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.bench import bench_camera, bench_frames, render_figures, video_frames

pytestmark = pytest.mark.video


def test_a_look_budget_bounds_the_calls_and_is_reported(footage_dir: Path) -> None:
    jpegs, fps, width_px, height_px = video_frames(footage_dir / "vtest.avi", (640, 360))
    clip = jpegs[480:580]  # 10 s with people stepping onto the lawn
    footage_s = len(clip) / fps
    figures = bench_frames(
        "vtest.avi",
        clip,
        width_px,
        height_px,
        fps,
        (bench_camera(False, fps), bench_camera(True, fps)),
        repeats=1,
        budgeted=[bench_camera(True, fps, 0.5)],
    )
    ((rate, budget_fps, budget_calls),) = figures.budgeted
    assert rate == 0.5 and budget_fps > 0
    assert budget_calls <= 0.5 * 2.0 + 0.5 * footage_s  # the burst, then the rate
    assert figures.calls > budget_calls  # unlimited, the same 10 s need more looks
    assert figures.incidents.get("intrusion", 0) >= 1  # the timed path is the real one
    text = render_figures([figures])
    assert "with max_looks_per_s 0.5:" in text and f"{figures.frames:>6}" in text


def test_a_budgeted_camera_must_have_a_budget(footage_dir: Path) -> None:
    jpegs, fps, width_px, height_px = video_frames(footage_dir / "vtest.avi", (640, 360))
    cameras = (bench_camera(False, fps), bench_camera(True, fps))
    with pytest.raises(ValueError, match="max_looks_per_s"):
        bench_frames("vtest.avi", jpegs[:5], width_px, height_px, fps, cameras, repeats=1,
                     budgeted=[bench_camera(True, fps)])  # fmt: skip
