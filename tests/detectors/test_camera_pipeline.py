"""The per-camera pipeline on synthetic frames: abandoned objects, masks, out-of-order frames."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import pytest

from detectors.camera_pipeline import CameraPipeline, FrameRejected
from detectors.schemas import Incident
from detectors.video.frames import CameraFrame
from detectors.video.synthetic import (
    CameraMoved,
    Defocus,
    FigurePath,
    LensCovered,
    LightingStep,
    SceneSpec,
    SensorNoise,
    render,
)
from detectors.zones.config import DetectorCameraConfig

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
HALL = [[0.3, 0.6], [0.7, 0.6], [0.7, 1.0], [0.3, 1.0]]


@pytest.fixture
def pipeline_factory() -> Callable[..., CameraPipeline]:
    def make(rules: list[object], masks: list[object] | None = None) -> CameraPipeline:
        camera = DetectorCameraConfig.model_validate(
            {
                "id": "station",
                "source": "x.mp4",
                "masks": masks or [],
                "object_check": None,  # synthetic figures are shapes: the motion layer alone
                "zones": [{"name": "hall", "polygon": HALL, "rules": rules}],
            }
        )
        return CameraPipeline(camera, ZoneInfo("Asia/Jakarta"))

    return make


def run(pipeline: CameraPipeline, spec: SceneSpec, bag_from: int | None = None) -> list[Incident]:
    out: list[Incident] = []
    for frame in render(spec):
        gray = frame.gray.copy()
        if bag_from is not None and frame.index >= bag_from:
            cv2.rectangle(gray, (300, 280), (325, 300), 30, -1)  # a dark bag put down at frame bag_from
        out.extend(pipeline.process(CameraFrame(gray), T0 + timedelta(seconds=frame.ts_s), frame.index))
    return out


def test_bag_left_in_the_hall_is_one_abandoned_object(pipeline_factory: Callable[..., CameraPipeline]) -> None:
    incidents = run(pipeline_factory([{"abandoned_object": {"min_s": 10}}]), SceneSpec(frames=150, seed=1), bag_from=20)
    assert [i.type for i in incidents] == ["abandoned_object"]
    frame = int(incidents[0].evidence["frame"])
    assert 20 + 10 * 5 <= frame <= 20 + 10 * 5 + 25  # stood 10 s, found within 5 s of becoming static
    assert incidents[0].evidence["snapshot_jpeg_b64"]


def test_walker_and_lighting_change_leave_no_abandoned_object(pipeline_factory: Callable[..., CameraPipeline]) -> None:
    spec = SceneSpec(
        figures=[FigurePath(1, [(0.1, 0.8), (0.9, 0.85)], speed_px_s=40)],
        nuisances=[LightingStep(at_s=12.0)],
        frames=150,
        seed=2,
    )
    assert run(pipeline_factory([{"abandoned_object": {"min_s": 10}}]), spec) == []


def test_masked_area_hides_an_intruder(pipeline_factory: Callable[..., CameraPipeline]) -> None:
    spec = SceneSpec(figures=[FigurePath(1, [(0.5, 0.5), (0.5, 0.95)], start_s=1.0, speed_px_s=40)], frames=50, seed=4)
    assert [i.type for i in run(pipeline_factory(["intrusion"]), spec)] == ["intrusion"]
    masked = pipeline_factory(["intrusion"], masks=[[[0.35, 0.3], [0.65, 0.3], [0.65, 1.0], [0.35, 1.0]]])
    assert run(masked, spec) == []


def test_out_of_order_and_future_frames_are_refused(pipeline_factory: Callable[..., CameraPipeline]) -> None:
    pipeline = pipeline_factory(["intrusion"])
    frame = next(iter(render(SceneSpec(frames=1))))
    pipeline.process(CameraFrame(frame.gray), T0, 0)
    with pytest.raises(FrameRejected, match="not after the last one"):
        pipeline.check(T0, now=T0, max_skew_s=300)
    with pytest.raises(FrameRejected, match=r"from the future: .* 301 s ahead"):
        pipeline.check(T0 + timedelta(seconds=301), now=T0, max_skew_s=300)
    pipeline.check(T0 + timedelta(seconds=300), now=T0, max_skew_s=300)  # within the skew allowed


@pytest.mark.parametrize(
    ("tamper", "kind", "phases"),
    [
        (LensCovered(at_s=8.0, until_s=18.0), "covered", ["raised", "cleared"]),
        (Defocus(at_s=8.0, until_s=18.0), "defocused", ["raised", "cleared"]),
        # Moved for good: one alarm, kept (the zones were drawn on the old view).
        (CameraMoved(at_s=8.0, shift_px=(60.0, 0.0)), "moved", ["raised"]),
    ],
)
def test_tamper_is_one_incident_raised_within_seconds_then_cleared(
    pipeline_factory: Callable[..., CameraPipeline], tamper: object, kind: str, phases: list[str]
) -> None:
    spec = SceneSpec(nuisances=[tamper], frames=150, seed=6)  # type: ignore[list-item]
    incidents = run(pipeline_factory(["intrusion"]), spec)
    assert [(i.type, i.evidence["tamper_kind"], i.phase.value) for i in incidents] == [
        ("tamper", kind, phase) for phase in phases
    ]
    raised_frame = int(incidents[0].evidence["frame"])
    assert 40 <= raised_frame <= 40 + 15  # onset at frame 40 (8 s at 5 fps); reported within 3 s
    assert incidents[0].severity.value == "high" and len({i.id for i in incidents}) == len(incidents)


def test_a_frozen_picture_is_named_within_seconds_and_cleared_when_it_moves_again(
    pipeline_factory: Callable[..., CameraPipeline],
) -> None:
    """The same picture keeps arriving (a hung encoder) for 6 s: one `frozen`, within 5 s, then
    cleared; a live still scene (sensor noise only) never looks frozen."""
    frames = list(render(SceneSpec(nuisances=[SensorNoise(sigma_levels=2.0)], frames=120, seed=8)))
    pipeline = pipeline_factory(["intrusion"])
    out: list[Incident] = []
    for frame in frames:
        # Frames 40..69 (8 s to 14 s at 5 fps) repeat frame 40's picture.
        gray = frames[40].gray if 40 <= frame.index < 70 else frame.gray
        out.extend(pipeline.process(CameraFrame(gray.copy()), T0 + timedelta(seconds=frame.ts_s), frame.index))
    assert [(i.evidence["tamper_kind"], i.phase.value) for i in out] == [("frozen", "raised"), ("frozen", "cleared")]
    raised_s = int(out[0].evidence["frame"]) / 5 - 8.0
    assert 2.5 <= raised_s <= 5.0, raised_s
    assert int(out[1].evidence["frame"]) <= 72
    assert out[0].title.startswith("Picture frozen")
    still = pipeline_factory(["intrusion"])
    for frame in frames:
        assert still.process(CameraFrame(frame.gray), T0 + timedelta(seconds=frame.ts_s), frame.index) == []
