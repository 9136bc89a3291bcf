"""Plane geometry on normalized image coordinates: (x, y) in 0..1 from the top-left."""

from __future__ import annotations

Point = tuple[float, float]


_BORDER_INSET = 1e-6


def point_in_polygon(point: Point, polygon: list[Point]) -> bool:
    """Even-odd rule; points exactly on an edge count as inside for horizontal ray hits.

    A point on the picture's border (feet the picture cuts off: a box clipped at its bottom) is
    taken a hair inside the picture, so a zone drawn to the border holds it; the even-odd rule
    alone would put it outside that zone's border edge."""
    x = min(max(point[0], _BORDER_INSET), 1.0 - _BORDER_INSET)
    y = min(max(point[1], _BORDER_INSET), 1.0 - _BORDER_INSET)
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def side_of_line(point: Point, line: tuple[Point, Point]) -> float:
    """Negative on the left of the line's direction a → b as seen on the image (y grows downwards),
    positive on its right, 0 on the line."""
    (ax, ay), (bx, by) = line
    px, py = point
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def segments_intersect(p1: Point, p2: Point, line: tuple[Point, Point]) -> bool:
    """Whether the move p1 → p2 crosses the segment ``line``.

    A point exactly on the line counts as being on its right side, so a track that steps onto the
    line and then off it crosses once (not twice, not never).
    """
    a, b = line
    if (side_of_line(p1, line) < 0) == (side_of_line(p2, line) < 0):
        return False
    d3 = side_of_line(a, (p1, p2))
    d4 = side_of_line(b, (p1, p2))
    return d3 * d4 <= 0


def distance_to_segment(point: Point, a: Point, b: Point) -> float:
    """Shortest distance from ``point`` to the segment a-b (normalized units)."""
    (px, py), (ax, ay), (bx, by) = point, a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return float(((px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2) ** 0.5)


def distance_to_polygon(point: Point, polygon: list[Point]) -> float:
    """0 inside the polygon, else the distance to its nearest edge."""
    if point_in_polygon(point, polygon):
        return 0.0
    n = len(polygon)
    return min(distance_to_segment(point, polygon[i], polygon[(i + 1) % n]) for i in range(n))


class NearPolygon:
    """Whether points are inside a polygon or within ``margin`` of it: ``distance_to_polygon(p) <=
    margin``, with the edges that cannot be that near (the point outside the edge's box grown by
    the margin) skipped: a camera asks it of every track's feet on every frame."""

    def __init__(self, polygon: list[Point], margin: float) -> None:
        self.polygon = polygon
        self.margin = margin
        self._edges = [
            (a, b, *_grown_box(a, b, margin)) for a, b in zip(polygon, [*polygon[1:], polygon[0]], strict=True)
        ]

    def __call__(self, point: Point) -> bool:
        if point_in_polygon(point, self.polygon):
            return True
        x, y = point
        return any(
            x0 <= x <= x1 and y0 <= y <= y1 and distance_to_segment(point, a, b) <= self.margin
            for a, b, x0, y0, x1, y1 in self._edges
        )


def _grown_box(a: Point, b: Point, margin: float) -> tuple[float, float, float, float]:
    return min(a[0], b[0]) - margin, min(a[1], b[1]) - margin, max(a[0], b[0]) + margin, max(a[1], b[1]) + margin


def _on_border(a: Point, b: Point) -> bool:
    """Whether the edge a-b lies along the picture's border (nobody walks in across it: it is where
    the picture ends, and a zone drawn to it goes on beyond it)."""
    return any(a[k] == b[k] and a[k] in (0.0, 1.0) for k in (0, 1))


def depth_in_polygon(point: Point, polygon: list[Point]) -> float:
    """How far inside the polygon the point is: the distance to its nearest edge that is not the
    picture's border (0 outside; a zone along the border only is as deep as the picture)."""
    if not point_in_polygon(point, polygon):
        return 0.0
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    inner = [distance_to_segment(point, a, b) for a, b in edges if not _on_border(a, b)]
    return min(inner) if inner else 1.0
