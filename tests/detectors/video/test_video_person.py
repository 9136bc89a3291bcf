"""The HOG person check: people score, cars and empty ground do not; tracks are checked sparingly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest
import yaml
from pydantic import ValidationError

from detectors.video.person import PersonCheckConfig, PersonDetector, PersonVerifier, person_confidence
from detectors.video.synthetic import FigurePath, SceneSpec, render
from detectors.zones.config import CameraDetectorsConfig
from ingest.cameras.config import CamerasConfig

pytestmark = pytest.mark.unit
Gray = npt.NDArray[np.uint8]


@pytest.fixture
def still_factory() -> Callable[[str, int], tuple[Gray, tuple[float, float, float, float]]]:
    """A frame with one figure of the given shape standing mid-way down, and its true box."""

    def make(shape: str, height_px: int) -> tuple[Gray, tuple[float, float, float, float]]:
        kind: Literal["person", "vehicle"] = "person" if shape == "person" else "vehicle"
        width_px = round(height_px * (0.32 if shape == "person" else 0.9))
        figure_h_px = height_px if shape == "person" else round(height_px * 0.45)
        spec = SceneSpec(
            figures=[
                FigurePath(
                    1, [(0.5, 0.8), (0.5, 0.9)], speed_px_s=1, width_px=width_px, height_px=figure_h_px, shape=kind
                )
            ]
            if shape != "none"
            else [],
            frames=1,
            seed=11,
        )
        frame = next(iter(render(spec)))
        box = frame.truth[0].xyxy if frame.truth else (0.47, 0.6, 0.53, 0.8)
        return frame.gray, box

    return make


@pytest.mark.parametrize("height_px", [48, 64, 96])
def test_a_person_scores_and_a_car_or_empty_ground_does_not(
    still_factory: Callable[[str, int], tuple[Gray, tuple[float, float, float, float]]], height_px: int
) -> None:
    detector = PersonDetector()
    gray, box = still_factory("person", height_px)
    score = detector.score(gray, box)
    assert score is not None and score > 0.3
    for other in ("vehicle", "none"):
        gray, box = still_factory(other, height_px)
        other_score = detector.score(gray, box)
        assert other_score is None or other_score < 0, other


def test_a_loose_box_missing_the_head_still_finds_the_person(
    still_factory: Callable[[str, int], tuple[Gray, tuple[float, float, float, float]]],
) -> None:
    gray, (x0, y0, x1, y1) = still_factory("person", 60)
    without_head = (x0, y0 + (y1 - y0) * 0.25, x1, y1)
    score = PersonDetector().score(gray, without_head)
    assert score is not None and score > 0.3


class CountingDetector(PersonDetector):
    def __init__(self, scores: list[float | None]) -> None:
        super().__init__()
        self.scores = scores
        self.calls = 0

    def score(self, gray: Gray, xyxy: tuple[float, float, float, float]) -> float | None:
        self.calls += 1
        return self.scores.pop(0)


def test_a_track_is_rechecked_every_recheck_s_until_it_passes_then_never_again() -> None:
    detector = CountingDetector([None, -0.5, 1.2, 5.0])
    verifier = PersonVerifier(PersonCheckConfig(recheck_s=0.4), detector)
    gray = np.zeros((360, 640), np.uint8)
    box = (0.4, 0.4, 0.45, 0.6)
    results = [verifier.verify(gray, 7, box, t_s) for t_s in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 5.0)]
    assert [passed for passed, _ in results] == [False, False, False, False, True, True, True]
    assert detector.calls == 3  # at 0.0, 0.4 and 0.8 s
    assert results[-1][1] == 1.2
    verifier.forget(set())
    assert verifier.verify(gray, 7, box, 6.0) == (True, 5.0)  # a fresh look after forgetting


def test_objects_too_small_to_judge_are_not_checked() -> None:
    detector = CountingDetector([])
    verifier = PersonVerifier(PersonCheckConfig(min_height_frac=0.1), detector)
    assert verifier.verify(np.zeros((360, 640), np.uint8), 1, (0.4, 0.5, 0.42, 0.55), 0.0) == (False, None)
    assert detector.calls == 0


def test_confidence_is_a_logistic_of_the_margin() -> None:
    assert person_confidence(None) == 0.5
    assert person_confidence(0.0) == 0.5
    assert 0.85 < person_confidence(1.0) < 0.9 < person_confidence(2.0) < 1.0


def test_person_check_in_the_config_is_read_by_ingest_and_validated_by_the_detectors() -> None:
    text = """
cameras:
  - id: gate
    source: gate.mp4
    person_check: {mode: annotate, min_score: 0.5}
    zones: [{name: z, polygon: [[0, 0], [1, 0], [1, 1]], rules: [intrusion]}]
"""
    data = yaml.safe_load(text)
    assert CamerasConfig.model_validate(data).cameras[0].person_check == {"mode": "annotate", "min_score": 0.5}
    check = CameraDetectorsConfig.model_validate(data).cameras[0].person_check
    assert check == PersonCheckConfig(mode="annotate", min_score=0.5)
    data["cameras"][0]["person_check"] = {"mode": "maybe"}
    with pytest.raises(ValidationError, match="require"):
        CameraDetectorsConfig.model_validate(data)
