"""The camera detectors on real footage, against the hand-made ground truth.

OpenCV's ``vtest.avi`` (a real plaza camera: a lawn in front, a walkway behind it) and ``tree.avi``
(a real tree in wind) from Debian's ``opencv-doc``, fetched and cached by :mod:`pantau.footage`;
the truth in ``tests/detectors/data/`` was annotated by eye from the frames, and
``tests/detectors/footage.py`` says how incidents are matched and counted (one incident per lawn
stay, per crossing, per fault; a second incident for the same stay is a duplicate and counts against
precision). Nuisances and faults are staged on the real frames (headlights, shadows, an IR switch,
a low-bitrate substream; a covered lens, defocus, a moved camera, a frozen picture).

Object confirmation (SSD-MobileNet-v2, the default) is on unless a test says otherwise. What the
numbers are today (``python -m tests.detectors.footage report`` prints them all) is in
``docs/detectors.md``, "Quality on real footage"; the bounds asserted here are what must hold.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.detectors import footage as fo

pytestmark = pytest.mark.video

OBJECTS: dict[str, Any] = {"object_check": {"model": "ssd-mobilenet-v2"}}
MOTION_ONLY: dict[str, Any] = {"object_check": None}
FAULTS = ["covered", "defocused", "moved", "frozen"]
NUISANCES = ["vtest-low-bitrate", "vtest-headlights", "vtest-shadows", "vtest-ir-switch"]
Run = tuple[list[fo.Incident], dict[str, fo.RuleScore], tuple[fo.StagedEvent, ...]]


@pytest.fixture(scope="module")
def run(footage_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Run]:
    """Runs a scenario (by name) once per camera variant: its incidents, scores by rule, what was staged."""
    work = tmp_path_factory.mktemp("real-footage")
    scenarios = {s.name: s for s in fo.vtest_scenarios(footage_dir) + fo.tree_scenarios(footage_dir)}
    done: dict[tuple[str, bool], Run] = {}

    def get(name: str, objects: bool = True) -> Run:
        if (name, objects) not in done:
            scenario = scenarios[name]
            incidents = fo.run_analyze(scenario.clip(work), scenario.camera(OBJECTS if objects else MOTION_ONLY))
            scores = {score.rule: score for score in scenario.score(incidents)}
            done[name, objects] = incidents, scores, scenario.events
        return done[name, objects]

    return get


def explain(score: fo.RuleScore) -> str:
    lines = [score.summary()]
    lines += [f"false: {fo.describe(i)}" for i in score.false_incidents]
    lines += [f"duplicate: {fo.describe(i)}" for i in score.duplicates]
    lines += [f"missed: {', '.join(score.missed)}"] if score.missed else []
    return "\n".join(lines)


def test_people_stepping_onto_the_lawn_are_each_reported_once(run: Callable[..., Run]) -> None:
    """Every person stepping onto the lawn, once, and nobody else: not the passers-by whose blobs
    merge on the path along the lawn's whole edge, nor those who stand at its very edge."""
    _, scores, _ = run("vtest")
    lawn = scores["intrusion"]
    assert lawn.recall == 1.0 and lawn.fp == 0 and not lawn.duplicates, explain(lawn)
    latency = {m.truth_id: m.latency_s for m in lawn.matches}
    # The issue asks for 2 s. L1: 0.3 s; L3, stepping on where L1 has just left: 0.0 s. L2 walks in
    # with L1, close behind her: one box to the detector (SSD's) until ~540, when it sees two; a
    # person inside a zone is looked at every 1.5 s, so he is reported 3.8 s after his feet enter
    # (0.4 s after he can be seen apart). docs/detectors.md says so.
    assert latency["L1"] <= 2.0, explain(lawn)
    assert latency["L3"] <= 2.0, explain(lawn)
    assert latency["L2"] <= 4.5, explain(lawn)
    assert all(m.incident["object_class"] == "person" and m.incident["confidence"] >= 0.5 for m in lawn.matches)


def test_motion_alone_reports_the_merged_passers_by_object_confirmation_does_not(run: Callable[..., Run]) -> None:
    """The baseline the confirmation is for: on motion alone a blob of passers-by on the path,
    whose bottom-centre lies on the lawn, is an intrusion (the issue's 21.3 s false alarm)."""
    _, motion, _ = run("vtest", objects=False)
    _, objects, _ = run("vtest")
    assert motion["intrusion"].fp >= 1, explain(motion["intrusion"])
    assert all(i["confidence"] is None for i in motion["intrusion"].false_incidents)
    assert objects["intrusion"].fp == 0, explain(objects["intrusion"])


def test_crossings_of_the_walkway_line_are_counted_both_ways(run: Callable[..., Run]) -> None:
    _, scores, _ = run("vtest")
    line = scores["line_crossing"]
    assert line.precision is not None and line.precision >= 0.9, explain(line)
    assert line.recall is not None and line.recall >= 0.85, explain(line)


@pytest.mark.parametrize("scenario", NUISANCES)
def test_nuisances_raise_no_false_intrusion_and_no_fault(run: Callable[..., Run], scenario: str) -> None:
    _, scores, _ = run(scenario)
    lawn, line, faults = scores["intrusion"], scores["line_crossing"], scores["tamper"]
    assert lawn.fp == 0, explain(lawn)
    assert faults.tp == faults.fp == 0 and not faults.duplicates, explain(faults)
    # A detector blind under the nuisance would raise nothing too: the people are still found.
    assert lawn.recall is not None and lawn.recall >= 0.6, explain(lawn)
    # Found soon (the low-bitrate clip's L1 is the slowest: 2.1 s; L2 walks in hidden behind her),
    # and a person's stay is not raised over and over (2026-12-08: one repeat at most, on the
    # low-bitrate and headlight clips).
    latency = {m.truth_id: m.latency_s for m in lawn.matches}
    assert all(latency[t] <= 2.5 for t in ("L1", "L3") if t in latency), explain(lawn)
    assert len(lawn.duplicates) <= 1, explain(lawn)
    assert line.precision is not None and line.precision >= 0.8, explain(line)
    assert line.recall is not None and line.recall >= 0.4, explain(line)


def test_a_tree_swaying_in_wind_raises_nothing(run: Callable[..., Run]) -> None:
    incidents, _, _ = run("tree")
    assert incidents == [], "\n".join(fo.describe(i) for i in incidents)


@pytest.mark.parametrize("kind", FAULTS)
def test_each_camera_fault_is_named_within_5_s_and_nothing_else_is(run: Callable[..., Run], kind: str) -> None:
    incidents, scores, events = run(f"vtest-{kind}")
    (event,) = events
    faults = scores["tamper"]
    assert faults.tp == 1 and faults.fp == 0 and not faults.duplicates, explain(faults)
    (match,) = faults.matches
    assert 0 <= match.latency_s <= 5.0, explain(faults)
    assert fo.fault_kind(match.incident) == kind
    # Cleared once the camera is back, within 10 s.
    fps = fo.load_vtest_truth().fps
    cleared = [int(i["frame"]) for i in incidents if fo.fault_kind(i) == kind and i.get("phase") == "cleared"]
    assert any(event.end <= f <= event.end + 10 * fps for f in cleared), f"not cleared after {event.end}: {cleared}"
    # While it lasts, nothing else: no intrusion, no line crossing (the zones stand down).
    first, last = int(match.incident["frame"]), event.end + round(fo.SETTLE_S * fps)
    for rule in ("intrusion", "line_crossing"):
        during = [i for i in scores[rule].false_incidents + scores[rule].duplicates if first <= int(i["frame"]) <= last]
        assert during == [], "\n".join(fo.describe(i) for i in during)
    assert scores["intrusion"].fp == 0, explain(scores["intrusion"])
