"""What an object looks like, as a colour histogram: enough to tell two people apart when one takes
the place of the other (the woman leaves the lawn where the man steps onto it, a moment later).

A signature is the hue-saturation histogram of the middle of the object's box (its torso and legs,
not the ground or the background at its sides), taken from the colour frame on the frames the
object detector looks at. Two signatures differ by their Bhattacharyya distance (0: the same
colours, 1: nothing in common). Grey feeds (``grayscale: true``, IR night mode) have no hue: their
signatures all look alike, and then tell nothing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.video.boxes import XYXY

Signature = npt.NDArray[np.float32]
_BINS = (12, 8)  # hue, saturation
# Signatures further apart than this are of different objects. Measured on vtest.avi (SSD boxes at
# 640x480): the same person a few seconds apart 0.19-0.40 (up to ~0.6 half a minute later, turned,
# in other light); a man in a red jacket and a woman in a black coat side by side 0.41, the same
# two twenty seconds apart 0.73; passers-by in general 0.4-0.9. So it tells apart only people
# dressed quite differently, and only over short gaps: enough to keep one person's stay from
# passing to another who takes their place.
DIFFERENT = 0.55


def signature(image: npt.NDArray[np.uint8], box: XYXY) -> Signature | None:
    """The colour signature of the object in ``box`` (normalized) of a BGR frame; None when the
    box holds too few pixels to say."""
    import cv2  # here: the zone rules compare signatures without loading OpenCV

    if image.ndim != 3:
        return None
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    # The middle 60 % of the width and 10-90 % of the height: the object, not what is beside it.
    px0, px1 = int((x0 + 0.2 * bw) * width), int((x1 - 0.2 * bw) * width)
    py0, py1 = int((y0 + 0.1 * bh) * height), int((y1 - 0.1 * bh) * height)
    px0, py0 = max(px0, 0), max(py0, 0)
    px1, py1 = min(px1, width), min(py1, height)
    if px1 - px0 < 3 or py1 - py0 < 6:
        return None
    hsv = cv2.cvtColor(image[py0:py1, px0:px1], cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(_BINS), [0, 180, 0, 256])
    total = float(hist.sum())
    if total <= 0:
        return None
    return np.asarray(hist / total, np.float32)


def distance(a: Signature | None, b: Signature | None) -> float | None:
    """Bhattacharyya distance of two signatures (None when either is missing)."""
    if a is None or b is None:
        return None
    overlap = float(np.sum(np.sqrt(a * b)))  # both sum to 1
    return float(np.sqrt(max(1.0 - overlap, 0.0)))


def different(a: Signature | None, b: Signature | None) -> bool:
    """Whether two signatures are of different objects (False when either is missing)."""
    d = distance(a, b)
    return d is not None and d > DIFFERENT


def blend(old: Signature | None, new: Signature | None, weight: float = 0.3) -> Signature | None:
    """A signature updated with a new look (people turn; light changes along a path)."""
    if old is None:
        return new
    if new is None:
        return old
    return np.asarray((1 - weight) * old + weight * new, np.float32)
