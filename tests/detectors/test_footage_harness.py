"""The real-footage harness itself (``tests/detectors/footage.py``): the scorer on hand-made cases
(each can fail), the ground truth's consistency, and each staged nuisance or fault doing to real
frames what it says."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detectors.zones.geometry import distance_to_polygon, distance_to_segment, point_in_polygon, side_of_line
from tests.detectors import footage as fo

pytestmark = pytest.mark.unit

FPS = 10.0


def intrusion(frame: int, zone: str = "lawn", phase: str = "raised", **extra: Any) -> dict[str, Any]:
    return {"type": "intrusion", "zone": zone, "frame": frame, "offset_s": frame / FPS, "phase": phase, **extra}


def crossing(frame: int, direction: str) -> dict[str, Any]:
    return {
        "type": "line_crossing",
        "zone": "walkway",
        "frame": frame,
        "offset_s": frame / FPS,
        "phase": "raised",
        "details": {"direction": direction},
    }


def tamper(frame: int, kind: str, phase: str = "raised") -> dict[str, Any]:
    return {
        "type": "tamper",
        "zone": None,
        "tamper_kind": kind,
        "frame": frame,
        "offset_s": frame / FPS,
        "phase": phase,
    }


def stay(sid: str, enter: int, leave: int | None, optional: bool = False) -> fo.Stay:
    return fo.Stay(sid, enter, leave, (0.5, 0.8), optional=optional)


# --- the scorer ----------------------------------------------------------------------------


def test_each_stay_reported_once_is_perfect() -> None:
    score = fo.score_intrusions(
        [intrusion(12), intrusion(53)], [stay("A", 10, 30), stay("B", 50, 70)], fps=FPS, n_frames=100
    )
    assert (score.tp, score.fp, score.fn, len(score.duplicates)) == (2, 0, 0, 0)
    assert score.precision == 1.0 and score.recall == 1.0
    assert score.latencies_s == pytest.approx([0.2, 0.3])


def test_an_incident_with_nobody_there_is_false_and_a_missed_stay_is_missed() -> None:
    score = fo.score_intrusions(
        [intrusion(12), intrusion(90)], [stay("A", 10, 30), stay("B", 50, 70)], fps=FPS, n_frames=100
    )
    assert [int(i["frame"]) for i in score.false_incidents] == [90]
    assert score.missed == ["B"]
    assert score.precision == pytest.approx(0.5) and score.recall == pytest.approx(0.5)


def test_a_second_incident_for_the_same_stay_is_a_duplicate_against_precision() -> None:
    score = fo.score_intrusions([intrusion(12), intrusion(25)], [stay("A", 10, 30)], fps=FPS, n_frames=100)
    assert score.tp == 1 and score.fp == 0 and [int(i["frame"]) for i in score.duplicates] == [25]
    assert score.precision == pytest.approx(0.5) and score.recall == 1.0


@pytest.mark.parametrize(
    ("frame", "matched"),
    [(4, False), (5, True), (40, True), (41, False)],  # enter 10 - 5 frames .. leave 30 + 10 frames
)
def test_the_matching_window_runs_from_5_frames_before_entering_to_10_after_leaving(frame: int, matched: bool) -> None:
    score = fo.score_intrusions([intrusion(frame)], [stay("A", 10, 30)], fps=FPS, n_frames=100)
    assert score.tp == (1 if matched else 0) and score.fp == (0 if matched else 1)


def test_a_stay_to_the_end_of_the_clip_matches_up_to_the_end() -> None:
    score = fo.score_intrusions([intrusion(99)], [stay("A", 90, None)], fps=FPS, n_frames=100)
    assert score.tp == 1


def test_one_incident_for_two_people_together_finds_one_of_them() -> None:
    score = fo.score_intrusions([intrusion(14)], [stay("A", 10, 60), stay("B", 12, 40)], fps=FPS, n_frames=100)
    assert score.tp == 1 and score.fn == 1 and score.recall == pytest.approx(0.5)


def test_matching_pairs_the_most_not_the_first_fit() -> None:
    # The incident at 12 fits both stays and prefers B (it entered at 12); the one at 80 fits only
    # B. Taking the first fit would leave A unmatched and the incident at 80 false.
    score = fo.score_intrusions(
        [intrusion(12), intrusion(80)], [stay("A", 10, 30), stay("B", 12, 100)], fps=FPS, n_frames=120
    )
    assert score.tp == 2 and score.fp == 0 and score.fn == 0


def test_optional_stays_are_neither_demanded_nor_false() -> None:
    stays = [stay("L0", 0, 2, optional=True), stay("A", 50, 70)]
    reported = fo.score_intrusions([intrusion(1), intrusion(52)], stays, fps=FPS, n_frames=100)
    assert reported.tp == 1 and reported.fp == 0 and reported.optional_hits == ["L0"] and reported.precision == 1.0
    missed = fo.score_intrusions([intrusion(52)], stays, fps=FPS, n_frames=100)
    assert missed.fn == 0 and missed.recall == 1.0


def test_an_exempt_window_makes_the_stays_in_it_optional_but_not_its_false_incidents() -> None:
    stays = [stay("A", 20, 40), stay("B", 60, 70)]
    score = fo.score_intrusions([intrusion(62), intrusion(90)], stays, fps=FPS, n_frames=100, exempt=[(15, 30)])
    assert score.missed == [] and score.tp == 1 and score.fp == 1


def test_an_incident_whose_box_is_not_on_the_person_is_not_theirs() -> None:
    walker = fo.Stay("A", 10, 50, (0.2, 0.9), track=((10, 0.2, 0.9), (50, 0.6, 0.9)))
    elsewhere = intrusion(30, bbox_xyxy=[0.5, 0.3, 0.9, 0.7])  # a blob on the path while A is on the lawn
    score = fo.score_intrusions([elsewhere], [walker], fps=FPS, n_frames=100)
    assert score.tp == 0 and score.fp == 1 and score.missed == ["A"]
    on_them = intrusion(30, bbox_xyxy=[0.35, 0.6, 0.45, 0.86])  # feet at (0.4, 0.9): within the 0.05 margin
    assert fo.score_intrusions([on_them], [walker], fps=FPS, n_frames=100).tp == 1
    assert fo.score_intrusions([intrusion(30)], [walker], fps=FPS, n_frames=100).tp == 1  # no box: time only


def test_feet_are_interpolated_along_the_track() -> None:
    walker = fo.Stay("A", 10, 50, (0.2, 0.9), track=((10, 0.2, 0.9), (30, 0.4, 0.7), (50, 0.6, 0.9)))
    assert walker.feet_at(20) == pytest.approx((0.3, 0.8))
    assert walker.feet_at(0) == (0.2, 0.9) and walker.feet_at(60) == (0.6, 0.9)
    assert fo.Stay("B", 0, 1, (0.5, 0.5)).feet_at(0) is None


def test_other_zones_types_and_cleared_phases_are_not_intrusions_of_the_lawn() -> None:
    noise = [intrusion(12, zone="gate"), intrusion(12, phase="cleared"), crossing(12, "in")]
    score = fo.score_intrusions(noise, [stay("A", 10, 30)], fps=FPS, n_frames=100)
    assert score.tp == 0 and score.fp == 0 and score.fn == 1 and score.precision is None


def test_crossings_match_in_the_same_direction_within_1_5_s() -> None:
    truth = [fo.Crossing("X1", 100, "in", (0.44, 0.5)), fo.Crossing("X2", 200, "out", (0.44, 0.5))]
    score = fo.score_crossings([crossing(115, "in"), crossing(200, "in"), crossing(300, "out")], truth, fps=FPS)
    assert [m.truth_id for m in score.matches] == ["X1"] and score.latencies_s == pytest.approx([1.5])
    assert score.missed == ["X2"]  # reported at the right time, but the wrong way
    assert sorted(int(i["frame"]) for i in score.false_incidents) == [200, 300]
    late = fo.score_crossings([crossing(116, "in")], truth[:1], fps=FPS)
    assert late.tp == 0 and late.fp == 1


def test_two_crossings_counted_for_one_are_a_duplicate() -> None:
    truth = [fo.Crossing("X1", 100, "out", (0.44, 0.5))]
    score = fo.score_crossings([crossing(101, "out"), crossing(104, "out")], truth, fps=FPS)
    assert score.tp == 1 and len(score.duplicates) == 1 and score.precision == pytest.approx(0.5)


def test_faults_match_by_kind_from_onset_and_latency_is_from_onset() -> None:
    events = [fo.StagedEvent("covered", 250, 350), fo.StagedEvent("headlights", 100, 120)]
    score = fo.score_faults(
        [tamper(274, "covered"), tamper(360, "covered", phase="cleared"), tamper(280, "moved")], events, fps=FPS
    )
    assert [m.truth_id for m in score.matches] == ["covered@250"] and score.latencies_s == pytest.approx([2.4])
    assert [i["tamper_kind"] for i in score.false_incidents] == ["moved"]
    assert score.fn == 0  # a nuisance is not a fault to find
    before = fo.score_faults([tamper(249, "covered")], events, fps=FPS)
    assert before.tp == 0 and before.fp == 1 and before.missed == ["covered@250"]


def test_a_frozen_incident_counts_whether_typed_tamper_or_frozen() -> None:
    events = [fo.StagedEvent("frozen", 250, 350)]
    typed = {"type": "frozen", "zone": None, "frame": 280, "offset_s": 28.0, "phase": "raised"}
    assert fo.score_faults([typed], events, fps=FPS).tp == 1
    assert fo.score_faults([tamper(280, "frozen")], events, fps=FPS).tp == 1


def test_the_summary_line_says_what_was_counted() -> None:
    score = fo.score_intrusions([intrusion(12), intrusion(90)], [stay("A", 10, 30)], fps=FPS, n_frames=100)
    line = score.summary()
    assert "tp  1" in line and "fp  1" in line and "precision  0.50" in line and "recall  1.00" in line
    assert "latency median 0.2 s" in line
    assert "n/a" in fo.score_intrusions([], [], fps=FPS, n_frames=10).summary()


# --- the ground truth --------------------------------------------------------------------------


def test_vtest_truth_is_consistent() -> None:
    truth = fo.load_vtest_truth()
    assert (truth.fps, truth.frames, truth.size_px) == (10.0, 795, (768, 576))
    for s in truth.stays:
        assert point_in_polygon(s.feet, truth.lawn), f"{s.id} enters at {s.feet}, outside the lawn"
        assert s.leave is None or s.enter < s.leave <= truth.frames
        frames = [f for f, _, _ in s.track]
        assert frames == sorted(frames) and (not frames or frames[0] == s.enter)
        for f, x, y in s.track:  # on the lawn, or at its edge where the person walks along it
            assert distance_to_polygon((x, y), truth.lawn) < 0.015, f"{s.id} at frame {f} is off the lawn"
    # What was annotated (a guard against an accidental edit): 3 people on the lawn to demand (and
    # one on its edge at the very start), 26 crossings of which 11 walking right.
    assert [s.id for s in truth.stays if not s.optional] == ["L1", "L2", "L3"]
    assert len(truth.crossings) == 26 and sum(c.direction == "in" for c in truth.crossings) == 11
    frames = [c.frame for c in truth.crossings]
    assert frames == sorted(frames) and all(0 <= f < truth.frames for f in frames)
    for c in truth.crossings:
        assert distance_to_segment(c.feet, *truth.line) < 0.005, f"{c.id}'s feet are not on the line"
    # The line's lower end stops at the lawn's edge: crossing it never means being on the lawn.
    assert not point_in_polygon(truth.line[0], truth.lawn)


def test_in_is_walking_right_across_the_vtest_line() -> None:
    truth = fo.load_vtest_truth()
    middle = ((truth.line[0][0] + truth.line[1][0]) / 2, (truth.line[0][1] + truth.line[1][1]) / 2)
    left, right = (middle[0] - 0.05, middle[1]), (middle[0] + 0.05, middle[1])
    assert side_of_line(left, truth.line) < 0 < side_of_line(right, truth.line)  # in: from the left side


def test_tree_truth_is_consistent() -> None:
    truth = fo.load_tree_truth()
    assert truth.foliage_only[0] == 0 and truth.foliage_only[1] < truth.hand_in_front_of_lens[0]
    assert truth.hand_in_front_of_lens[1] == truth.pictures - 1


def test_the_real_footage_is_what_the_truth_describes(footage_dir: Path) -> None:
    vtest = fo.load_vtest_truth()
    frames = list(itertools.islice(fo.read_frames(footage_dir / "vtest.avi"), 2))
    assert frames[0].shape == (vtest.size_px[1], vtest.size_px[0], 3)
    capture = cv2.VideoCapture(str(footage_dir / "vtest.avi"))
    assert capture.get(cv2.CAP_PROP_FPS) == vtest.fps and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == vtest.frames
    capture.release()
    timed = list(fo.read_timed_frames(footage_dir / "tree.avi"))
    assert len(timed) == fo.load_tree_truth().pictures and timed[0][1].shape == (240, 320, 3)
    assert timed[53][0] == pytest.approx(23.13, abs=0.01)  # the hand's first picture, as annotated


# --- staged nuisances and faults on real frames --------------------------------------------


@pytest.fixture(scope="module")
def plaza(footage_dir: Path) -> list[fo.Frame]:
    """The first 60 frames of vtest.avi."""
    return list(itertools.islice(fo.read_frames(footage_dir / "vtest.avi"), 60))


def luma(frame: fo.Frame) -> np.ndarray:
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), dtype=np.float32)


def lawn_mask(shape: tuple[int, ...]) -> np.ndarray:
    lawn = fo.load_vtest_truth().lawn
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.array([[round(x * shape[1]), round(y * shape[0])] for x, y in lawn], np.int32)], 1)
    return mask.astype(bool)


def test_headlights_brighten_the_lawn_by_up_to_about_80_and_nothing_else(plaza: list[fo.Frame]) -> None:
    lawn = fo.load_vtest_truth().lawn
    staged = fo.headlight_sweeps(iter(plaza), n_frames=60, fps=FPS, lawn=lawn, sweeps=1, first_s=1.0)
    (event,) = staged.events
    assert event.kind == "headlights" and event.end - event.onset == 20 and not event.is_fault
    out = list(staged.frames)
    gain = np.stack([out[i].astype(np.int16) - plaza[i] for i in range(60)])
    assert gain.min() >= 0  # light only adds
    inside = lawn_mask(plaza[0].shape)
    assert 55 <= gain[:, inside].max() <= 81
    # Off the lawn (allowing the soft edge), and outside the sweep, the picture is untouched.
    far = ~cv2.dilate(inside.astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    assert gain[:, far].max() == 0
    assert gain[: event.onset].max() == 0 and gain[event.end :].max() == 0
    again = fo.headlight_sweeps(iter(plaza), n_frames=60, fps=FPS, lawn=lawn, sweeps=1, first_s=1.0)
    assert all(np.array_equal(a, b) for a, b in zip(out, again.frames, strict=True))  # seeded
    other = fo.headlight_sweeps(iter(()), n_frames=600, fps=FPS, lawn=lawn, seed=9)
    assert other.events != fo.headlight_sweeps(iter(()), n_frames=600, fps=FPS, lawn=lawn).events


def test_shadows_darken_to_55_70_percent_and_never_brighten(plaza: list[fo.Frame]) -> None:
    staged = fo.cast_shadows(iter(plaza), n_frames=60, fps=FPS, passers_by=1, cloud_s=3.0, walk_s=2.0, first_s=0.5)
    assert [e.kind for e in staged.events] == ["shadow", "shadow"]
    out = list(staged.frames)
    ratios = []
    for original, shaded in zip(plaza, out, strict=True):
        o, s = luma(original), luma(shaded)
        assert (s <= o + 1).all()
        lit = o > 40  # ratios of dark pixels are rounding noise
        if (s[lit] < o[lit] - 2).any():
            ratios.append(float((s[lit] / o[lit]).min()))
    assert ratios and 0.5 <= min(ratios) <= 0.75


def test_ir_switch_is_grayscale_noisier_and_only_in_its_window(plaza: list[fo.Frame]) -> None:
    out = list(fo.ir_switch(iter(plaza), onset=20, end=40).frames)
    night = out[30]
    assert np.array_equal(night[:, :, 0], night[:, :, 1]) and np.array_equal(night[:, :, 1], night[:, :, 2])
    assert luma(night).mean() > luma(plaza[30]).mean() + 5
    assert np.array_equal(out[19], plaza[19]) and np.array_equal(out[40], plaza[40])
    assert not np.array_equal(out[30], out[31])  # fresh noise each frame


def test_low_bitrate_is_384x288_and_blocky(plaza: list[fo.Frame]) -> None:
    frame = next(fo.low_bitrate(iter(plaza[:1])).frames)
    assert frame.shape == (288, 384, 3)
    small = cv2.resize(plaza[0], (384, 288), interpolation=cv2.INTER_AREA)
    assert np.abs(frame.astype(np.int16) - small).mean() > 3  # quality 10 loses a lot
    g = luma(frame)
    # Blocking: brightness jumps across 8x8 block borders more than inside the blocks.
    across = np.abs(g[:, 8::8] - g[:, 7:-1:8]).mean()
    inside = np.abs(g[:, 4::8] - g[:, 3:-1:8]).mean()
    assert across > 1.3 * inside


def test_frozen_picture_repeats_one_frame_then_goes_live(plaza: list[fo.Frame]) -> None:
    staged = fo.frozen_picture(iter(plaza), onset=10, seconds=3.0, fps=FPS)
    assert staged.events == (fo.StagedEvent("frozen", 10, 40, "frame 10 repeated 3 s"),)
    out = list(staged.frames)
    assert all(np.array_equal(out[i], plaza[10]) for i in range(10, 40))
    assert np.array_equal(out[9], plaza[9]) and np.array_equal(out[40], plaza[40])


def test_covered_lens_is_dark_and_textureless_over_most_of_the_picture(plaza: list[fo.Frame]) -> None:
    out = list(fo.covered_lens(iter(plaza), onset=10, end=30).frames)
    g = luma(out[20])
    assert (g < 45).mean() > 0.85

    def texture(gray: np.ndarray) -> float:
        # Detail at a 1/4 scale, as a tamper check looks (per-pixel sensor noise averages out).
        small = cv2.resize(gray[:, 100:], None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
        return float(cv2.Laplacian(small, cv2.CV_32F).std())

    assert texture(g) < 0.1 * texture(luma(plaza[20]))
    assert np.array_equal(out[9], plaza[9]) and np.array_equal(out[30], plaza[30])


def test_defocus_blurs_strongly(plaza: list[fo.Frame]) -> None:
    out = list(fo.defocus(iter(plaza), onset=10, end=30).frames)

    def sharpness(frame: fo.Frame) -> float:
        return float(cv2.Laplacian(luma(frame), cv2.CV_32F).var())

    assert sharpness(out[20]) < 0.05 * sharpness(plaza[20])
    assert np.array_equal(out[30], plaza[30])


def test_camera_moved_shifts_the_view_and_puts_it_back(plaza: list[fo.Frame]) -> None:
    out = list(fo.camera_moved(iter(plaza), onset=10, end=30, angle_deg=0.0).frames)
    # With no rotation the view is the old one 15 % (115 px) to the right.
    shift, _ = cv2.phaseCorrelate(luma(plaza[20]), luma(out[20]))
    assert shift[0] == pytest.approx(0.15 * 768, abs=2) and abs(shift[1]) < 2
    rolled = list(fo.camera_moved(iter(plaza), onset=10, end=30).frames)
    assert np.abs(rolled[20].astype(np.int16) - out[20]).mean() > 10  # the 8 degree roll changes it further
    assert np.array_equal(out[30], plaza[30]) and np.array_equal(out[9], plaza[9])


def test_the_tree_scene_sways_back_and_forth_without_the_hand(footage_dir: Path) -> None:
    truth = fo.load_tree_truth()
    frames = list(fo.tree_scene(footage_dir / "tree.avi", truth, seconds=30.0))
    pictures = list(fo.read_frames(footage_dir / "tree.avi"))
    assert len(frames) == 150
    assert np.array_equal(frames[52], pictures[52]) and np.array_equal(frames[53], pictures[51])
    assert np.array_equal(frames[104], pictures[0])  # 53 forwards, 51 back: the cycle starts again
    hand = pictures[truth.hand_in_front_of_lens[0]]
    assert not any(np.array_equal(f, hand) for f in frames)
    recorded = list(fo.tree_as_recorded(footage_dir / "tree.avi"))
    assert len(recorded) == 148  # 29.53 s at 5 fps
    assert np.array_equal(recorded[116], pictures[53])  # 23.2 s shows the picture of 23.13 s


# --- clips and the detectors -----------------------------------------------------------------


def test_a_written_clip_reads_back(tmp_path: Path, plaza: list[fo.Frame]) -> None:
    path = tmp_path / "clip.avi"
    assert fo.write_clip(iter(plaza[:5]), path, FPS) == 5
    back = list(fo.read_frames(path))
    assert len(back) == 5 and back[0].shape == plaza[0].shape
    assert np.abs(back[0].astype(np.int16) - plaza[0]).mean() < 3  # Motion-JPEG at quality 95
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS) == FPS


def test_the_detectors_run_on_an_altered_clip(tmp_path: Path, plaza: list[fo.Frame]) -> None:
    camera = fo.vtest_camera(fo.load_vtest_truth())
    if fo.detector_config_has("object_check"):
        camera["object_check"] = None  # motion only: this is about the plumbing, not the detector
    incidents = fo.run_frames(
        fo.frozen_picture(iter(plaza[:30]), onset=10, seconds=1.0, fps=FPS).frames, FPS, camera, tmp_path
    )
    assert isinstance(incidents, list)
    assert all({"type", "frame", "offset_s", "phase"} <= set(i) for i in incidents)
    assert list(tmp_path.iterdir()) == []  # the temporary clip is gone
