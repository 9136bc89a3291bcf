"""Deterministic synthetic CCTV scenes with ground truth, for testing the video detectors.

A scene is a textured static background, person-like figures walking along waypoint paths, and any
number of nuisances that must *not* raise detections: global lighting steps and ramps, an IR-style
switch (contrast, brightness and gamma change), Gaussian sensor noise, rain streaks, camera shake and
swaying foliage. Camera *tampering* can be staged too: a covered lens, a defocused lens and a camera
moved to another view (:class:`LensCovered`, :class:`Defocus`, :class:`CameraMoved`). Everything random
comes from seeded generators, so a spec renders the same frames every time::

    spec = SceneSpec(figures=[FigurePath(1, [(-0.05, 0.8), (1.05, 0.8)], start_s=2.0)],
                     nuisances=[Rain()], frames=100, seed=7)
    for frame in render(spec):
        frame.gray, frame.truth  # uint8 (height, width) and the figures' normalized boxes

Render order, chosen to match what a camera sees: scene (background, foliage; moved by
:class:`CameraMoved`; then figures) -> camera shake (a crop of a larger canvas) -> lighting (gain,
offset, gamma) -> rain -> defocus -> covered lens -> sensor noise.

The tamper nuisances draw their randomness from a second generator, so adding one to a spec leaves every
other random choice (and so every frame before its onset) exactly as without it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

Gray = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]
XYXY = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class FigurePath:
    """A person-like figure walking along ``waypoints`` (normalized bottom-centre points, x then y).

    It appears at ``start_s`` on the first waypoint, walks at ``speed_px_s`` and disappears on reaching
    the last one; waypoints may lie outside 0..1 so that it walks in or out of the frame. With
    ``dwell_s`` it stands that long at every waypoint between the first and the last (a loiterer,
    a crowd milling about), shifting its weight by up to ``sway_px`` as people standing do.
    """

    figure_id: int
    waypoints: Sequence[tuple[float, float]]
    start_s: float = 0.0
    speed_px_s: float = 40.0  # ~1.4 m/s when a 50 px figure is ~1.7 m tall
    width_px: int = 20
    height_px: int = 50
    intensity: int = 40  # dark clothes by default; > 128 for a bright figure
    dwell_s: float = 0.0
    sway_px: float = 1.5
    # "blob": a simple body-and-head shape; "person": a silhouette in human proportions (head,
    # shoulders, arms, legs) that HOG's people detector recognises; "vehicle": a car-like box, for
    # what the person check must turn away.
    shape: Literal["blob", "person", "vehicle"] = "blob"


@dataclass(frozen=True, slots=True)
class LightingStep:
    """From ``at_s`` on, every pixel becomes ``gain * v + offset`` (lights switching on or off)."""

    at_s: float
    gain: float = 1.3
    offset: float = 30.0


@dataclass(frozen=True, slots=True)
class LightingRamp:
    """Gain and offset move linearly from identity at ``start_s`` to the given values at ``end_s`` (dusk, AE)."""

    start_s: float
    end_s: float
    gain: float = 0.6
    offset: float = -20.0


@dataclass(frozen=True, slots=True)
class IrSwitch:
    """Day/night switch at ``at_s``: contrast, brightness and a gamma change, so not a pure affine map."""

    at_s: float
    gain: float = 1.5
    offset: float = -40.0
    gamma: float = 0.8


@dataclass(frozen=True, slots=True)
class SensorNoise:
    """Additive Gaussian noise of standard deviation ``sigma_levels`` (gray levels), fresh every frame."""

    sigma_levels: float = 8.0


@dataclass(frozen=True, slots=True)
class Rain:
    """``streaks_per_frame`` thin bright streaks at random places every frame, slanted like wind-blown rain."""

    streaks_per_frame: int = 150
    length_px: tuple[int, int] = (8, 20)
    brightness_levels: tuple[int, int] = (40, 90)
    slant_frac: float = 0.25  # horizontal run per unit of fall


@dataclass(frozen=True, slots=True)
class CameraShake:
    """Whole-frame random translation of up to ``amplitude_px`` in x and y, fresh every frame (wind, traffic)."""

    amplitude_px: int = 3


@dataclass(frozen=True, slots=True)
class Foliage:
    """A high-contrast leafy patch over normalized ``xyxy`` swaying in place by up to ``amplitude_px``."""

    xyxy: XYXY = (0.6, 0.1, 0.85, 0.45)
    amplitude_px: float = 3.0
    period_s: float = 1.7
    jitter_px: float = 1.0  # gusts: random extra offset per frame


@dataclass(frozen=True, slots=True)
class LensCovered:
    """From ``at_s`` until ``until_s`` (None: for good) the lens is blocked: a nearly uniform frame.

    The frame becomes ``level`` gray levels with a faint smooth shading of ``shading_levels`` (a hand or
    tape is never perfectly flat) and ``noise_levels`` of Gaussian noise; lighting and rain no longer show,
    sensor noise still does.
    """

    at_s: float
    until_s: float | None = None
    level: float = 18.0
    shading_levels: float = 4.0
    noise_levels: float = 2.0


@dataclass(frozen=True, slots=True)
class Defocus:
    """From ``at_s`` until ``until_s`` (None: for good) the optics blur the view: Gaussian of ``sigma_px``."""

    at_s: float
    until_s: float | None = None
    sigma_px: float = 6.0


@dataclass(frozen=True, slots=True)
class CameraMoved:
    """From ``at_s`` on the camera looks elsewhere: the static scene is shifted by ``shift_px`` (dx, dy)
    and rotated by ``angle_deg`` about the frame centre, for good.

    Borders uncovered by the move are filled by mirroring the scene's texture. Figures keep walking
    along their waypoints in *image* coordinates, so their ground truth stays exact.
    """

    at_s: float
    shift_px: tuple[float, float] = (60.0, 0.0)
    angle_deg: float = 0.0


Tamper = LensCovered | Defocus | CameraMoved
Nuisance = LightingStep | LightingRamp | IrSwitch | SensorNoise | Rain | CameraShake | Foliage | Tamper


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """What to render: figures, nuisances, frame count, rate, size and the seed of every random choice."""

    figures: Sequence[FigurePath] = ()
    nuisances: Sequence[Nuisance] = ()
    frames: int = 100
    fps: float = 5.0
    width_px: int = 640
    height_px: int = 360
    seed: int = 0
    # Every real camera's picture carries some sensor noise, so no two frames are the same; 0 renders
    # a perfectly still picture, which is what a frozen feed looks like. Drawn from a generator of
    # its own, so it changes no other random choice.
    base_noise_levels: float = 1.0


@dataclass(frozen=True, slots=True)
class TruthBox:
    """One visible figure: normalized box (clipped to the frame) and the fraction of it inside the frame."""

    figure_id: int
    xyxy: XYXY
    visible_frac: float

    @property
    def bottom_centre(self) -> tuple[float, float]:
        return ((self.xyxy[0] + self.xyxy[2]) / 2, self.xyxy[3])


@dataclass(frozen=True, slots=True)
class SyntheticFrame:
    index: int
    ts_s: float
    gray: Gray
    truth: list[TruthBox] = field(default_factory=list)


def _texture(rng: np.random.Generator, height_px: int, width_px: int, scales_px: Sequence[float]) -> FloatImage:
    """Blurred noise summed over several scales, normalized to zero mean and unit std."""
    out = np.zeros((height_px, width_px), np.float32)
    for scale in scales_px:
        noise = rng.standard_normal((height_px, width_px)).astype(np.float32)
        layer = np.asarray(cv2.GaussianBlur(noise, (0, 0), scale), np.float32)
        out += layer / np.float32(max(float(layer.std()), 1e-6))
    return np.asarray((out - out.mean()) / max(float(out.std()), 1e-6), np.float32)


def _background(rng: np.random.Generator, height_px: int, width_px: int) -> FloatImage:
    """A street-like scene: smooth shading, mid-scale texture and a few flat 'buildings' and a 'road'."""
    bg = 120 + 25 * _texture(rng, height_px, width_px, (40.0, 8.0, 2.0))
    for _ in range(6):
        x0 = int(rng.integers(0, width_px - 40))
        y0 = int(rng.integers(0, height_px // 2))
        x1 = x0 + int(rng.integers(30, 150))
        y1 = y0 + int(rng.integers(30, 120))
        bg[y0:y1, x0:x1] = bg[y0:y1, x0:x1] * 0.5 + float(rng.uniform(80, 180)) * 0.5
    bg[int(height_px * 0.65) :, :] = bg[int(height_px * 0.65) :, :] * 0.6 + 100 * 0.4
    return np.clip(bg, 20, 235).astype(np.float32)


def _figure_position(fig: FigurePath, t_s: float, width_px: int, height_px: int) -> tuple[float, float] | None:
    """Bottom-centre in pixels at ``t_s``, or None before the start or after the last waypoint."""
    if t_s < fig.start_s or len(fig.waypoints) < 2:
        return None
    remaining_s = t_s - fig.start_s
    points = [(x * width_px, y * height_px) for x, y in fig.waypoints]
    for index, ((x0, y0), (x1, y1)) in enumerate(itertools.pairwise(points)):
        walk_s = math.hypot(x1 - x0, y1 - y0) / fig.speed_px_s
        if remaining_s <= walk_s:
            f = remaining_s / walk_s if walk_s > 0 else 0.0
            return x0 + f * (x1 - x0), y0 + f * (y1 - y0)
        remaining_s -= walk_s
        if index < len(points) - 2 and fig.dwell_s > 0:
            if remaining_s <= fig.dwell_s:
                # Standing: a slow weight shift, never a walk.
                sway = fig.sway_px * math.sin(2 * math.pi * remaining_s / 2.3 + fig.figure_id)
                return x1 + sway, y1
            remaining_s -= fig.dwell_s
    return None


def _draw_person(canvas: FloatImage, fig: FigurePath, x: float, y: float) -> None:
    """A standing person ``height_px`` tall in classic proportions (the head an eighth of the height)."""
    u = fig.height_px / 8.0
    value = float(fig.intensity)

    def pt(dx: float, dy: float) -> tuple[int, int]:
        return round(x + dx * u), round(y - dy * u)

    cv2.ellipse(canvas, pt(0, 7.4), (max(1, round(0.45 * u)), max(1, round(0.55 * u))), 0, 0, 360, value + 10, -1)
    cv2.rectangle(canvas, pt(-0.12, 6.9), pt(0.12, 6.5), value, -1)
    torso = np.array([pt(-1.0, 6.5), pt(1.0, 6.5), pt(0.8, 3.9), pt(-0.8, 3.9)], np.int32)
    cv2.fillPoly(canvas, [torso], value, cv2.LINE_AA)
    for side in (-1, 1):
        cv2.line(canvas, pt(side * 1.0, 6.3), pt(side * 1.25, 3.6), value, max(1, round(0.4 * u)), cv2.LINE_AA)
        cv2.line(canvas, pt(side * 0.45, 4.0), pt(side * 0.7, 0.1), value - 10, max(1, round(0.55 * u)), cv2.LINE_AA)


def _draw_vehicle(canvas: FloatImage, fig: FigurePath, x: float, y: float) -> None:
    """A car seen from the side: body, a cabin with darker windows, two wheels."""
    w, h = fig.width_px, fig.height_px
    value = float(fig.intensity)
    x0, x1 = round(x - w / 2), round(x + w / 2)
    cv2.rectangle(canvas, (x0, round(y - h * 0.75)), (x1, round(y - h * 0.2)), value, -1)
    cv2.rectangle(canvas, (round(x0 + w * 0.2), round(y - h)), (round(x1 - w * 0.2), round(y - h * 0.7)), value, -1)
    cv2.rectangle(
        canvas, (round(x0 + w * 0.26), round(y - h * 0.93)), (round(x1 - w * 0.26), round(y - h * 0.76)), value + 60, -1
    )
    for wheel_x in (x0 + w * 0.22, x1 - w * 0.22):
        cv2.circle(canvas, (round(wheel_x), round(y - h * 0.2)), max(2, round(h * 0.2)), value - 20, -1, cv2.LINE_AA)


def _draw_figure(canvas: FloatImage, fig: FigurePath, x_px: float, y_px: float) -> None:
    """The figure's shape with its bottom-centre at (x_px, y_px)."""
    if fig.shape == "person":
        _draw_person(canvas, fig, x_px, y_px)
        return
    if fig.shape == "vehicle":
        _draw_vehicle(canvas, fig, x_px, y_px)
        return
    w, h = fig.width_px, fig.height_px
    head_r = max(2, w // 4)
    body_top = y_px - h + 2 * head_r
    centre = (round(x_px), round((body_top + y_px) / 2))
    axes = (max(1, w // 2), max(1, round((y_px - body_top) / 2)))
    value = float(fig.intensity)
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, value, -1, cv2.LINE_AA)
    cv2.circle(canvas, (round(x_px), round(y_px - h + head_r)), head_r, value + 15, -1, cv2.LINE_AA)
    legs = (round(x_px), round(y_px - h * 0.25))
    cv2.rectangle(canvas, (legs[0] - w // 3, legs[1]), (legs[0] + w // 3, round(y_px)), value - 10, -1)


def _active(at_s: float, until_s: float | None, t_s: float) -> bool:
    return t_s >= at_s and (until_s is None or t_s < until_s)


def _move_matrix(moves: Sequence[CameraMoved], t_s: float, width_px: int, height_px: int) -> npt.NDArray[np.float64]:
    """The 2x3 affine map of all moves in effect at ``t_s`` (composed in order), about the canvas centre."""
    total = np.eye(3)
    centre = (width_px / 2, height_px / 2)
    for move in moves:
        if t_s >= move.at_s:
            m = np.vstack([cv2.getRotationMatrix2D(centre, move.angle_deg, 1.0), [0.0, 0.0, 1.0]])
            m[0, 2] += move.shift_px[0]
            m[1, 2] += move.shift_px[1]
            total = m @ total
    return total[:2]


def _cover(shape: tuple[int, int], cover: LensCovered, rng: np.random.Generator) -> FloatImage:
    """A nearly flat frame: the level, a faint diagonal shading and a little noise."""
    h, w = shape
    ramp = np.add.outer(np.linspace(-0.5, 0.5, h, dtype=np.float32), np.linspace(-0.5, 0.5, w, dtype=np.float32))
    flat = np.float32(cover.level) + np.float32(cover.shading_levels) * ramp
    return np.asarray(flat + rng.normal(0.0, cover.noise_levels, shape).astype(np.float32), np.float32)


def render(spec: SceneSpec) -> Iterator[SyntheticFrame]:
    """The spec's frames in order, each with its ground truth."""
    rng = np.random.default_rng(spec.seed)
    # A separate stream for tampering, so its draws never shift the scene's own random choices.
    tamper_rng = np.random.default_rng([spec.seed, 0x7A3])
    noise_rng = np.random.default_rng([spec.seed, 0x5E5])
    moves = [n for n in spec.nuisances if isinstance(n, CameraMoved)]
    w, h = spec.width_px, spec.height_px
    shake = next((n for n in spec.nuisances if isinstance(n, CameraShake)), None)
    margin_px = shake.amplitude_px if shake is not None else 0
    # The background is rendered larger than the frame so a shaken crop never shows an empty border.
    bg = _background(rng, h + 2 * margin_px, w + 2 * margin_px)
    foliage = [n for n in spec.nuisances if isinstance(n, Foliage)]
    leaves = [np.clip(100 + 60 * _texture(rng, h + 40, w + 40, (1.2, 3.0)), 0, 255).astype(np.float32) for _ in foliage]
    phases = [float(rng.uniform(0, 2 * math.pi)) for _ in foliage]
    for index in range(spec.frames):
        t_s = index / spec.fps
        canvas = bg.copy()
        for leaf, phase, fol in zip(leaves, phases, foliage, strict=True):
            sway = fol.amplitude_px * math.sin(2 * math.pi * t_s / fol.period_s + phase)
            dx = round(sway + rng.uniform(-fol.jitter_px, fol.jitter_px))
            dy = round(0.3 * sway + rng.uniform(-fol.jitter_px, fol.jitter_px))
            x0, y0 = round(fol.xyxy[0] * w) + margin_px, round(fol.xyxy[1] * h) + margin_px
            x1, y1 = round(fol.xyxy[2] * w) + margin_px, round(fol.xyxy[3] * h) + margin_px
            canvas[y0:y1, x0:x1] = leaf[20 + y0 + dy : 20 + y1 + dy, 20 + x0 + dx : 20 + x1 + dx]
        if any(t_s >= m.at_s for m in moves):
            canvas_h, canvas_w = canvas.shape
            matrix = _move_matrix(moves, t_s, canvas_w, canvas_h)
            canvas = np.asarray(
                cv2.warpAffine(
                    canvas, matrix, (canvas_w, canvas_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
                ),
                np.float32,
            )
        truth: list[TruthBox] = []
        shift_x = shift_y = 0
        if shake is not None:
            shift_x = int(rng.integers(-shake.amplitude_px, shake.amplitude_px + 1))
            shift_y = int(rng.integers(-shake.amplitude_px, shake.amplitude_px + 1))
        for fig in spec.figures:
            pos = _figure_position(fig, t_s, w, h)
            if pos is None:
                continue
            _draw_figure(canvas, fig, pos[0] + margin_px, pos[1] + margin_px)
            # The frame shows the canvas from (margin + shift), so a scene point moves by -shift in the image.
            x0f, x1f = pos[0] - fig.width_px / 2 - shift_x, pos[0] + fig.width_px / 2 - shift_x
            y0f, y1f = pos[1] - fig.height_px - shift_y, pos[1] - shift_y
            cx0, cy0, cx1, cy1 = max(x0f, 0.0), max(y0f, 0.0), min(x1f, float(w)), min(y1f, float(h))
            if cx1 <= cx0 or cy1 <= cy0:
                continue
            visible = (cx1 - cx0) * (cy1 - cy0) / (fig.width_px * fig.height_px)
            truth.append(TruthBox(fig.figure_id, (cx0 / w, cy0 / h, cx1 / w, cy1 / h), visible))
        top, left = margin_px + shift_y, margin_px + shift_x
        frame = canvas[top : top + h, left : left + w]
        frame = _apply_lighting(frame, spec.nuisances, t_s)
        for nuisance in spec.nuisances:
            if isinstance(nuisance, Rain):
                frame = _add_rain(frame, nuisance, rng)
        for nuisance in spec.nuisances:
            if isinstance(nuisance, Defocus) and _active(nuisance.at_s, nuisance.until_s, t_s):
                frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), nuisance.sigma_px), np.float32)
        for nuisance in spec.nuisances:
            if isinstance(nuisance, LensCovered) and _active(nuisance.at_s, nuisance.until_s, t_s):
                frame = _cover((h, w), nuisance, tamper_rng)
        for nuisance in spec.nuisances:
            if isinstance(nuisance, SensorNoise):
                frame = frame + rng.normal(0.0, nuisance.sigma_levels, frame.shape).astype(np.float32)
        if spec.base_noise_levels > 0:
            frame = frame + noise_rng.normal(0.0, spec.base_noise_levels, frame.shape).astype(np.float32)
        gray: Gray = np.clip(frame, 0, 255).astype(np.uint8)
        yield SyntheticFrame(index, t_s, gray, truth)


def write_video(spec: SceneSpec, path: Path) -> Path:
    """The spec's frames as a Motion-JPEG AVI at ``path`` (written beside it, then renamed: a reader
    never sees half a file); ``path``."""
    tmp = path.with_name(path.stem + ".tmp.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), spec.fps, (spec.width_px, spec.height_px))
    for frame in render(spec):
        writer.write(cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR))
    writer.release()
    tmp.rename(path)
    return path


def _apply_lighting(frame: FloatImage, nuisances: Sequence[Nuisance], t_s: float) -> FloatImage:
    out = frame
    for n in nuisances:
        if isinstance(n, LightingStep) and t_s >= n.at_s:
            out = out * n.gain + n.offset
        elif isinstance(n, LightingRamp) and t_s > n.start_s:
            f = min(1.0, (t_s - n.start_s) / max(n.end_s - n.start_s, 1e-9))
            out = out * (1 + f * (n.gain - 1)) + f * n.offset
        elif isinstance(n, IrSwitch) and t_s >= n.at_s:
            curved = 255.0 * np.power(np.clip(out, 0, 255) / 255.0, n.gamma)
            out = curved * n.gain + n.offset
    return np.asarray(out, np.float32)


def _add_rain(frame: FloatImage, rain: Rain, rng: np.random.Generator) -> FloatImage:
    h, w = frame.shape
    streaks = np.zeros((h, w), np.float32)
    n = rain.streaks_per_frame
    xs = rng.integers(0, w, n)
    ys = rng.integers(0, h, n)
    lengths = rng.integers(rain.length_px[0], rain.length_px[1] + 1, n)
    values = rng.integers(rain.brightness_levels[0], rain.brightness_levels[1] + 1, n)
    for x, y, length, value in zip(xs.tolist(), ys.tolist(), lengths.tolist(), values.tolist(), strict=True):
        end = (round(x + length * rain.slant_frac), y + length)
        cv2.line(streaks, (x, y), end, float(value), 1)
    return frame + streaks
