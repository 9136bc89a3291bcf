"""Static new objects (for ``abandoned_object``): what appeared in the scene and then stopped moving.

Two background models of the lighting-normalised frame: a *short-term* one that absorbs anything
still for a few seconds, and a *long-term* one that takes minutes. A region that differs from the
long-term model but no longer from the short-term one is something new that has stopped: a bag
left behind, a parked cart. Such regions are followed by overlap from frame to frame and report how
long they have stood; the long-term model absorbs them in the end, so one object is one episode.
Global lighting changes re-seed both models (nothing is reported for them).

Known limit: a person who stands perfectly still for as long looks the same as an object.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

FloatImage = npt.NDArray[np.float32]
XYXY = tuple[float, float, float, float]


class StaticObjectConfig(BaseModel):
    """Tuning of :class:`StaticObjectDetector` (rates are per frame; at 5 fps 0.1 ≈ 2 s, 0.001 ≈ 200 s)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    work_width_px: int = Field(160, ge=32)
    short_rate: float = Field(0.1, gt=0, le=1, description="short-term model: absorbs a stopped object in seconds")
    long_rate: float = Field(0.001, gt=0, le=1, description="long-term model: minutes")
    threshold_levels: float = Field(25.0, gt=0)
    min_area_frac: float = Field(0.001, gt=0)
    max_area_frac: float = Field(0.1, gt=0)
    global_change_frac: float = Field(0.25, gt=0, le=1, description="more changed than this: lighting, re-seed")
    warmup_frames: int = Field(10, ge=1)


@dataclass(frozen=True)
class StaticObject:
    """A region that is new to the scene and still."""

    object_id: int
    xyxy: XYXY
    first_seen_s: float
    static_s: float

    @property
    def bottom_centre(self) -> tuple[float, float]:
        return ((self.xyxy[0] + self.xyxy[2]) / 2, self.xyxy[3])


def _iou(a: XYXY, b: XYXY) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class StaticObjectDetector:
    """Finds static new objects; ``process`` returns the ones present in this frame."""

    def __init__(self, config: StaticObjectConfig | None = None) -> None:
        self.config = config or StaticObjectConfig()
        self._short: FloatImage | None = None
        self._long: FloatImage | None = None
        self._ref_median = 0.0
        self._frames = 0
        self._objects: dict[int, StaticObject] = {}
        self._next_id = 1

    def reset(self) -> None:
        self._short = self._long = None
        self._frames = 0
        self._objects.clear()

    def _normalised(self, gray: npt.NDArray[np.uint8]) -> FloatImage:
        cfg = self.config
        height_px = max(1, round(gray.shape[0] * cfg.work_width_px / gray.shape[1]))
        small = cv2.resize(gray, (cfg.work_width_px, height_px), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (3, 3), 0)
        frame = small.astype(np.float32)
        median = float(cv2.mean(small)[0])  # the mean moves with lighting as well and costs far less
        if self._short is None:
            self._ref_median = median
        # Global brightness changes shift every pixel alike: remove them before comparing models.
        return frame + np.float32(self._ref_median - median)

    def process(self, gray: npt.NDArray[np.uint8], ts_s: float) -> list[StaticObject]:
        cfg = self.config
        frame = self._normalised(gray)
        if self._short is None or self._long is None or self._short.shape != frame.shape:
            self._short, self._long = frame.copy(), frame.copy()
            self._frames = 0
        self._frames += 1
        vs_long = np.abs(frame - self._long) > cfg.threshold_levels
        if float(vs_long.mean()) > cfg.global_change_frac:
            self._short, self._long = frame.copy(), frame.copy()  # lighting or a moved camera: start again
            self._objects.clear()
            return []
        vs_short = np.abs(frame - self._short) > cfg.threshold_levels
        cv2.accumulateWeighted(frame, self._short, cfg.short_rate)
        cv2.accumulateWeighted(frame, self._long, cfg.long_rate)
        if self._frames < cfg.warmup_frames:
            return []
        candidate = (vs_long & ~vs_short).astype(np.uint8)
        if not cv2.countNonZero(candidate):  # the usual case: nothing new stands still
            return self._follow([], ts_s)
        candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        height_px, width_px = candidate.shape
        count, _, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
        boxes: list[XYXY] = []
        for label in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[label])
            if not cfg.min_area_frac <= area / (width_px * height_px) <= cfg.max_area_frac:
                continue
            window = (slice(max(0, y - 2), y + h + 2), slice(max(0, x - 2), x + w + 2))
            if self._edges(frame[window]) <= self._edges(self._long[window]):
                # A "ghost": the long-term model holds something that has left (say, a person present
                # at start-up). Its outline is in the model, not in the frame; forget it at once.
                self._long[window] = frame[window]
                continue
            boxes.append((x / width_px, y / height_px, (x + w) / width_px, (y + h) / height_px))
        return self._follow(boxes, ts_s)

    @staticmethod
    def _edges(patch: FloatImage) -> float:
        gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3)
        return float(np.mean(np.abs(gx) + np.abs(gy)))

    def _follow(self, boxes: list[XYXY], ts_s: float) -> list[StaticObject]:
        current: dict[int, StaticObject] = {}
        for box in boxes:
            best = max(self._objects.values(), key=lambda o: _iou(o.xyxy, box), default=None)
            if best is not None and _iou(best.xyxy, box) >= 0.3 and best.object_id not in current:
                current[best.object_id] = StaticObject(best.object_id, box, best.first_seen_s, ts_s - best.first_seen_s)
            else:
                current[self._next_id] = StaticObject(self._next_id, box, ts_s, 0.0)
                self._next_id += 1
        self._objects = current
        return list(current.values())
