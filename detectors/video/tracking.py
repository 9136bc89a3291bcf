"""A small, fast multi-object tracker over motion blobs; it confirms only objects that really travel.

See :class:`Tracker`. Coordinates are normalized (x by frame width, y by frame height), so
distances such as ``displacement_frac`` are in those units too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from detectors.video.motion import XYXY, Blob


class TrackerConfig(BaseModel):
    """Tuning of :class:`Tracker`; the defaults suit ~5 fps and person-sized objects at 640x360."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    min_overlap: float = Field(
        0.2, gt=0, le=1, description="intersection over the smaller box, predicted vs blob, that always matches"
    )
    max_jump_frac: float = Field(
        0.08, gt=0, le=1, description="else match by bottom-centre distance per frame, up to this"
    )
    max_size_ratio: float = Field(3.0, ge=1, description="distance matches need similar areas (ratio <= this)")
    absorb_overlap_frac: float = Field(
        0.3, gt=0, le=1, description="an extra blob this much inside a matched track's box is a fragment of it"
    )
    max_missed_frames: int = Field(3, ge=0, description="a track not seen for more frames than this expires")
    min_hits: int = Field(3, ge=1, description="frames with a blob before a track can be confirmed")
    min_displacement_frac: float = Field(0.025, ge=0, description="net bottom-centre travel needed to confirm")
    min_straightness: float = Field(
        0.5, ge=0, le=1, description="net travel / path length needed to confirm: jitter goes nowhere"
    )
    max_size_ratio_velocity: float = Field(
        1.5, ge=1, description="box area change above which a match does not update the velocity (fragments)"
    )
    velocity_smoothing: float = Field(0.5, ge=0, lt=1, description="weight of the old velocity in its average")


@dataclass(frozen=True, slots=True)
class Track:
    """Snapshot of one track after an update. ``missed_frames`` > 0: not seen this frame (coasting)."""

    track_id: int
    xyxy: XYXY
    first_seen_s: float
    last_seen_s: float
    age_frames: int  # frames since the track was born, seen or not
    hits: int  # frames in which a blob was matched
    missed_frames: int  # consecutive frames without a blob, up to now
    path_length_frac: float  # cumulative bottom-centre travel
    displacement_frac: float  # net bottom-centre travel from where it was first seen
    confirmed: bool

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """Where the object touches the ground (normalized x, y): what zone rules should test."""
        return ((self.xyxy[0] + self.xyxy[2]) / 2, self.xyxy[3])


class _TrackState:
    __slots__ = (
        "age_frames",
        "confirmed",
        "first_seen_s",
        "hits",
        "last_seen_s",
        "missed_frames",
        "origin",
        "path_length_frac",
        "track_id",
        "vx",
        "vy",
        "xyxy",
    )

    def __init__(self, track_id: int, xyxy: XYXY, ts_s: float) -> None:
        self.track_id = track_id
        self.xyxy = xyxy
        self.first_seen_s = ts_s
        self.last_seen_s = ts_s
        self.age_frames = 1
        self.hits = 1
        self.missed_frames = 0
        self.origin = _bottom_centre(xyxy)
        self.path_length_frac = 0.0
        self.vx = 0.0  # bottom-centre velocity, normalized units per frame
        self.vy = 0.0
        self.confirmed = False

    def predicted(self) -> XYXY:
        steps = self.missed_frames + 1
        dx, dy = self.vx * steps, self.vy * steps
        x0, y0, x1, y1 = self.xyxy
        return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)

    def displacement(self) -> float:
        x, y = _bottom_centre(self.xyxy)
        return math.hypot(x - self.origin[0], y - self.origin[1])

    def snapshot(self) -> Track:
        return Track(
            self.track_id,
            self.xyxy,
            self.first_seen_s,
            self.last_seen_s,
            self.age_frames,
            self.hits,
            self.missed_frames,
            self.path_length_frac,
            self.displacement(),
            self.confirmed,
        )


def _bottom_centre(xyxy: XYXY) -> tuple[float, float]:
    return ((xyxy[0] + xyxy[2]) / 2, xyxy[3])


def _area(xyxy: XYXY) -> float:
    return max(xyxy[2] - xyxy[0], 0.0) * max(xyxy[3] - xyxy[1], 0.0)


def _intersection(a: XYXY, b: XYXY) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    return ix * iy if ix > 0 and iy > 0 else 0.0


def _union(a: XYXY, b: XYXY) -> XYXY:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _overlap(a: XYXY, b: XYXY) -> float:
    """Intersection over the smaller box: 1 when one contains the other, so a fragment of a body
    (head only, legs only) still matches the body's track, unlike IoU."""
    inter = _intersection(a, b)
    return inter / max(min(_area(a), _area(b)), 1e-12) if inter > 0 else 0.0


class Tracker:
    """Greedy IoU/distance association of blobs to tracks, with confirmation by real travel; one per camera.

    Each update predicts every track's box with its smoothed velocity, scores every (track, blob)
    pair — overlap (intersection over the smaller box) ``>= min_overlap`` beats any distance match;
    otherwise the bottom-centre (or centre) must be within ``max_jump_frac`` per frame and the areas
    similar — and assigns pairs best-first. A leftover blob mostly inside a matched track's predicted
    box is a fragment of the same object and widens that track's box; other unmatched blobs start
    tracks; unmatched tracks coast and expire after ``max_missed_frames``.

    A track becomes ``confirmed`` (and stays so) once it has ``min_hits`` hits *and* its bottom-centre
    has moved ``min_displacement_frac`` net from where it appeared *and* that net travel is at least
    ``min_straightness`` of its path length. Foliage, rain and flicker produce blobs that jitter in
    place or hop at random: long paths, little net travel, so they never confirm; a walker confirms in
    about ``min_hits`` frames.

    Track and blob counts are small (tens), so the O(tracks x blobs) scoring in Python is cheap.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_TrackState] = []
        self._next_id = 1

    def reset(self) -> None:
        self._tracks = []

    def update(self, blobs: Sequence[Blob], ts_s: float) -> list[Track]:
        """Advance by one frame at ``ts_s`` with its blobs; every live track (seen or coasting) after it."""
        cfg = self.config
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self._tracks):
            pred = track.predicted()
            pred_bc = _bottom_centre(pred)
            pred_area = _area(pred)
            max_jump = cfg.max_jump_frac * (track.missed_frames + 1)
            for bi, blob in enumerate(blobs):
                overlap = _overlap(pred, blob.xyxy)
                if overlap >= cfg.min_overlap:
                    pairs.append((1.0 + overlap, ti, bi))
                    continue
                bx, by = blob.bottom_centre
                # Also centre to centre: when one of the boxes is a fragment their bottoms differ.
                dist = min(
                    math.hypot(bx - pred_bc[0], by - pred_bc[1]),
                    math.hypot(bx - pred_bc[0], (blob.xyxy[1] + by - pred[1] - pred_bc[1]) / 2),
                )
                blob_area = _area(blob.xyxy)
                ratio = max(blob_area, pred_area) / max(min(blob_area, pred_area), 1e-12)
                if dist <= max_jump and ratio <= cfg.max_size_ratio:
                    pairs.append((1.0 - dist / max_jump, ti, bi))
        pairs.sort(reverse=True)
        matched: dict[int, XYXY] = {}  # track index -> box of its blob(s)
        used_blobs: set[int] = set()
        for _score, ti, bi in pairs:
            if ti in matched or bi in used_blobs:
                continue
            matched[ti] = blobs[bi].xyxy
            used_blobs.add(bi)
        # A body split into fragments (low contrast band across it) must not start a second track:
        # a leftover blob lying mostly inside a matched track's predicted box joins that track.
        for bi, blob in enumerate(blobs):
            if bi in used_blobs:
                continue
            blob_area = max(_area(blob.xyxy), 1e-12)
            for ti in matched:
                if _intersection(blob.xyxy, self._tracks[ti].predicted()) >= cfg.absorb_overlap_frac * blob_area:
                    matched[ti] = _union(matched[ti], blob.xyxy)
                    used_blobs.add(bi)
                    break
        for ti, xyxy in matched.items():
            self._hit(self._tracks[ti], xyxy, ts_s)

        alive: list[_TrackState] = []
        for ti, track in enumerate(self._tracks):
            if ti not in matched:
                track.age_frames += 1
                track.missed_frames += 1
                if track.missed_frames > cfg.max_missed_frames:
                    continue
            alive.append(track)
        for bi, blob in enumerate(blobs):
            if bi not in used_blobs:
                alive.append(_TrackState(self._next_id, blob.xyxy, ts_s))
                self._next_id += 1
        self._tracks = alive
        return [t.snapshot() for t in alive]

    def _hit(self, track: _TrackState, xyxy: XYXY, ts_s: float) -> None:
        cfg = self.config
        old_x, old_y = _bottom_centre(track.xyxy)
        new_x, new_y = _bottom_centre(xyxy)
        steps = track.missed_frames + 1
        old_area, new_area = _area(track.xyxy), _area(xyxy)
        if max(old_area, new_area) <= cfg.max_size_ratio_velocity * max(min(old_area, new_area), 1e-12):
            k = cfg.velocity_smoothing
            track.vx = k * track.vx + (1 - k) * (new_x - old_x) / steps
            track.vy = k * track.vy + (1 - k) * (new_y - old_y) / steps
        # else: a fragment (or fragments rejoining) moves the box edges, not the object: keep the velocity.
        track.path_length_frac += math.hypot(new_x - old_x, new_y - old_y)
        track.xyxy = xyxy
        track.last_seen_s = ts_s
        track.age_frames += 1
        track.hits += 1
        track.missed_frames = 0
        if not track.confirmed and track.hits >= cfg.min_hits:
            net = track.displacement()
            track.confirmed = net >= cfg.min_displacement_frac and net >= cfg.min_straightness * track.path_length_frac
