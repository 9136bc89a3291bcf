"""Colour signatures tell differently dressed people apart, and the same person across frames."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.video.appearance import DIFFERENT, blend, different, distance, signature

pytestmark = pytest.mark.unit


def frame_with(colours: dict[tuple[int, int], tuple[int, int, int]], seed: int = 0) -> np.ndarray:
    """A 200x200 BGR frame, grass-green, with 40x80 px 'people' of the given colours at (x, y)."""
    rng = np.random.default_rng(seed)
    image = np.full((200, 200, 3), (40, 120, 40), np.uint8)
    for (x, y), bgr in colours.items():
        image[y : y + 80, x : x + 40] = bgr
    noise = rng.normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def box(x: int, y: int) -> tuple[float, float, float, float]:
    return (x / 200, y / 200, (x + 40) / 200, (y + 80) / 200)


def test_the_same_colours_are_near_and_other_colours_far() -> None:
    red, black_blue = (30, 30, 200), (120, 40, 20)
    a = signature(frame_with({(20, 60): red}, seed=1), box(20, 60))
    b = signature(frame_with({(120, 70): red}, seed=2), box(120, 70))  # moved, other noise
    c = signature(frame_with({(120, 70): black_blue}, seed=3), box(120, 70))
    d_same, d_other = distance(a, b), distance(a, c)
    assert d_same is not None and d_other is not None
    assert d_same < 0.2 < DIFFERENT < d_other
    assert different(a, c) and not different(a, b)
    assert not different(a, None) and distance(None, a) is None  # unknown tells nothing


def test_no_signature_for_a_grey_frame_or_a_box_too_small() -> None:
    grey = np.zeros((200, 200), np.uint8)
    assert signature(grey, box(20, 60)) is None
    assert signature(frame_with({}), (0.5, 0.5, 0.505, 0.51)) is None


def test_blend_keeps_a_known_signature_when_the_new_look_has_none() -> None:
    a = signature(frame_with({(20, 60): (30, 30, 200)}), box(20, 60))
    assert blend(a, None) is a and blend(None, a) is a
    b = signature(frame_with({(20, 60): (120, 40, 20)}), box(20, 60))
    mixed = blend(a, b, 0.5)
    assert mixed is not None and float(mixed.sum()) == pytest.approx(1.0, abs=1e-5)
