"""Plane geometry of the zones (detectors/zones/geometry.py)."""

from __future__ import annotations

import random

import pytest

from detectors.zones.geometry import NearPolygon, distance_to_polygon

pytestmark = pytest.mark.unit

# A zone drawn to the picture's bottom border, with a ragged upper edge (as the vtest lawn).
LAWN = [(0.0, 0.44), (0.17, 0.47), (0.33, 0.52), (0.5, 0.6), (0.67, 0.7), (0.83, 0.8), (1.0, 0.88), (1.0, 1.0),
        (0.0, 1.0)]  # fmt: skip
TRIANGLE = [(0.2, 0.2), (0.8, 0.3), (0.4, 0.7)]


@pytest.mark.parametrize("polygon", [LAWN, TRIANGLE])
@pytest.mark.parametrize("margin", [0.0, 0.02, 0.05, 0.15])
def test_near_polygon_says_what_the_distance_says(polygon: list[tuple[float, float]], margin: float) -> None:
    rng = random.Random(7)
    points = [(rng.uniform(-0.2, 1.2), rng.uniform(-0.2, 1.2)) for _ in range(5000)]
    points += list(polygon)  # the vertices themselves
    points += [(x + dx, y + dy) for x, y in polygon for dx, dy in ((margin, 0), (0, -margin), (-margin, margin))]
    near = NearPolygon(polygon, margin)
    wrong = [p for p in points if near(p) != (distance_to_polygon(p, polygon) <= margin)]
    assert wrong == []


def test_near_polygon_holds_feet_on_the_border_and_refuses_the_far_ones() -> None:
    near = NearPolygon(LAWN, 0.05)
    assert near((0.5, 1.0))  # feet the picture cuts off, inside a zone drawn to the border
    assert near((0.5, 0.57))  # 0.03 above the edge
    assert not near((0.5, 0.45))
