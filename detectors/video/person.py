"""The optional person check: OpenCV's HOG people detector, run on a moving object's box.

Motion and tracking find things that move; they cannot tell a person from a car, a dog or a
swinging sign. With ``person_check`` on a camera, each confirmed track is cropped around its box,
scaled so the object is as tall as the people HOG was trained on (96 px in a 64x128 window), and
scored by the Dalal-Triggs linear SVM that the 4.x wheels ship (``cv2.HOGDescriptor_getDefaultPeopleDetector``;
the 5.0 wheels ship neither it nor the Haar cascades, hence ``opencv-python-headless<5``).

A track is checked at most once per ``recheck_s`` until it passes (people turn, get partly hidden
and pass on a later look), and never again once it has: one HOG window costs about a millisecond,
so the check stays off the per-frame budget. In ``require`` mode a track counts for zone rules only
once it passes; in ``annotate`` mode everything counts and incidents carry the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

XYXY = tuple[float, float, float, float]

# HOG's window is 64x128 px with the person about 96 px tall in it; a crop one window and a stride
# larger each way lets the person sit a little off the box without a multi-scale search.
_WINDOW_W_PX, _WINDOW_H_PX, _PERSON_H_PX = 64, 128, 96
_CROP_W_PX, _CROP_H_PX = _WINDOW_W_PX + 16, _WINDOW_H_PX + 8
_STRIDE_PX = (8, 8)
_FLOOR_SCORE = -1.0  # windows scoring below this are not reported at all


class PersonCheckConfig(BaseModel):
    """``person_check`` of a camera: whether moving objects must look like people to HOG."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["require", "annotate"] = Field(
        "require", description="require: only people count for zone rules; annotate: score incidents only"
    )
    min_score: float = Field(0.3, description="SVM margin a track needs to pass (higher: fewer false people)")
    recheck_s: float = Field(0.4, gt=0, description="a track that failed is looked at again after this")
    min_height_frac: float = Field(
        0.05, gt=0, le=1, description="objects shorter than this fraction of the frame height are not checked"
    )


@dataclass
class _Verdict:
    score: float | None  # best score so far; None: never scored
    passed: bool
    checked_at_s: float


class PersonDetector:
    """Scores boxes in a grayscale frame with HOG's default people detector.

    Frames wider than ``work_width_px`` are first reduced to it (area averaging): people small
    enough to need the check are scaled *up* into HOG's window, and sensor noise scaled up with them
    drowns the gradients HOG looks at. Each box is tried as it is, a little tighter, and taller at
    either end (``scales``), since motion boxes are loose or miss a head or feet.
    """

    def __init__(self, work_width_px: int = 320, scales: tuple[float, ...] = (0.9, 1.25, 1.5)) -> None:
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
        self.work_width_px = work_width_px
        self.scales = scales
        self._frame: npt.NDArray[np.uint8] | None = None
        self._work: npt.NDArray[np.uint8] | None = None

    def _reduced(self, gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        if gray is self._frame and self._work is not None:  # several tracks in one frame
            return self._work
        width_px = int(gray.shape[1])
        work = gray
        if width_px > self.work_width_px:
            height_px = max(1, round(gray.shape[0] * self.work_width_px / width_px))
            work = np.asarray(cv2.resize(gray, (self.work_width_px, height_px), interpolation=cv2.INTER_AREA), np.uint8)
        self._frame, self._work = gray, work
        return work

    def score(self, gray: npt.NDArray[np.uint8], xyxy: XYXY) -> float | None:
        """The best SVM margin of a person window around the normalized box, or None if none fired."""
        work = self._reduced(gray)
        best: float | None = None
        for box in self._candidates(xyxy):
            score = self._score_one(work, box)
            if score is not None and (best is None or score > best):
                best = score
        return best

    def _candidates(self, xyxy: XYXY) -> list[XYXY]:
        """The box as it is, and taller, kept at its feet or at its head: motion often misses the
        part of a person that matches the background behind it."""
        x0, y0, x1, y1 = xyxy
        height = y1 - y0
        out = [xyxy]
        for factor in self.scales:
            if factor > 1:
                out += [(x0, y1 - height * factor, x1, y1), (x0, y0, x1, y0 + height * factor)]
            elif factor < 1:
                margin = height * (1 - factor) / 2
                out.append((x0, y0 + margin, x1, y1 - margin))
        return out

    def _score_one(self, gray: npt.NDArray[np.uint8], xyxy: XYXY) -> float | None:
        height_px, width_px = int(gray.shape[0]), int(gray.shape[1])
        x0, y0, x1, y1 = xyxy[0] * width_px, xyxy[1] * height_px, xyxy[2] * width_px, xyxy[3] * height_px
        box_h_px = max(y1 - y0, 1.0)
        px_per_crop_px = box_h_px / _PERSON_H_PX
        centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
        half_w, half_h = _CROP_W_PX / 2 * px_per_crop_px, _CROP_H_PX / 2 * px_per_crop_px
        corners = [(centre_x - half_w, centre_y - half_h), (centre_x + half_w, centre_y - half_h),
                   (centre_x - half_w, centre_y + half_h)]  # fmt: skip
        src = np.array(corners, np.float32)
        dst = np.array([(0, 0), (_CROP_W_PX, 0), (0, _CROP_H_PX)], np.float32)
        # An affine warp crops and scales in one step and mirrors the frame's border when the box
        # touches it, so people entering at the edge are scored too.
        crop = cv2.warpAffine(
            gray,
            cv2.getAffineTransform(src, dst),
            (_CROP_W_PX, _CROP_H_PX),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        _found, weights = self.hog.detect(crop, hitThreshold=_FLOOR_SCORE, winStride=_STRIDE_PX, padding=(0, 0))
        scores = np.ravel(np.asarray(weights, np.float64))
        return float(scores.max()) if scores.size else None


class PersonVerifier:
    """Per camera: which tracks have been seen to be people, checking each one sparingly."""

    def __init__(self, config: PersonCheckConfig, detector: PersonDetector | None = None) -> None:
        self.config = config
        self.detector = detector or PersonDetector()
        self._verdicts: dict[int, _Verdict] = {}
        self.checks = 0

    def verify(self, gray: npt.NDArray[np.uint8], track_id: int, xyxy: XYXY, now_s: float) -> tuple[bool, float | None]:
        """Whether the track passes (now or before) and its best score so far."""
        verdict = self._verdicts.get(track_id)
        if verdict is not None and (verdict.passed or now_s - verdict.checked_at_s < self.config.recheck_s):
            return verdict.passed, verdict.score
        if xyxy[3] - xyxy[1] < self.config.min_height_frac:
            return False, verdict.score if verdict else None
        self.checks += 1
        score = self.detector.score(gray, xyxy)
        best = max(score, verdict.score) if score is not None and verdict and verdict.score is not None else score
        if best is None and verdict is not None:
            best = verdict.score
        passed = best is not None and best >= self.config.min_score
        self._verdicts[track_id] = _Verdict(best, passed, now_s)
        return passed, best

    def forget(self, live_track_ids: set[int]) -> None:
        """Drop verdicts of tracks that no longer exist."""
        for track_id in [t for t in self._verdicts if t not in live_track_ids]:
            del self._verdicts[track_id]


def person_confidence(score: float | None) -> float:
    """An SVM margin as a 0..1 confidence (logistic; margin 0 is a coin toss)."""
    if score is None:
        return 0.5
    return round(1 / (1 + math.exp(-2 * score)), 3)
