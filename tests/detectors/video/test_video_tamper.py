"""TamperDetector on synthetic scenes: covered, defocused and moved cameras alarm once; nuisances never."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from detectors.video.synthetic import (
    CameraMoved,
    CameraShake,
    Defocus,
    FigurePath,
    Foliage,
    IrSwitch,
    LensCovered,
    LightingRamp,
    LightingStep,
    Nuisance,
    Rain,
    SceneSpec,
    SensorNoise,
    render,
)
from detectors.video.tamper import TamperConfig, TamperDetector, TamperKind, TamperResult

pytestmark = pytest.mark.unit

FPS = 5.0
ONSET_S = 6.0  # after the 2 s reference, so tampering starts on a learned view
ONSET_FRAME = round(ONSET_S * FPS)
LEFT_TO_RIGHT = [(-0.05, 0.8), (1.05, 0.8)]
RIGHT_TO_LEFT = [(1.05, 0.6), (-0.05, 0.58)]
CONFIG = TamperConfig()
MAX_DELAY_FRAMES = CONFIG.hold_frames + 5


@dataclass
class Run:
    """What a scene produced, frame by frame."""

    results: list[TamperResult] = field(default_factory=list)

    @property
    def events(self) -> list[tuple[int, str, TamperKind]]:
        """(frame, "raised" | "cleared", kind) in order."""
        out: list[tuple[int, str, TamperKind]] = []
        for r in self.results:
            if r.cleared is not None:
                out.append((r.frame_index, "cleared", r.cleared))
            if r.raised is not None:
                out.append((r.frame_index, "raised", r.raised))
        return out


SceneFactory = Callable[..., SceneSpec]
RunFactory = Callable[[SceneSpec], Run]


@pytest.fixture
def scene_factory() -> SceneFactory:
    def make(
        figures: Sequence[FigurePath] = (), nuisances: Sequence[Nuisance] = (), frames: int = 100, seed: int = 3
    ) -> SceneSpec:
        return SceneSpec(figures=figures, nuisances=nuisances, frames=frames, fps=FPS, seed=seed)

    return make


@pytest.fixture
def run_factory() -> RunFactory:
    def run(spec: SceneSpec) -> Run:
        detector = TamperDetector(CONFIG)
        return Run([detector.process(frame.gray) for frame in render(spec)])

    return run


# -- tampering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nuisances", "kind"),
    [
        pytest.param([LensCovered(ONSET_S, until_s=14.0)], "covered", id="covered"),
        pytest.param(
            [LensCovered(ONSET_S, until_s=14.0, level=60.0), SensorNoise(12.0), Rain()], "covered", id="covered-noisy"
        ),
        pytest.param([Defocus(ONSET_S, until_s=14.0)], "defocused", id="defocused"),
        pytest.param([Defocus(ONSET_S, until_s=14.0, sigma_px=4.0)], "defocused", id="defocused-less"),
        pytest.param(
            [Defocus(ONSET_S, until_s=14.0), SensorNoise(8.0), CameraShake(2)], "defocused", id="defocused-noisy"
        ),
    ],
)
def test_lens_tampering_is_raised_once_and_cleared_when_it_ends(
    scene_factory: SceneFactory, run_factory: RunFactory, nuisances: list[Nuisance], kind: TamperKind
) -> None:
    walker = FigurePath(1, LEFT_TO_RIGHT, start_s=2.0)
    run = run_factory(scene_factory([walker], nuisances, frames=110))

    events = run.events
    assert [(e[1], e[2]) for e in events] == [("raised", kind), ("cleared", kind)]
    (raised_at, _, _), (cleared_at, _, _) = events
    assert ONSET_FRAME <= raised_at <= ONSET_FRAME + MAX_DELAY_FRAMES
    end_frame = round(14.0 * FPS)
    assert end_frame <= cleared_at <= end_frame + CONFIG.clear_frames + 5
    assert all(r.kind == kind for r in run.results[raised_at:cleared_at])
    assert all(r.kind is None for r in run.results[cleared_at:])


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(CameraMoved(ONSET_S, shift_px=(60.0, 0.0)), id="panned"),
        pytest.param(CameraMoved(ONSET_S, shift_px=(-25.0, 20.0)), id="nudged"),
        pytest.param(CameraMoved(ONSET_S, shift_px=(0.0, 0.0), angle_deg=6.0), id="rotated"),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_moved_camera_is_raised_once_and_stays_moved_while_it_points_elsewhere(
    scene_factory: SceneFactory, run_factory: RunFactory, move: CameraMoved, seed: int
) -> None:
    """The zones were drawn on the old view: however steady the new one, the camera stays 'moved'
    (one alarm, the zones down) until it points back or the zones are redrawn on the new view."""
    walker = FigurePath(1, RIGHT_TO_LEFT, start_s=3.0)
    run = run_factory(scene_factory([walker], [move, SensorNoise(6.0), CameraShake(2)], frames=100, seed=seed))

    events = run.events
    assert [(e[1], e[2]) for e in events] == [("raised", "moved")]
    raised_at = events[0][0]
    assert ONSET_FRAME <= raised_at <= ONSET_FRAME + MAX_DELAY_FRAMES
    assert all(r.kind == "moved" for r in run.results[raised_at:])


def test_a_moved_view_accepted_with_rehome_is_cleared_and_watched_from_then_on(
    scene_factory: SceneFactory,
) -> None:
    frames = [
        f.gray for f in render(scene_factory([], [CameraMoved(ONSET_S, shift_px=(60.0, 0.0)), SensorNoise(6.0)], 80))
    ]
    detector = TamperDetector(CONFIG)
    results = [detector.process(gray) for gray in frames[:60]]
    assert results[-1].kind == "moved"
    detector.rehome()
    after = [detector.process(gray) for gray in frames[60:]]
    assert after[0].cleared == "moved" and after[0].raised is None
    assert all(r.kind is None and r.candidate is None for r in after)


def test_moved_shift_is_measured(scene_factory: SceneFactory, run_factory: RunFactory) -> None:
    run = run_factory(scene_factory(nuisances=[CameraMoved(ONSET_S, shift_px=(64.0, 0.0))], frames=40))

    assert run.results[ONSET_FRAME + 2].shift_frac == pytest.approx(0.1, abs=0.01)
    assert run.results[ONSET_FRAME - 1].shift_frac < 0.01


# -- ordinary activity and nuisances -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("figures", "nuisances"),
    [
        pytest.param([FigurePath(1, LEFT_TO_RIGHT, start_s=2.0)], [], id="walker"),
        pytest.param(
            [
                FigurePath(1, LEFT_TO_RIGHT, start_s=1.0),
                FigurePath(2, RIGHT_TO_LEFT, start_s=2.0, intensity=60),
                FigurePath(3, [(0.3, 1.1), (0.5, 0.4)], start_s=3.0, intensity=200),
                FigurePath(4, LEFT_TO_RIGHT, start_s=6.0, speed_px_s=60.0),
            ],
            [],
            id="several-walkers",
        ),
        pytest.param(
            [FigurePath(1, [(-0.2, 1.0), (1.2, 1.0)], start_s=3.0, width_px=120, height_px=300, speed_px_s=60.0)],
            [],
            id="big-close-walker",
        ),
        pytest.param([], [Rain(400)], id="heavy-rain"),
        pytest.param([], [SensorNoise(12.0)], id="noise"),
        pytest.param([], [LightingStep(8.0)], id="lights-on"),
        pytest.param([], [LightingStep(8.0, gain=0.5, offset=-10.0)], id="lights-off"),
        pytest.param([], [LightingRamp(2.0, 15.0)], id="ramp"),
        pytest.param([], [IrSwitch(8.0)], id="ir-switch"),
        pytest.param([], [IrSwitch(8.0, gain=0.7, offset=50.0, gamma=1.4)], id="ir-switch-back"),
        pytest.param([], [CameraShake(4)], id="shake"),
        pytest.param([], [Foliage(amplitude_px=5.0)], id="foliage"),
        pytest.param(
            [FigurePath(1, LEFT_TO_RIGHT, start_s=2.0)],
            [LightingRamp(1.0, 19.0), Rain(), SensorNoise(8.0), CameraShake(2), Foliage()],
            id="everything",
        ),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_ordinary_activity_never_raises_tamper(
    scene_factory: SceneFactory,
    run_factory: RunFactory,
    figures: list[FigurePath],
    nuisances: list[Nuisance],
    seed: int,
) -> None:
    run = run_factory(scene_factory(figures, nuisances, frames=100, seed=seed))

    assert run.events == []
    assert all(r.kind is None for r in run.results)


# -- units -----------------------------------------------------------------------------------------


def test_reference_frames_are_warm_up_then_verdicts_start() -> None:
    frames = [f.gray for f in render(SceneSpec(frames=4, seed=1))]
    detector = TamperDetector(TamperConfig(reference_frames=3))

    results = [detector.process(gray) for gray in frames]

    assert [r.warming_up for r in results] == [True, True, True, False]
    assert results[-1].sharpness_ratio == pytest.approx(1.0, rel=0.01)
    assert results[-1].texture_ratio == pytest.approx(1.0, rel=0.01)
    assert results[-1].response > 0.9


def test_uniform_frame_after_a_scene_is_covered_not_defocused() -> None:
    scene = next(iter(render(SceneSpec(frames=1, seed=1)))).gray
    detector = TamperDetector(TamperConfig(reference_frames=2, hold_frames=3))
    for _ in range(2):
        detector.process(scene)

    results = [detector.process(np.full_like(scene, 30)) for _ in range(3)]

    assert [r.candidate for r in results] == ["covered"] * 3
    assert [r.raised for r in results] == [None, None, "covered"]


def test_new_frame_size_restarts_the_reference() -> None:
    detector = TamperDetector(TamperConfig(reference_frames=2))
    for _ in range(3):
        detector.process(np.full((360, 640), 100, np.uint8))

    assert detector.process(np.full((180, 320), 100, np.uint8)).warming_up


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        TamperConfig(hold_frame=3)  # type: ignore[call-arg]


def test_color_frames_are_rejected() -> None:
    with pytest.raises(ValueError, match="2-D"):
        TamperDetector().process(np.zeros((36, 64, 3), np.uint8))


# -- the generator's tamper nuisances --------------------------------------------------------------


def test_tampering_leaves_earlier_frames_unchanged() -> None:
    base = SceneSpec(figures=[FigurePath(1, LEFT_TO_RIGHT)], nuisances=[Rain(), SensorNoise(8.0)], frames=12, seed=4)
    tampered = SceneSpec(
        figures=base.figures,
        nuisances=[*base.nuisances, LensCovered(2.0, until_s=2.2), Defocus(1.2), CameraMoved(1.6)],
        frames=12,
        seed=4,
    )
    plain, other = list(render(base)), list(render(tampered))

    for a, b in zip(plain[:6], other[:6], strict=True):
        assert np.array_equal(a.gray, b.gray)
    assert not np.array_equal(plain[6].gray, other[6].gray)  # defocused from 1.2 s
    covered = cv2.resize(other[10].gray, (80, 45), interpolation=cv2.INTER_AREA)  # averages the noise away
    assert covered.mean() == pytest.approx(LensCovered(0.0).level, abs=2.0)  # covered 2.0..2.2 s
    assert covered.std() < 3.0
    assert not np.array_equal(plain[11].gray, other[11].gray)  # still defocused and moved
    assert cv2.resize(other[11].gray, (80, 45), interpolation=cv2.INTER_AREA).std() > 10.0  # no longer covered


def test_camera_moved_shifts_the_view() -> None:
    still, moved = (
        # No sensor noise: the same noise on both frames would pin the correlation at no shift.
        [f.gray for f in render(SceneSpec(nuisances=n, frames=2, seed=5, base_noise_levels=0.0))]
        for n in ([], [CameraMoved(0.1, shift_px=(30.0, -12.0))])
    )
    assert np.array_equal(still[0], moved[0])

    (dx, dy), _ = cv2.phaseCorrelate(still[1].astype(np.float32), moved[1].astype(np.float32))

    assert (dx, dy) == pytest.approx((30.0, -12.0), abs=0.5)


# -- speed (printed, not asserted) -----------------------------------------------------------------


def test_print_speed(scene_factory: SceneFactory) -> None:
    frames = [f.gray for f in render(scene_factory([FigurePath(1, LEFT_TO_RIGHT, start_s=2.0)], [Rain()], 60))]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one core, as the budget is stated
    try:
        detector = TamperDetector()
        start = time.perf_counter()
        for _ in range(5):
            for gray in frames:
                detector.process(gray)
        elapsed_s = time.perf_counter() - start
    finally:
        cv2.setNumThreads(threads)
    print(f"TamperDetector at 640x360, one thread: {5 * len(frames) / elapsed_s:.0f} frames/s")
