"""Real footage for the camera detectors' tests: the hand-made ground truth, staged nuisances and
faults on real frames, a scorer and a report.

The footage is OpenCV's ``vtest.avi`` (a real plaza camera) and ``tree.avi`` (a real tree in wind)
from Debian's ``opencv-doc`` (:mod:`pantau.footage`); the ground truth was annotated by hand from the
frames (``tests/detectors/data/*.yaml``, their headers say how). Nothing here looks at what a
detector says to decide what is true.

**Staged nuisances and faults** take real frames (BGR ``uint8`` arrays) and return altered ones,
lazily (a 795-frame clip is a gigabyte in memory) and deterministically (every random choice comes
from a seed). Each returns a :class:`Staged`: the frames and the ground truth of what was staged.

**Scoring** (:func:`score_intrusions`, :func:`score_crossings`, :func:`score_faults`) matches the
incidents ``detectors.analyze.analyze()`` yields against the truth, one incident per truth entry
(the matching that pairs the most): every raised incident is then a true positive, a *duplicate*
(another incident for a truth entry already matched: the rule is meant to give one incident per
stay, per crossing, per fault, so a re-raise is an error an operator sees, and counts against
precision) or a false positive. Precision is true positives over all raised incidents, recall true
positives over the truth entries demanded. Truth entries marked ``optional`` (too doubtful to
demand, or inside a window where the detector is allowed to stand down) are never missed, and an
incident matching one is neither right nor wrong. Windows:

- an intrusion matches a stay if it is raised between 5 frames before the feet enter the zone and
  10 frames after they leave it (the annotation is good to +-2 frames), and, where the stay has a
  track and the incident a box, if the box (widened by 0.05) holds the person's feet at that frame:
  a merged blob of passers-by on the path raised while someone else is on the lawn is not that
  person; its latency is from the frame the feet entered;
- a line crossing matches a truth crossing in the same direction within 1.5 s;
- a fault (``tamper`` incident, by ``tamper_kind``) matches a staged fault of the same kind raised
  from its onset to 10 frames after its end; latency is from the onset.

``python -m tests.detectors.footage report`` runs the detectors on every clip and prints the scores
and every false incident (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt
import yaml

Frame = npt.NDArray[np.uint8]
Point = tuple[float, float]
Polygon = list[Point]
Incident = dict[str, Any]
Direction = Literal["in", "out"]

DATA_DIR = Path(__file__).resolve().parent / "data"
VTEST_TRUTH = DATA_DIR / "vtest_truth.yaml"
TREE_TRUTH = DATA_DIR / "tree_truth.yaml"
START = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
FAULT_KINDS = ("covered", "defocused", "moved", "frozen")
STAY_BEFORE_FRAMES = 5
STAY_AFTER_FRAMES = 10
BOX_MARGIN = 0.05
CROSSING_TOLERANCE_S = 1.5
FAULT_AFTER_FRAMES = 10
SETTLE_S = 3.0  # after a global change (a fault, an IR switch) the detectors may rebuild their model


# --- ground truth -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stay:
    """A person's feet inside a zone from ``enter`` to ``leave`` (the first frame outside; None:
    still inside when the clip ends); ``track``: (frame, x, y) of the feet every ~10 frames."""

    id: str
    enter: int
    leave: int | None
    feet: Point
    person: str = ""
    optional: bool = False
    note: str = ""
    track: tuple[tuple[int, float, float], ...] = ()

    def feet_at(self, frame: int) -> Point | None:
        """Where the feet are at ``frame``, between the track's points (its ends before and after it);
        None without a track."""
        if not self.track:
            return None
        if frame <= self.track[0][0]:
            return self.track[0][1], self.track[0][2]
        for (f0, x0, y0), (f1, x1, y1) in itertools.pairwise(self.track):
            if f0 <= frame <= f1:
                t = (frame - f0) / (f1 - f0)
                return x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
        return self.track[-1][1], self.track[-1][2]


@dataclass(frozen=True)
class Crossing:
    """A person's feet on the counting line at ``frame``, walking in ``direction``."""

    id: str
    frame: int
    direction: Direction
    feet: Point
    optional: bool = False
    note: str = ""


@dataclass(frozen=True)
class NearMiss:
    """Frames where nobody is in the zone but someone is close to it (for the report)."""

    first: int
    last: int
    note: str


@dataclass(frozen=True)
class VtestTruth:
    """``vtest_truth.yaml``."""

    fps: float
    frames: int
    size_px: tuple[int, int]
    lawn: Polygon
    line: tuple[Point, Point]
    stays: tuple[Stay, ...]
    crossings: tuple[Crossing, ...]
    near_misses: tuple[NearMiss, ...]


@dataclass(frozen=True)
class TreeTruth:
    """``tree_truth.yaml``: picture numbers in decoding order, both ends included."""

    pictures: int
    zone: Polygon
    foliage_only: tuple[int, int]
    hand_in_front_of_lens: tuple[int, int]


def _point(raw: Sequence[float]) -> Point:
    return float(raw[0]), float(raw[1])


def load_vtest_truth(path: Path = VTEST_TRUTH) -> VtestTruth:
    """The hand-made ground truth of ``vtest.avi``."""
    raw = yaml.safe_load(path.read_text())
    a, b = raw["line"]["points"]
    return VtestTruth(
        fps=float(raw["fps"]),
        frames=int(raw["frames"]),
        size_px=(int(raw["size_px"][0]), int(raw["size_px"][1])),
        lawn=[_point(p) for p in raw["lawn"]["polygon"]],
        line=(_point(a), _point(b)),
        stays=tuple(
            Stay(
                id=str(s["id"]),
                enter=int(s["enter"]),
                leave=None if s["leave"] is None else int(s["leave"]),
                feet=_point(s["feet"]),
                person=str(s.get("person", "")),
                optional=bool(s.get("optional", False)),
                note=str(s.get("note", "")),
                track=tuple((int(f), float(x), float(y)) for f, x, y in s.get("track", [])),
            )
            for s in raw["lawn_stays"]
        ),
        crossings=tuple(
            Crossing(
                id=str(c["id"]),
                frame=int(c["frame"]),
                direction=c["direction"],
                feet=_point(c["feet"]),
                optional=bool(c.get("optional", False)),
                note=str(c.get("note", "")),
            )
            for c in raw["crossings"]
        ),
        near_misses=tuple(
            NearMiss(int(n["frames"][0]), int(n["frames"][1]), str(n["note"])) for n in raw["near_misses"]
        ),
    )


def load_tree_truth(path: Path = TREE_TRUTH) -> TreeTruth:
    """The hand-made ground truth of ``tree.avi``."""
    raw = yaml.safe_load(path.read_text())
    foliage, hand = raw["foliage_only"], raw["hand_in_front_of_lens"]
    return TreeTruth(
        pictures=int(raw["pictures"]),
        zone=[_point(p) for p in raw["zone"]["polygon"]],
        foliage_only=(int(foliage[0]), int(foliage[1])),
        hand_in_front_of_lens=(int(hand[0]), int(hand[1])),
    )


# --- clips ------------------------------------------------------------------------------------


def read_frames(video: Path) -> Iterator[Frame]:
    """The decoded frames of a video file, in order."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open video {video}")
    try:
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                return
            yield np.asarray(image, dtype=np.uint8)
    finally:
        capture.release()


def read_timed_frames(video: Path) -> Iterator[tuple[float, Frame]]:
    """(time in seconds, frame) of each decoded picture, at the time the file gives it.

    ``tree.avi`` holds 68 pictures in 444 frames (the others are empty chunks): OpenCV decodes the
    pictures back to back and says when each was meant to be shown.
    """
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open video {video}")
    try:
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                return
            yield float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0, np.asarray(image, dtype=np.uint8)
    finally:
        capture.release()


def write_clip(frames: Iterable[Frame], path: Path, fps: float, quality: int = 95) -> int:
    """Write ``frames`` as a Motion-JPEG ``.avi`` (the headless wheel writes it without FFmpeg's
    encoders) at JPEG quality ``quality``; returns the number of frames written."""
    writer: cv2.VideoWriter | None = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                height_px, width_px = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width_px, height_px))
                if not writer.isOpened():
                    raise OSError(f"cannot write {path}")
                writer.set(cv2.VIDEOWRITER_PROP_QUALITY, quality)
            writer.write(frame)
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


def tree_scene(tree: Path, truth: TreeTruth, seconds: float = 60.0, fps: float = 5.0) -> Iterator[Frame]:
    """The foliage-only pictures of ``tree.avi`` one per frame, forwards then backwards (a tree swaying
    back is a tree swaying) for ``seconds`` at ``fps``.

    One picture per frame plays the tree about twice as fast as it was recorded (2.3 pictures a
    second): a stronger wind, never an easier one.
    """
    first, last = truth.foliage_only
    pictures = [f for i, f in enumerate(read_frames(tree)) if first <= i <= last]
    cycle = pictures + pictures[-2:0:-1]
    for i in range(round(seconds * fps)):
        yield cycle[i % len(cycle)]


def tree_as_recorded(tree: Path, fps: float = 5.0) -> Iterator[Frame]:
    """All of ``tree.avi`` at the times it was recorded, sampled at ``fps``: each frame shows the
    latest picture (so a picture repeats 2-3 frames, as from a slow camera), hand included."""
    timed = list(read_timed_frames(tree))
    end_s = timed[-1][0]
    k = 0
    for i in range(math.floor(end_s * fps) + 1):
        t = i / fps
        while k + 1 < len(timed) and timed[k + 1][0] <= t:
            k += 1
        yield timed[k][1]


# --- staged nuisances and faults ------------------------------------------------------------


@dataclass(frozen=True)
class StagedEvent:
    """What was staged from frame ``onset`` to ``end`` (the first frame back to normal). A fault
    (``covered``, ``defocused``, ``moved``, ``frozen``) must be named; a nuisance must raise nothing."""

    kind: str
    onset: int
    end: int
    note: str = ""

    @property
    def is_fault(self) -> bool:
        return self.kind in FAULT_KINDS


class Staged(NamedTuple):
    """Altered frames (lazy) and the ground truth of what was staged on them."""

    frames: Iterator[Frame]
    events: tuple[StagedEvent, ...]


def _polygon_mask(polygon: Polygon, shape: tuple[int, int], blur_px: float) -> npt.NDArray[np.float32]:
    """The polygon (normalized) as a 0..1 float mask, edges softened by a Gaussian of ``blur_px``."""
    height_px, width_px = shape
    mask = np.zeros((height_px, width_px), np.float32)
    points = np.array([[round(x * width_px), round(y * height_px)] for x, y in polygon], np.int32)
    cv2.fillPoly(mask, [points], 1.0)
    if blur_px > 0:
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), blur_px), dtype=np.float32)
    return mask


def _ellipse(shape: tuple[int, int], centre: Point, axes: Point, angle_deg: float = 0.0) -> npt.NDArray[np.float32]:
    """A Gaussian-edged ellipse: 1 at ``centre``, exp(-r^2/2) at normalized radius r (axes in pixels)."""
    height_px, width_px = shape
    ys, xs = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
    theta = math.radians(angle_deg)
    dx, dy = xs - centre[0], ys - centre[1]
    u = (dx * math.cos(theta) + dy * math.sin(theta)) / axes[0]
    v = (-dx * math.sin(theta) + dy * math.cos(theta)) / axes[1]
    out: npt.NDArray[np.float32] = np.exp(-0.5 * (u * u + v * v)).astype(np.float32)
    return out


def _spaced_onsets(rng: np.random.Generator, n_frames: int, count: int, length: int, first: int, gap: int) -> list[int]:
    """``count`` onsets for events ``length`` frames long in [first, n_frames - length], at least
    ``gap`` frames apart: evenly spread, each jittered within its slot."""
    slot = (n_frames - first) // count
    room = slot - length - (gap if count > 1 else 0)
    if room < 0:
        raise ValueError(f"{count} events of {length} frames do not fit in {n_frames} frames")
    return [first + k * slot + int(rng.integers(0, room + 1)) for k in range(count)]


def headlight_sweeps(
    frames: Iterable[Frame],
    *,
    n_frames: int,
    fps: float,
    lawn: Polygon,
    seed: int = 1,
    sweeps: int = 6,
    sweep_s: float = 2.0,
    peak: float = 80.0,
    first_s: float = 5.0,
) -> Staged:
    """A car's headlights sweeping across the lawn, ``sweeps`` times: a bright, soft-edged elliptical
    glow (up to ``peak`` levels brighter at its centre, a little warm) crossing the grass from one
    side to the other in ``sweep_s`` seconds, fading in and out."""
    rng = np.random.default_rng([seed, 0x4E1])
    length = round(sweep_s * fps)
    onsets = _spaced_onsets(rng, n_frames, sweeps, length, first=round(first_s * fps), gap=round(2 * fps))
    plans = []
    for onset in onsets:
        leftwards = bool(rng.integers(0, 2))
        x0, x1 = float(rng.uniform(0.85, 1.05)), float(rng.uniform(-0.05, 0.2))
        y0, y1 = float(rng.uniform(0.62, 0.9)), float(rng.uniform(0.55, 0.85))
        if not leftwards:
            x0, x1, y0, y1 = x1, x0, y1, y0
        plans.append((onset, (x0, y0), (x1, y1), float(rng.uniform(0.75, 1.0)) * peak))
    events = tuple(
        StagedEvent("headlights", onset, onset + length, "glow sweeping across the lawn") for onset, *_ in plans
    )

    def apply() -> Iterator[Frame]:
        grass: npt.NDArray[np.float32] | None = None
        warm = np.array([0.85, 0.95, 1.0], np.float32)  # B, G, R: halogen light is a little yellow
        for index, frame in enumerate(frames):
            height_px, width_px = frame.shape[:2]
            if grass is None:
                grass = _polygon_mask(lawn, (height_px, width_px), blur_px=0.01 * width_px)
            light = np.zeros((height_px, width_px), np.float32)
            for onset, start, stop, strength in plans:
                k = index - onset
                if not 0 <= k < length:
                    continue
                t = k / max(length - 1, 1)
                fade = min(1.0, (k + 1) / 3, (length - k) / 3)  # lights swing in and out, not on/off
                centre = (
                    (start[0] + (stop[0] - start[0]) * t) * width_px,
                    (start[1] + (stop[1] - start[1]) * t) * height_px,
                )
                light += strength * fade * _ellipse((height_px, width_px), centre, (0.16 * width_px, 0.06 * height_px))
            if not light.any():
                yield frame
                continue
            glow = (light * grass)[:, :, None] * warm
            yield np.clip(frame.astype(np.float32) + glow, 0, 255).astype(np.uint8)

    return Staged(apply(), events)


def cast_shadows(
    frames: Iterable[Frame],
    *,
    n_frames: int,
    fps: float,
    seed: int = 2,
    passers_by: int = 4,
    cloud_s: float = 30.0,
    walk_s: float = 8.0,
    first_s: float = 5.0,
) -> Staged:
    """Cast shadows over the lawn: a cloud's shadow drifting across the whole picture once in
    ``cloud_s`` (large, very soft), and ``passers_by`` shadows of people walking below the picture
    (long, soft-edged shapes reaching up from its bottom edge, crossing it in ``walk_s``). Each
    darkens the ground to 55-70 % of its brightness."""
    rng = np.random.default_rng([seed, 0x5AD])
    first = round(first_s * fps)
    cloud_len = round(cloud_s * fps)
    cloud_onset = int(rng.integers(first, max(first + 1, n_frames - cloud_len)))
    cloud_depth = float(rng.uniform(0.55, 0.7))
    walk_len = round(walk_s * fps)
    onsets = _spaced_onsets(rng, n_frames, passers_by, walk_len, first=first, gap=round(2 * fps))
    walkers = []
    for onset in onsets:
        rightwards = bool(rng.integers(0, 2))
        x0, x1 = (-0.1, 1.1) if rightwards else (1.1, -0.1)
        walkers.append((onset, x0, x1, float(rng.uniform(0.55, 0.7)), float(rng.uniform(-25, 25))))
    events = (
        StagedEvent("shadow", cloud_onset, cloud_onset + cloud_len, "a cloud's shadow drifting across"),
        *(StagedEvent("shadow", o, o + walk_len, "the shadow of a passer-by below the picture") for o, *_ in walkers),
    )

    def apply() -> Iterator[Frame]:
        for index, frame in enumerate(frames):
            height_px, width_px = frame.shape[:2]
            shade = np.zeros((height_px, width_px), np.float32)  # 0: lit, 1: fully in the shadow
            k = index - cloud_onset
            if 0 <= k < cloud_len:
                t = k / (cloud_len - 1)
                centre = ((-0.4 + 1.8 * t) * width_px, 0.7 * height_px)
                cloud = _ellipse((height_px, width_px), centre, (0.35 * width_px, 0.22 * height_px), 10.0)
                shade = np.maximum(shade, np.clip(cloud * 1.6, 0, 1) * (1 - cloud_depth) / (1 - 0.55))
            for onset, x0, x1, depth, lean in walkers:
                k = index - onset
                if not 0 <= k < walk_len:
                    continue
                t = k / (walk_len - 1)
                x = (x0 + (x1 - x0) * t) * width_px
                body = _ellipse((height_px, width_px), (x, 1.0 * height_px), (0.035 * width_px, 0.22 * height_px), lean)
                hard = np.clip((body - 0.3) * 4, 0, 1)  # a shadow's edge is soft but definite
                shade = np.maximum(shade, cv2.GaussianBlur(hard, (0, 0), 0.005 * width_px) * (1 - depth) / (1 - 0.55))
            if not shade.any():
                yield frame
                continue
            # Full shade multiplies by 0.55; each shadow's own depth is folded into its opacity above.
            factor = 1.0 - 0.45 * np.clip(shade, 0, 1)
            yield np.clip(frame.astype(np.float32) * factor[:, :, None], 0, 255).astype(np.uint8)

    return Staged(apply(), events)


def ir_switch(
    frames: Iterable[Frame], *, onset: int, end: int, seed: int = 3, gain: float = 1.3, noise: float = 7.0
) -> Staged:
    """The camera's day/night switch: from ``onset`` to ``end`` the picture is grayscale (the IR-cut
    filter is out), brighter, with its contrast raised by ``gain`` (around the frame's mean) and
    more sensor noise, then colour again."""
    rng = np.random.default_rng([seed, 0x12])
    events = (StagedEvent("ir_switch", onset, end, "grayscale, gain and noise up"),)

    def apply() -> Iterator[Frame]:
        for index, frame in enumerate(frames):
            if not onset <= index < end:
                yield frame
                continue
            gray = np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), dtype=np.float32)
            mean = float(gray.mean())
            night = mean + 12.0 + gain * (gray - mean) + rng.normal(0.0, noise, gray.shape).astype(np.float32)
            yield np.asarray(cv2.cvtColor(np.clip(night, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR), np.uint8)

    return Staged(apply(), events)


def low_bitrate(frames: Iterable[Frame], *, size_px: tuple[int, int] = (384, 288), quality: int = 10) -> Staged:
    """A camera's low-bitrate substream: downscaled to ``size_px`` and JPEG-encoded at ``quality``
    (heavy 8x8 blocking), then decoded."""

    def apply() -> Iterator[Frame]:
        for frame in frames:
            small = cv2.resize(frame, size_px, interpolation=cv2.INTER_AREA)
            ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise ValueError("JPEG encoding failed")
            yield np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), dtype=np.uint8)

    return Staged(apply(), ())


def frozen_picture(frames: Iterable[Frame], *, onset: int, seconds: float, fps: float) -> Staged:
    """A hung encoder: from ``onset`` the same picture keeps arriving for ``seconds``, then live frames
    again (those in between are lost, as from a camera that restarts its encoder)."""
    end = onset + round(seconds * fps)
    events = (StagedEvent("frozen", onset, end, f"frame {onset} repeated {seconds:g} s"),)

    def apply() -> Iterator[Frame]:
        held: Frame | None = None
        for index, frame in enumerate(frames):
            if index == onset:
                held = frame
            yield held if held is not None and onset <= index < end else frame

    return Staged(apply(), events)


def _ramp(index: int, onset: int, end: int, ramp: int) -> float:
    """0 before ``onset``, rising to 1 over ``ramp`` frames, 1 until ``end``, then 0."""
    if not onset <= index < end:
        return 0.0
    return min(1.0, (index - onset + 1) / max(ramp, 1))


def covered_lens(frames: Iterable[Frame], *, onset: int, end: int, seed: int = 4, ramp: int = 3) -> Staged:
    """A hand or tape over the lens: from ``onset`` a dark, almost textureless region (levels ~15-35,
    a smooth gradient, a trace of noise) slides over ~90 % of the picture in ``ramp`` frames and
    stays until ``end``."""
    rng = np.random.default_rng([seed, 0xC0])
    level, slope = float(rng.uniform(15, 25)), float(rng.uniform(5, 12))
    events = (StagedEvent("covered", onset, end, "dark, textureless cover over ~90 % of the picture"),)

    def apply() -> Iterator[Frame]:
        cover: npt.NDArray[np.float32] | None = None
        for index, frame in enumerate(frames):
            amount = _ramp(index, onset, end, ramp)
            if amount == 0.0:
                yield frame
                continue
            height_px, width_px = frame.shape[:2]
            if cover is None:
                ys, xs = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
                cover = level + slope * (xs / width_px + ys / height_px)
            # The hand arrives from the right: its soft left edge moves from the border to 10 % in.
            edge = (1.0 - 0.9 * amount) * width_px
            xs_row = np.arange(width_px, dtype=np.float32)
            alpha = np.clip((xs_row - edge) / (0.03 * width_px) + 0.5, 0, 1)[None, :, None]
            dark = cover + rng.normal(0.0, 1.5, cover.shape).astype(np.float32)
            mixed = frame.astype(np.float32) * (1 - alpha) + dark[:, :, None] * alpha
            yield np.clip(mixed, 0, 255).astype(np.uint8)

    return Staged(apply(), events)


def defocus(frames: Iterable[Frame], *, onset: int, end: int, sigma_frac: float = 0.011, ramp: int = 5) -> Staged:
    """Someone turns the focus ring: from ``onset`` the picture blurs (a Gaussian of ``sigma_frac`` of
    the width at the end of a ``ramp``-frame turn: 8.4 px at 768 px) until ``end``."""
    events = (StagedEvent("defocused", onset, end, f"Gaussian blur sigma {sigma_frac:g} x width"),)

    def apply() -> Iterator[Frame]:
        for index, frame in enumerate(frames):
            amount = _ramp(index, onset, end, ramp)
            if amount == 0.0:
                yield frame
                continue
            sigma = max(0.3, amount * sigma_frac * frame.shape[1])
            yield np.asarray(cv2.GaussianBlur(frame, (0, 0), sigma), dtype=np.uint8)

    return Staged(apply(), events)


def camera_moved(
    frames: Iterable[Frame],
    *,
    onset: int,
    end: int,
    shift_frac: float = 0.15,
    angle_deg: float = 8.0,
    ramp: int = 5,
) -> Staged:
    """Someone pushes the camera: from ``onset`` the view pans by ``shift_frac`` of the width and
    rolls by ``angle_deg`` over ``ramp`` frames, is held there until ``end``, then is put back.
    Beyond the old picture's edge the scene is mirrored in (a black border would be a clue a real
    moved camera does not give)."""
    events = (StagedEvent("moved", onset, end, f"shift {shift_frac:g} of the width, rotation {angle_deg:g} deg"),)

    def apply() -> Iterator[Frame]:
        for index, frame in enumerate(frames):
            amount = _ramp(index, onset, end, ramp)
            if amount == 0.0:
                yield frame
                continue
            height_px, width_px = frame.shape[:2]
            matrix = cv2.getRotationMatrix2D((width_px / 2, height_px / 2), amount * angle_deg, 1.0)
            matrix[0, 2] += amount * shift_frac * width_px
            moved = cv2.warpAffine(frame, matrix, (width_px, height_px), borderMode=cv2.BORDER_REFLECT101)
            yield np.asarray(moved, dtype=np.uint8)

    return Staged(apply(), events)


# --- running the detectors ------------------------------------------------------------------


def detector_config_has(key: str) -> bool:
    """Whether the detectors' camera model knows ``key`` (e.g. ``object_check``)."""
    from detectors.zones.config import DetectorCameraConfig

    return key in DetectorCameraConfig.model_fields


WALKWAY_HALF_WIDTH = 0.03


def vtest_camera(truth: VtestTruth, **extra: Any) -> dict[str, Any]:
    """The plaza camera as a config dict: 10 fps, the ``lawn`` zone with ``intrusion`` and the
    ``walkway`` counting line with ``line_crossing`` (both directions). ``extra`` keys (for example
    ``object_check=...``) are added as they are."""
    (ax, ay), (bx, by) = truth.line
    w = WALKWAY_HALF_WIDTH
    return {
        "id": "plaza",
        "source": "vtest.avi",
        "fps": truth.fps,
        "zones": [
            {"name": "lawn", "polygon": [list(p) for p in truth.lawn], "rules": ["intrusion"], "criticality": "high"},
            {
                # The polygon is where the line is, for the operator's picture; the rule uses the line.
                "name": "walkway",
                "polygon": [[ax - w, ay], [ax + w, ay], [bx + w, by], [bx - w, by]],
                "rules": [{"line_crossing": {"line": [list(truth.line[0]), list(truth.line[1])], "direction": "both"}}],
            },
        ],
        **extra,
    }


def tree_camera(truth: TreeTruth, fps: float = 5.0, **extra: Any) -> dict[str, Any]:
    """The garden camera: the zone over the tree with ``intrusion``."""
    return {
        "id": "garden",
        "source": "tree.avi",
        "fps": fps,
        "zones": [{"name": "trees", "polygon": [list(p) for p in truth.zone], "rules": ["intrusion"]}],
        **extra,
    }


def run_analyze(video: Path, camera: dict[str, Any], *, models_dir: Path | None = None) -> list[Incident]:
    """``detectors.analyze.analyze()`` on ``video`` with the one camera ``camera`` (a config dict, as
    in the configuration file); the incidents as JSON-able dicts."""
    from detectors.analyze import analyze
    from detectors.zones.config import CameraDetectorsConfig

    config = CameraDetectorsConfig.model_validate({"timezone": "Asia/Jakarta", "cameras": [camera]})
    kwargs: dict[str, Any] = {} if models_dir is None else {"models_dir": models_dir}
    return list(analyze(video, config, str(camera["id"]), START, **kwargs))


def run_frames(frames: Iterable[Frame], fps: float, camera: dict[str, Any], work_dir: Path) -> list[Incident]:
    """:func:`run_analyze` on altered frames: written to a temporary Motion-JPEG clip first (analyze
    reads files)."""
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        clip = Path(tmp) / "clip.avi"
        write_clip(frames, clip, fps)
        return run_analyze(clip, camera)


# --- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A truth entry and the incident that reported it."""

    truth_id: str
    incident: Incident
    latency_s: float


@dataclass
class RuleScore:
    """One rule's result against the truth (see the module's docstring for the counting)."""

    rule: str
    matches: list[Match] = field(default_factory=list)
    false_incidents: list[Incident] = field(default_factory=list)
    duplicates: list[Incident] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    optional_hits: list[str] = field(default_factory=list)

    @property
    def tp(self) -> int:
        return len(self.matches)

    @property
    def fp(self) -> int:
        return len(self.false_incidents)

    @property
    def fn(self) -> int:
        return len(self.missed)

    @property
    def precision(self) -> float | None:
        """True positives over every raised incident that was not for an optional entry (None: none)."""
        raised = self.tp + self.fp + len(self.duplicates)
        return self.tp / raised if raised else None

    @property
    def recall(self) -> float | None:
        """True positives over the truth entries demanded (None: nothing was demanded)."""
        demanded = self.tp + self.fn
        return self.tp / demanded if demanded else None

    @property
    def latencies_s(self) -> list[float]:
        return [m.latency_s for m in self.matches]

    def summary(self) -> str:
        """One line: counts, precision, recall, latency."""

        def pct(v: float | None) -> str:
            return "  n/a" if v is None else f"{v:5.2f}"

        lat = self.latencies_s
        latency = f"latency median {statistics.median(lat):.1f} s, max {max(lat):.1f} s" if lat else "latency n/a"
        return (
            f"{self.rule:<13} tp {self.tp:>2}  fp {self.fp:>2}  dup {len(self.duplicates):>2}  fn {self.fn:>2}"
            f"  precision {pct(self.precision)}  recall {pct(self.recall)}  {latency}"
        )


def _raised(incident: Incident) -> bool:
    return str(incident.get("phase", "raised")) == "raised"


def _max_matching(candidates: list[list[int]], n_right: int) -> dict[int, int]:
    """Maximum bipartite matching (Kuhn's augmenting paths): ``candidates[i]`` lists the right-hand
    entries left-hand entry i may pair with, in order of preference. Returns {left: right}."""
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(candidates)):
        place(i, set())
    return {i: j for j, i in owner.items()}


def _score(
    rule: str,
    incidents: list[Incident],
    truth_ids: list[str],
    optional: list[bool],
    eligible: Callable[[Incident, int], bool],
    preference: Callable[[Incident, int], float],
    latency_s: Callable[[Incident, int], float],
) -> RuleScore:
    """Match ``incidents`` to truth entries: the demanded entries first (as many as possible), then
    the optional ones; what is left is a duplicate when it fits an entry already taken, else false."""
    incidents = sorted(incidents, key=lambda i: int(i["frame"]))
    demanded = [j for j in range(len(truth_ids)) if not optional[j]]
    optional_idx = [j for j in range(len(truth_ids)) if optional[j]]
    score = RuleScore(rule)

    def candidates(pool: list[int], which: list[int]) -> list[list[int]]:
        return [
            sorted((j for j in pool if eligible(incidents[i], j)), key=lambda j: preference(incidents[i], j))
            for i in which
        ]

    everyone = list(range(len(incidents)))
    first = _max_matching(candidates(demanded, everyone), len(truth_ids))
    rest = [i for i in everyone if i not in first]
    second = {rest[k]: j for k, j in _max_matching(candidates(optional_idx, rest), len(truth_ids)).items()}
    for i, j in sorted(first.items()):
        score.matches.append(Match(truth_ids[j], incidents[i], latency_s(incidents[i], j)))
    score.matches.sort(key=lambda m: truth_ids.index(m.truth_id))
    score.optional_hits = sorted(truth_ids[j] for j in second.values())
    taken = set(first.values()) | set(second.values())
    for i in everyone:
        if i in first or i in second:
            continue
        fits = any(eligible(incidents[i], j) for j in taken)
        (score.duplicates if fits else score.false_incidents).append(incidents[i])
    score.missed = [truth_ids[j] for j in demanded if j not in set(first.values())]
    return score


def _overlaps(first: int, last: int, windows: Sequence[tuple[int, int]]) -> bool:
    return any(first <= w_last and w_first <= last for w_first, w_last in windows)


def on_person(incident: Incident, stay: Stay) -> bool:
    """Whether the incident's box (widened by ``BOX_MARGIN``) holds the stay's feet at its frame; true
    when either is unknown (no box, no track)."""
    box = incident.get("bbox_xyxy")
    feet = stay.feet_at(int(incident["frame"]))
    if not box or feet is None:
        return True
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1 - BOX_MARGIN <= feet[0] <= x2 + BOX_MARGIN and y1 - BOX_MARGIN <= feet[1] <= y2 + BOX_MARGIN


def score_intrusions(
    incidents: Iterable[Incident],
    stays: Sequence[Stay],
    *,
    fps: float,
    n_frames: int,
    zone: str = "lawn",
    exempt: Sequence[tuple[int, int]] = (),
) -> RuleScore:
    """``intrusion`` incidents of ``zone`` against the stays. Stays overlapping an ``exempt`` window
    (frames, both ends included) are optional, as are those marked so."""
    raised = [i for i in incidents if i.get("type") == "intrusion" and i.get("zone") == zone and _raised(i)]
    spans = [(s.enter, (s.leave if s.leave is not None else n_frames) - 1) for s in stays]

    def eligible(incident: Incident, j: int) -> bool:
        enter, last = spans[j]
        frame = int(incident["frame"])
        return enter - STAY_BEFORE_FRAMES <= frame <= last + 1 + STAY_AFTER_FRAMES and on_person(incident, stays[j])

    return _score(
        "intrusion",
        raised,
        [s.id for s in stays],
        [s.optional or _overlaps(*spans[k], exempt) for k, s in enumerate(stays)],
        eligible,
        lambda incident, j: abs(int(incident["frame"]) - stays[j].enter),
        lambda incident, j: (int(incident["frame"]) - stays[j].enter) / fps,
    )


def crossing_direction(incident: Incident) -> str | None:
    """The direction a ``line_crossing`` incident reports (``details.direction``)."""
    details = incident.get("details") or {}
    direction = details.get("direction", incident.get("direction"))
    return None if direction is None else str(direction)


def score_crossings(
    incidents: Iterable[Incident],
    crossings: Sequence[Crossing],
    *,
    fps: float,
    zone: str = "walkway",
    exempt: Sequence[tuple[int, int]] = (),
) -> RuleScore:
    """``line_crossing`` incidents of ``zone`` against the crossings: same direction, within 1.5 s."""
    raised = [i for i in incidents if i.get("type") == "line_crossing" and i.get("zone") == zone and _raised(i)]
    tolerance = CROSSING_TOLERANCE_S * fps

    def eligible(incident: Incident, j: int) -> bool:
        c = crossings[j]
        return crossing_direction(incident) == c.direction and abs(int(incident["frame"]) - c.frame) <= tolerance

    return _score(
        "line_crossing",
        raised,
        [c.id for c in crossings],
        [c.optional or _overlaps(c.frame, c.frame, exempt) for c in crossings],
        eligible,
        lambda incident, j: abs(int(incident["frame"]) - crossings[j].frame),
        lambda incident, j: (int(incident["frame"]) - crossings[j].frame) / fps,
    )


def fault_kind(incident: Incident) -> str | None:
    """The camera fault an incident names: a ``tamper`` incident's ``tamper_kind``, or an incident
    whose type is itself a fault kind (``frozen``), else None."""
    kind = incident.get("type")
    if kind == "tamper":
        tamper_kind = incident.get("tamper_kind")
        return None if tamper_kind is None else str(tamper_kind)
    return str(kind) if kind in FAULT_KINDS else None


def score_faults(incidents: Iterable[Incident], events: Sequence[StagedEvent], *, fps: float) -> RuleScore:
    """Fault incidents (every kind) against the staged faults; any other fault raised is false."""
    raised = [i for i in incidents if fault_kind(i) is not None and _raised(i)]
    faults = [e for e in events if e.is_fault]

    def eligible(incident: Incident, j: int) -> bool:
        e = faults[j]
        return fault_kind(incident) == e.kind and e.onset <= int(incident["frame"]) <= e.end + FAULT_AFTER_FRAMES

    return _score(
        "tamper",
        raised,
        [f"{e.kind}@{e.onset}" for e in faults],
        [False] * len(faults),
        eligible,
        lambda incident, j: int(incident["frame"]) - faults[j].onset,
        lambda incident, j: (int(incident["frame"]) - faults[j].onset) / fps,
    )


def scored_types() -> frozenset[str]:
    """Incident types a scorer looks at (anything else on these clips is unexpected)."""
    return frozenset({"intrusion", "line_crossing", "tamper", *FAULT_KINDS})


# --- the scenarios and the report -----------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A clip to run and how to score it."""

    name: str
    what: str
    clip: Callable[[Path], Path]  # writes (or finds) the clip in the given folder
    camera: Callable[[dict[str, Any]], dict[str, Any]]  # the camera config, given the extra keys
    score: Callable[[list[Incident]], list[RuleScore]]
    asserted: bool = True
    events: tuple[StagedEvent, ...] = ()  # what was staged on the clip


def vtest_scenarios(footage_dir: Path) -> list[Scenario]:
    """The plaza clip as it is, as a low-bitrate substream, under each staged nuisance and fault."""
    truth = load_vtest_truth()
    vtest = footage_dir / "vtest.avi"
    fps, n = truth.fps, truth.frames
    fault_onset, fault_end = 250, 350  # 25-35 s: after the warm-up, before the lawn stays (503-)

    def scored(
        events: Sequence[StagedEvent] = (), exempt: Sequence[tuple[int, int]] = ()
    ) -> Callable[[list[Incident]], list[RuleScore]]:
        def score(incidents: list[Incident]) -> list[RuleScore]:
            return [
                score_intrusions(incidents, truth.stays, fps=fps, n_frames=n, exempt=exempt),
                score_crossings(incidents, truth.crossings, fps=fps, exempt=exempt),
                score_faults(incidents, events, fps=fps),
            ]

        return score

    def staged_clip(name: str, make: Callable[[Iterator[Frame]], Staged]) -> Callable[[Path], Path]:
        def clip(folder: Path) -> Path:
            path = folder / f"{name}.avi"
            if not path.exists():
                write_clip(make(read_frames(vtest)).frames, path, fps)
            return path

        return clip

    def events_of(make: Callable[[Iterator[Frame]], Staged]) -> tuple[StagedEvent, ...]:
        return make(iter(())).events

    def camera(extra: dict[str, Any]) -> dict[str, Any]:
        return vtest_camera(truth, **extra)

    settle = round(SETTLE_S * fps)
    makers: list[tuple[str, str, Callable[[Iterator[Frame]], Staged], bool]] = [
        ("low-bitrate", "384x288 substream, JPEG quality 10", lambda f: low_bitrate(f), False),
        ("headlights", "6 headlight sweeps across the lawn",
         lambda f: headlight_sweeps(f, n_frames=n, fps=fps, lawn=truth.lawn), False),
        ("shadows", "a cloud's shadow and 4 passers-by's shadows",
         lambda f: cast_shadows(f, n_frames=n, fps=fps), False),
        ("ir-switch", "IR night mode 25-45 s", lambda f: ir_switch(f, onset=250, end=450), True),
        ("covered", "lens covered 25-35 s", lambda f: covered_lens(f, onset=fault_onset, end=fault_end), True),
        ("defocused", "defocused 25-35 s", lambda f: defocus(f, onset=fault_onset, end=fault_end), True),
        ("moved", "moved 25-35 s", lambda f: camera_moved(f, onset=fault_onset, end=fault_end), True),
        ("frozen", "picture frozen 25-35 s",
         lambda f: frozen_picture(f, onset=fault_onset, seconds=10.0, fps=fps), True),
    ]  # fmt: skip
    scenarios = [Scenario("vtest", "the plaza camera as recorded", lambda _: vtest, camera, scored())]
    for name, what, make, windowed in makers:
        events = events_of(make)
        exempt: list[tuple[int, int]] = []
        if windowed:
            for e in events:
                if e.is_fault:  # zones stand down while the camera is tampered with
                    exempt.append((e.onset, e.end + settle))
                else:
                    exempt += [(e.onset, e.onset + settle), (e.end, e.end + settle)]
        scenarios.append(
            Scenario(f"vtest-{name}", what, staged_clip(name, make), camera, scored(events, exempt), events=events)
        )
    return scenarios


def tree_scenarios(footage_dir: Path) -> list[Scenario]:
    """The swaying tree (foliage only, asserted) and the whole recording with the hand (reported)."""
    truth = load_tree_truth()
    tree = footage_dir / "tree.avi"

    def clip(name: str, frames: Callable[[], Iterator[Frame]]) -> Callable[[Path], Path]:
        def make(folder: Path) -> Path:
            path = folder / f"{name}.avi"
            if not path.exists():
                write_clip(frames(), path, 5.0)
            return path

        return make

    def camera(extra: dict[str, Any]) -> dict[str, Any]:
        return tree_camera(truth, **extra)

    def nothing(incidents: list[Incident]) -> list[RuleScore]:
        return [
            score_intrusions(incidents, [], fps=5.0, n_frames=10**9, zone="trees"),
            score_faults(incidents, [], fps=5.0),
        ]

    return [
        Scenario("tree", "foliage only, 60 s at 5 fps", clip("tree", lambda: tree_scene(tree, truth)), camera, nothing),
        Scenario(
            "tree-as-recorded",
            f"all of tree.avi at its own times (a hand before the lens from picture {truth.hand_in_front_of_lens[0]})",
            clip("tree-as-recorded", lambda: tree_as_recorded(tree)),
            camera,
            nothing,
            asserted=False,
        ),
    ]


def near_miss_note(incident: Incident, truth: VtestTruth) -> str:
    """For an intrusion: the annotated near miss (or stay) its frame falls in, for the report."""
    if incident.get("type") != "intrusion":
        return ""
    frame = int(incident["frame"])
    for n in truth.near_misses:
        if n.first <= frame <= n.last:
            return f"near miss {n.first}-{n.last}: {n.note}"
    for s in truth.stays:
        if (
            s.enter - STAY_BEFORE_FRAMES
            <= frame
            <= (s.leave if s.leave is not None else truth.frames) + STAY_AFTER_FRAMES
        ):
            return f"during stay {s.id}"
    return ""


def describe(incident: Incident) -> str:
    """One incident, briefly."""
    box = incident.get("bbox_xyxy")
    where = "" if not box else " box " + ",".join(f"{v:.2f}" for v in box)
    kind = incident.get("tamper_kind") or crossing_direction(incident) or ""
    return (
        f"frame {int(incident['frame']):>4} ({float(incident['offset_s']):5.1f} s) {incident['type']}"
        f"{'/' + str(incident['zone']) if incident.get('zone') else ''}{' ' + kind if kind else ''}"
        f" track {incident.get('track_id')}{where} confidence {incident.get('confidence')}"
    )


def variants(object_check: str) -> list[tuple[str, dict[str, Any]]]:
    """The camera variants to run: ``motion`` (no object confirmation), ``objects`` (the default
    object check: SSD-MobileNet-v2, min score 0.5), ``yolo`` (YOLOv3-tiny) or ``both`` (motion and
    objects); on code without the ``object_check`` key, the camera as it is."""
    if not detector_config_has("object_check"):
        return [("as configured (no object_check key in this code)", {})]
    chosen: list[tuple[str, dict[str, Any]]] = []
    if object_check in ("motion", "both"):
        chosen.append(("motion only", {"object_check": None}))
    if object_check in ("objects", "both"):
        chosen.append(("object check ssd-mobilenet-v2", {"object_check": {"model": "ssd-mobilenet-v2"}}))
    if object_check == "yolo":
        chosen.append(("object check yolov3-tiny", {"object_check": {"model": "yolov3-tiny"}}))
    return chosen


def report(footage_dir: Path, work_dir: Path, object_check: str, only: Sequence[str] = (), out: Any = None) -> int:
    """Run every scenario (or those named in ``only``) and print scores and false incidents; returns
    the number of scenarios that could not run."""
    out = out or sys.stdout
    truth = load_vtest_truth()
    failures = 0
    for scenario in vtest_scenarios(footage_dir) + tree_scenarios(footage_dir):
        if only and scenario.name not in only:
            continue
        clip = scenario.clip(work_dir)
        for label, extra in variants(object_check):
            print(
                f"\n== {scenario.name}: {scenario.what} [{label}]{'' if scenario.asserted else ' (reported only)'}",
                file=out,
            )
            try:
                incidents = run_analyze(clip, scenario.camera(extra))
            except Exception as exc:  # the report goes on to the next clip and says why this one failed
                failures += 1
                print(f"   could not run: {type(exc).__name__}: {exc}", file=out)
                continue
            for score in scenario.score(incidents):
                print("   " + score.summary(), file=out)
                for m in score.matches:
                    print(
                        f"      ok      {m.truth_id:<14} {describe(m.incident)}  latency {m.latency_s:+.1f} s", file=out
                    )
                for incident in score.false_incidents:
                    note = near_miss_note(incident, truth) if scenario.name.startswith("vtest") else ""
                    print(f"      FALSE   {describe(incident)}{'  [' + note + ']' if note else ''}", file=out)
                for incident in score.duplicates:
                    print(f"      DUPLICATE {describe(incident)}", file=out)
                if score.missed:
                    print(f"      missed  {', '.join(score.missed)}", file=out)
                if score.optional_hits:
                    print(f"      optional entries reported: {', '.join(score.optional_hits)}", file=out)
            others = [i for i in incidents if i.get("type") not in scored_types()]
            for incident in others:
                print(f"      OTHER   {describe(incident)}", file=out)
            cleared = [i for i in incidents if not _raised(i)]
            if cleared:
                print(f"      cleared: {', '.join(describe(i) for i in cleared)}", file=out)
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.detectors.footage report [--object-check motion|objects|both] [--only NAME...]``."""
    from pantau.footage import ensure_opencv_footage

    parser = argparse.ArgumentParser(prog="python -m tests.detectors.footage", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="run the detectors on the real clips and print scores and false incidents")
    rep.add_argument("--object-check", choices=("motion", "objects", "yolo", "both"), default="both")
    rep.add_argument("--only", nargs="*", default=(), help="scenario names (vtest, vtest-headlights, tree, ...)")
    rep.add_argument(
        "--work-dir", type=Path, default=None, help="where the altered clips are kept (default: temporary)"
    )
    args = parser.parse_args(argv)
    footage_dir = ensure_opencv_footage()
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        return 1 if report(footage_dir, args.work_dir, args.object_check, args.only) else 0
    with tempfile.TemporaryDirectory(prefix="pantau-footage-report-") as tmp:
        return 1 if report(footage_dir, Path(tmp), args.object_check, args.only) else 0


if __name__ == "__main__":
    sys.exit(main())
