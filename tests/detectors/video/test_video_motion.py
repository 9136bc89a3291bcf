"""MotionDetector + Tracker on synthetic scenes: walkers are tracked fast, nuisances never confirm."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from detectors.video.motion import Blob, MotionConfig, MotionDetector, polygon_mask
from detectors.video.synthetic import (
    CameraShake,
    FigurePath,
    Foliage,
    IrSwitch,
    LightingRamp,
    LightingStep,
    Nuisance,
    Rain,
    SceneSpec,
    SensorNoise,
    SyntheticFrame,
    render,
)
from detectors.video.tracking import Track, Tracker, TrackerConfig

pytestmark = pytest.mark.unit

FPS = 5.0
# Figures start walking after the detector's 1 s warm-up, from just outside the left edge.
LEFT_TO_RIGHT = [(-0.05, 0.8), (1.05, 0.8)]
RIGHT_TO_LEFT = [(1.05, 0.6), (-0.05, 0.58)]
BOTTOM_CENTRE_TOLERANCE = 0.03  # normalized: ~19 px in x, ~11 px in y at 640x360


@dataclass
class Run:
    """What a scene produced, frame by frame."""

    frames: list[SyntheticFrame] = field(default_factory=list)
    tracks: list[list[Track]] = field(default_factory=list)
    lighting_changes: int = 0

    @property
    def confirmed_ids(self) -> set[int]:
        return {t.track_id for tracks in self.tracks for t in tracks if t.confirmed}

    def first_confirmed_index(self) -> int | None:
        return next((i for i, tracks in enumerate(self.tracks) if any(t.confirmed for t in tracks)), None)


SceneFactory = Callable[..., SceneSpec]
RunFactory = Callable[..., Run]


@pytest.fixture
def scene_factory() -> SceneFactory:
    def make(
        figures: Sequence[FigurePath] = (), nuisances: Sequence[Nuisance] = (), frames: int = 100, seed: int = 3
    ) -> SceneSpec:
        return SceneSpec(figures=figures, nuisances=nuisances, frames=frames, fps=FPS, seed=seed)

    return make


@pytest.fixture
def run_factory() -> RunFactory:
    def run(spec: SceneSpec, mask: np.ndarray | None = None) -> Run:
        detector, tracker = MotionDetector(), Tracker()
        out = Run()
        for frame in render(spec):
            result = detector.process(frame.gray, mask)
            out.lighting_changes += result.lighting_change
            out.frames.append(frame)
            out.tracks.append(tracker.update(result.blobs, frame.ts_s))
        return out

    return run


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _follow_rate(run: Run, figure_id: int) -> float:
    """Fraction of the frames where the figure is fully visible and some confirmed track is, at which
    a confirmed track seen this frame has its bottom-centre within tolerance of the figure's."""
    hits = total = 0
    for frame, tracks in zip(run.frames, run.tracks, strict=True):
        confirmed = [t for t in tracks if t.confirmed and t.missed_frames == 0]
        truth = [tb for tb in frame.truth if tb.figure_id == figure_id and tb.visible_frac == 1.0]
        if not truth or not any(t.confirmed for t in tracks):
            continue
        total += 1
        hits += any(_distance(t.bottom_centre, truth[0].bottom_centre) <= BOTTOM_CENTRE_TOLERANCE for t in confirmed)
    assert total > 0
    return hits / total


def _first_fully_visible(run: Run, figure_id: int) -> int:
    return next(
        f.index for f in run.frames if any(tb.figure_id == figure_id and tb.visible_frac == 1.0 for tb in f.truth)
    )


# -- walkers -------------------------------------------------------------------------------------


def test_walker_gives_one_confirmed_track_that_follows_it(scene_factory: SceneFactory, run_factory: RunFactory) -> None:
    run = run_factory(scene_factory([FigurePath(1, LEFT_TO_RIGHT, start_s=2.0)]))

    assert len(run.confirmed_ids) == 1
    first = run.first_confirmed_index()
    assert first is not None
    assert first - _first_fully_visible(run, 1) <= 5  # <= 1 s at 5 fps
    assert _follow_rate(run, 1) >= 0.9
    assert run.lighting_changes == 0


def test_two_walkers_give_two_tracks(scene_factory: SceneFactory, run_factory: RunFactory) -> None:
    figures = [FigurePath(1, LEFT_TO_RIGHT, start_s=2.0), FigurePath(2, RIGHT_TO_LEFT, start_s=3.0, intensity=60)]
    run = run_factory(scene_factory(figures))

    assert len(run.confirmed_ids) == 2
    assert _follow_rate(run, 1) >= 0.9
    assert _follow_rate(run, 2) >= 0.9


@pytest.mark.parametrize(
    "nuisances",
    [
        pytest.param([Rain()], id="rain"),
        pytest.param([SensorNoise(12.0)], id="noise"),
        pytest.param([Rain(), SensorNoise(8.0), LightingRamp(1.0, 19.0)], id="rain-noise-dusk"),
        pytest.param([LightingStep(8.0, gain=0.5, offset=-10.0)], id="lights-off"),
        pytest.param([IrSwitch(8.0)], id="ir-switch"),
        pytest.param([Foliage()], id="foliage"),
    ],
)
def test_walker_is_tracked_through_nuisances(
    scene_factory: SceneFactory, run_factory: RunFactory, nuisances: list[Nuisance]
) -> None:
    run = run_factory(scene_factory([FigurePath(1, LEFT_TO_RIGHT, start_s=2.0)], nuisances))

    assert len(run.confirmed_ids) == 1
    first = run.first_confirmed_index()
    assert first is not None
    assert first - _first_fully_visible(run, 1) <= 5
    assert _follow_rate(run, 1) >= 0.85


def test_bright_walker_is_tracked(scene_factory: SceneFactory, run_factory: RunFactory) -> None:
    run = run_factory(scene_factory([FigurePath(1, LEFT_TO_RIGHT, start_s=2.0, intensity=220)]))

    assert len(run.confirmed_ids) == 1
    assert _follow_rate(run, 1) >= 0.9


# -- nuisances only --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nuisances",
    [
        pytest.param([LightingStep(8.0)], id="lights-on"),
        pytest.param([LightingStep(8.0, gain=0.5, offset=-10.0)], id="lights-off"),
        pytest.param([LightingRamp(2.0, 15.0)], id="ramp"),
        pytest.param([IrSwitch(8.0)], id="ir-switch"),
        pytest.param([IrSwitch(8.0, gain=0.7, offset=50.0, gamma=1.4)], id="ir-switch-back"),
        pytest.param([SensorNoise(12.0)], id="noise"),
        pytest.param([Rain(400)], id="heavy-rain"),
        pytest.param([CameraShake(4)], id="shake"),
        pytest.param([Foliage(amplitude_px=5.0)], id="foliage"),
        pytest.param([LightingRamp(1.0, 19.0), Rain(), SensorNoise(8.0), CameraShake(2), Foliage()], id="everything"),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_nuisances_alone_never_confirm_a_track(
    scene_factory: SceneFactory, run_factory: RunFactory, nuisances: list[Nuisance], seed: int
) -> None:
    run = run_factory(scene_factory(nuisances=nuisances, seed=seed))

    assert run.confirmed_ids == set()


def test_a_sudden_step_is_reported_as_lighting_change(scene_factory: SceneFactory, run_factory: RunFactory) -> None:
    run = run_factory(scene_factory(nuisances=[IrSwitch(8.0)], frames=60))

    assert run.lighting_changes >= 1
    assert run.confirmed_ids == set()


# -- masks -----------------------------------------------------------------------------------------


def test_mask_hides_a_walker_inside_it(scene_factory: SceneFactory, run_factory: RunFactory) -> None:
    # The walker stays inside the masked band y 0.6..0.95; a second walker outside it is still seen.
    mask = polygon_mask([[(0.0, 0.6), (1.0, 0.6), (1.0, 0.95), (0.0, 0.95)]], 640, 360)
    hidden = FigurePath(1, LEFT_TO_RIGHT, start_s=2.0)
    visible = FigurePath(2, [(1.05, 0.45), (-0.05, 0.45)], start_s=2.0)

    only_hidden = run_factory(scene_factory([hidden]), mask=mask)
    both = run_factory(scene_factory([hidden, visible]), mask=mask)

    assert only_hidden.confirmed_ids == set()
    assert all(not tracks for tracks in only_hidden.tracks)
    assert len(both.confirmed_ids) == 1
    assert _follow_rate(both, 2) >= 0.9


def test_polygon_mask_fills_normalized_polygons() -> None:
    mask = polygon_mask([[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)]], 100, 50)

    assert mask.shape == (50, 100)
    assert mask.dtype == np.uint8
    assert mask[10, 20] == 255
    assert mask[40, 80] == 0
    assert polygon_mask([], 10, 10).sum() == 0


def test_boolean_mask_is_accepted(scene_factory: SceneFactory, run_factory: RunFactory) -> None:
    mask = np.zeros((360, 640), bool)
    mask[200:350, :] = True
    run = run_factory(scene_factory([FigurePath(1, LEFT_TO_RIGHT, start_s=2.0)]), mask=mask)

    assert run.confirmed_ids == set()


# -- units -----------------------------------------------------------------------------------------


def test_detector_warms_up_then_sees_a_square() -> None:
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(60, 200, (360, 640)).astype(np.uint8), (0, 0), 3).astype(np.uint8)
    detector = MotionDetector(MotionConfig(warmup_frames=3))
    results = [detector.process(background) for _ in range(5)]
    assert [r.warming_up for r in results] == [True, True, True, False, False]
    assert all(not r.blobs for r in results)

    moved = background.copy()
    moved[100:150, 300:330] = 10
    detector.process(moved)  # first sighting: persistence wants it twice
    result = detector.process(moved)

    assert len(result.blobs) == 1
    x0, y0, x1, y1 = result.blobs[0].xyxy
    assert x0 == pytest.approx(300 / 640, abs=0.01)
    assert x1 == pytest.approx(330 / 640, abs=0.01)
    assert y0 == pytest.approx(100 / 360, abs=0.015)
    assert y1 == pytest.approx(150 / 360, abs=0.015)


def test_global_brightness_change_alone_is_not_motion() -> None:
    rng = np.random.default_rng(1)
    background = cv2.GaussianBlur(rng.integers(60, 200, (360, 640)).astype(np.uint8), (0, 0), 3).astype(np.uint8)
    detector = MotionDetector()
    for _ in range(8):
        detector.process(background)
    brighter = np.clip(background.astype(np.float32) * 1.2 + 25, 0, 255).astype(np.uint8)

    results = [detector.process(brighter) for _ in range(5)]

    assert all(not r.blobs for r in results)


def _shade_and_walker(detector: MotionDetector, kind: str) -> list[int]:
    """Blobs per frame as a soft-edged shadow (ground x 0.6) or headlight glow (+70 levels) drifts
    over textured ground, with a walker (a patch of its own texture) on the same ground."""
    rng = np.random.default_rng(7)
    ground = cv2.GaussianBlur(rng.integers(40, 200, (360, 640)).astype(np.uint8), (0, 0), 1.5).astype(np.float32)
    walker = cv2.GaussianBlur(rng.integers(0, 90, (60, 24)).astype(np.uint8), (0, 0), 1.5).astype(np.float32)
    yy, xx = np.mgrid[0:360, 0:640]
    counts = []
    for _ in range(8):
        detector.process(ground.astype(np.uint8))
    for i in range(10):
        cx = 150 + 12 * i
        spot = np.exp(-(((xx - cx) / 60.0) ** 2 + ((yy - 250) / 30.0) ** 2)).astype(np.float32)
        frame = ground * (1 - 0.4 * spot) if kind == "shadow" else ground + 70 * spot
        if kind == "walker":
            frame = ground.copy()
            frame[200:260, 400 + 6 * i : 424 + 6 * i] = walker
        counts.append(len(detector.process(np.clip(frame, 0, 255).astype(np.uint8)).blobs))
    return counts


@pytest.mark.parametrize("kind", ["shadow", "light"])
def test_a_shadow_or_a_light_over_textured_ground_is_not_an_object(kind: str) -> None:
    # A fragment of its soft edge may show for a frame (too short to confirm a track); the shade
    # itself does not, while without the texture test it is a blob in every frame after the first.
    assert sum(n > 0 for n in _shade_and_walker(MotionDetector(), kind)) <= 1
    assert sum(n > 0 for n in _shade_and_walker(MotionDetector(MotionConfig(lighting_ncc=1.0)), kind)) == 9


def test_an_object_over_textured_ground_is_still_one() -> None:
    counts = _shade_and_walker(MotionDetector(), "walker")
    assert counts[1:] == [1] * 9  # from its second frame (persistence)


def test_new_frame_size_restarts_warm_up() -> None:
    detector = MotionDetector(MotionConfig(warmup_frames=2))
    for _ in range(3):
        detector.process(np.full((360, 640), 100, np.uint8))

    assert detector.process(np.full((180, 320), 100, np.uint8)).warming_up


def test_configs_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        MotionConfig(treshold_levels=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        TrackerConfig(max_missed=3)  # type: ignore[call-arg]


def test_color_frames_are_rejected() -> None:
    with pytest.raises(ValueError, match="2-D"):
        MotionDetector().process(np.zeros((36, 64, 3), np.uint8))


def _blob(x0: float, y0: float, w: float = 0.03, h: float = 0.14) -> Blob:
    return Blob((x0, y0, x0 + w, y0 + h), w * h)


def test_tracker_confirms_travel_not_jitter() -> None:
    tracker = Tracker(TrackerConfig(min_hits=3, min_displacement_frac=0.03))
    walker = [tracker.update([_blob(0.1 + 0.0125 * i, 0.5)], i / FPS) for i in range(6)]
    assert [any(t.confirmed for t in tracks) for tracks in walker] == [False, False, False, True, True, True]
    assert walker[-1][0].displacement_frac == pytest.approx(0.0625)
    assert walker[-1][0].bottom_centre == pytest.approx((0.1625 + 0.015, 0.64))

    jitter = Tracker()
    rng = np.random.default_rng(0)
    for i in range(100):
        tracks = jitter.update([_blob(0.5 + float(rng.uniform(-0.01, 0.01)), 0.3)], i / FPS)
        assert not any(t.confirmed for t in tracks)
    assert len(tracks) == 1 and tracks[0].hits == 100


def test_tracker_coasts_then_expires_lost_tracks() -> None:
    tracker = Tracker(TrackerConfig(max_missed_frames=2))
    tracker.update([_blob(0.2, 0.2)], 0.0)
    assert [t.missed_frames for t in tracker.update([], 0.2)] == [1]
    assert [t.missed_frames for t in tracker.update([], 0.4)] == [2]
    assert tracker.update([], 0.6) == []


def test_tracker_absorbs_fragments_of_one_body() -> None:
    tracker = Tracker()
    for i in range(4):
        tracker.update([_blob(0.1 + 0.0125 * i, 0.5)], i / FPS)
    x0 = 0.1 + 0.0125 * 4
    head, legs = Blob((x0, 0.5, x0 + 0.03, 0.55), 0.0015), Blob((x0, 0.6, x0 + 0.03, 0.64), 0.0012)

    tracks = tracker.update([head, legs], 4 / FPS)

    assert len(tracks) == 1
    assert tracks[0].xyxy == pytest.approx((x0, 0.5, x0 + 0.03, 0.64))


# -- speed (printed, not asserted) -----------------------------------------------------------------


def test_print_speed(scene_factory: SceneFactory) -> None:
    frames = [f.gray for f in render(scene_factory([FigurePath(1, LEFT_TO_RIGHT, start_s=2.0)], [Rain()], 60))]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one core, as the budget is stated
    try:
        detector, tracker = MotionDetector(), Tracker()
        start = time.perf_counter()
        for _ in range(5):
            for i, gray in enumerate(frames):
                tracker.update(detector.process(gray).blobs, i / FPS)
        elapsed_s = time.perf_counter() - start
    finally:
        cv2.setNumThreads(threads)
    print(f"MotionDetector+Tracker at 640x360, one thread: {5 * len(frames) / elapsed_s:.0f} frames/s")
