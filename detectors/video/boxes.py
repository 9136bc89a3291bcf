"""Box geometry on normalized image coordinates: ``(x0, y0, x1, y1)`` with x by the frame's width and
y by its height, from the top-left. Every detector module uses these, so a box means the same
everywhere (points and polygons are in :mod:`detectors.zones.geometry`)."""

from __future__ import annotations

XYXY = tuple[float, float, float, float]


def area(box: XYXY) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def intersection(a: XYXY, b: XYXY) -> float:
    """Area of the overlap of two boxes (0 when they do not touch)."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    return ix * iy if ix > 0 and iy > 0 else 0.0


def union_box(a: XYXY, b: XYXY) -> XYXY:
    """The smallest box holding both."""
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def iou(a: XYXY, b: XYXY) -> float:
    inter = intersection(a, b)
    if inter <= 0:
        return 0.0
    return inter / max(area(a) + area(b) - inter, 1e-12)


def overlap_of_smaller(a: XYXY, b: XYXY) -> float:
    """Intersection over the smaller box: 1 when one holds the other, so a fragment of a body (head
    only, legs only) still matches the body, unlike IoU."""
    inter = intersection(a, b)
    return inter / max(min(area(a), area(b)), 1e-12) if inter > 0 else 0.0


def covered_by(inner: XYXY, outer: XYXY) -> float:
    """How much of ``inner`` lies inside ``outer`` (0..1)."""
    inter = intersection(inner, outer)
    return inter / max(area(inner), 1e-12) if inter > 0 else 0.0


def bottom_centre(box: XYXY) -> tuple[float, float]:
    """Where an upright object touches the ground: what zone rules test."""
    return ((box[0] + box[2]) / 2, box[3])


def centre(box: XYXY) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def shifted(box: XYXY, dx: float, dy: float) -> XYXY:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def expanded(box: XYXY, margin_frac: float, aspect: float = 1.0) -> XYXY:
    """The box grown by ``margin_frac`` of its size on every side, in pixel-true proportions when
    ``aspect`` (frame width / height) is given, clipped to the frame."""
    w, h = box[2] - box[0], box[3] - box[1]
    # A margin in pixels the same on both axes: the smaller side's pixel size decides it.
    mx = margin_frac * max(w, h / aspect)
    my = margin_frac * max(h, w * aspect)
    return (max(box[0] - mx, 0.0), max(box[1] - my, 0.0), min(box[2] + mx, 1.0), min(box[3] + my, 1.0))


def clipped(box: XYXY) -> XYXY:
    return (
        min(max(box[0], 0.0), 1.0),
        min(max(box[1], 0.0), 1.0),
        min(max(box[2], 0.0), 1.0),
        min(max(box[3], 0.0), 1.0),
    )
