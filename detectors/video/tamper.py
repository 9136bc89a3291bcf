"""Camera faults on grayscale frames: a covered lens, a defocused lens, a moved camera, a frozen picture.

See :class:`TamperDetector` for the first three and :class:`FreezeWatch` for the last. Tamper runs on
a small downscaled copy (160 px wide by default) with whole-array OpenCV operations, well under a
millisecond of work per 640x360 frame.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

Gray = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]
MatLike = npt.NDArray[Any]
TamperKind = Literal["covered", "defocused", "moved", "frozen"]
GridCount = Annotated[int, Field(ge=1, le=16)]

# Gaussian scales (work pixels) of the three band edges used for sharpness and texture: band "fine" is
# sigma 0.7..1.4 (about 3..6 px at 640 wide), band "coarse" is 1.4..2.8. Sensor noise, after the
# downscale's area averaging, lives mostly below the fine band, so both bands measure the scene.
_BAND_SIGMAS_PX = (0.7, 1.4, 2.8)
# Blur (work pixels) before alignment: keeps noise, rain and foliage flicker out of the phase correlation.
_ALIGN_BLUR_PX = 1.0
_EPS = 1e-6


class TamperConfig(BaseModel):
    """Tuning of :class:`TamperDetector`. Pixel sizes are in *work* pixels (after downscaling)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    work_width_px: int = Field(160, ge=64, le=1024, description="frames are downscaled to this width first")
    reference_frames: int = Field(10, ge=1, description="frames averaged into the first reference, no verdicts")
    reference_learning_rate: float = Field(
        0.02, gt=0, le=1, description="per-frame refresh of the reference while nothing is wrong"
    )
    hold_frames: int = Field(10, ge=1, description="consecutive frames a condition must hold before it is reported")
    clear_frames: int = Field(5, ge=1, description="consecutive frames without it before a reported condition ends")
    covered_texture_ratio: float = Field(
        0.2, gt=0, lt=1, description="covered: coarse-band texture below this fraction of the reference"
    )
    covered_tile_frac: float = Field(
        0.6, gt=0, le=1, description="covered: or this many tiles' texture below covered_texture_ratio of theirs"
    )
    covered_max_response: float = Field(
        0.3, gt=0, lt=1, description="covered: and the view no longer correlates with the reference"
    )
    defocused_sharpness_ratio: float = Field(
        0.75, gt=0, lt=1, description="defocused: fine/coarse band ratio below this fraction of the reference's"
    )
    grid: tuple[GridCount, GridCount] = Field(
        (4, 3), description="tiles (columns, rows) aligned separately against the reference"
    )
    tile_max_shift_px: float = Field(2.0, gt=0, description="a tile further off than this is misaligned (shake: ~1)")
    tile_min_response: float = Field(0.2, gt=0, lt=1, description="a tile correlating less is misaligned")
    skip_tiles_min_response: float = Field(
        0.75, gt=0, le=1, description="whole-frame correlation above which (with no shift) tiles are not checked"
    )
    moved_tile_frac: float = Field(
        0.6, gt=0, le=1, description="moved: at least this fraction of tiles misaligned (a passer-by covers fewer)"
    )
    refresh_max_tile_frac: float = Field(
        0.25, ge=0, le=1, description="the reference only learns from frames with at most this many tiles misaligned"
    )


@dataclass(frozen=True, slots=True)
class TamperResult:
    """What one frame showed.

    ``kind`` is the condition currently reported (held for ``hold_frames``), ``raised`` is set only on
    the frame a condition starts being reported (one event per episode) and ``cleared`` on the frame a
    reported condition ends. The other fields are the measurements behind the verdict.
    """

    frame_index: int
    kind: TamperKind | None
    raised: TamperKind | None
    cleared: TamperKind | None
    candidate: TamperKind | None  # this frame's raw verdict, before holding
    warming_up: bool
    texture_ratio: float  # coarse-band energy (gray levels) over the reference's: ~0 when covered
    sharpness_ratio: float  # fine/coarse band ratio over the reference's: well below 1 when defocused
    misaligned_frac: float  # fraction of tiles that no longer align with the reference
    shift_frac: float  # whole-frame shift against the reference, fraction of the width
    response: float  # whole-frame phase-correlation peak (1: identical structure, ~0: unrelated)


@dataclass(frozen=True, slots=True)
class _Measures:
    texture_levels: float
    tile_texture: FloatImage  # coarse-band RMS per tile (grid rows x columns)
    sharpness: float
    align: FloatImage  # brightness/contrast-normalized, blurred work image


def _rms(image: FloatImage) -> float:
    return float(np.sqrt(np.mean(image * image)))


class TamperDetector:
    """Covered / defocused / moved camera detection for one camera, robust to ordinary scene activity.

    Per frame, on a copy downscaled to ``work_width_px``:

    1. *Bands*: differences of Gaussians give a fine band (about 3..6 px at 640 wide) and a coarse band
       (about 6..11 px). Their RMS in gray levels is the *texture*; their ratio fine/coarse is the
       *sharpness*, which does not depend on brightness or contrast (lights, auto exposure, the IR
       switch scale both bands alike) and barely on noise (area averaging removed most of it).
    2. *Alignment*: the blurred frame, normalized to zero mean and unit std, is phase-correlated with the
       reference as a whole (``shift_frac``, ``response``) and tile by tile (``grid``). A tile is
       misaligned if it is shifted by more than ``tile_max_shift_px`` or barely correlates. A walker,
       even a big close one, spoils a few tiles; a moved or rotated camera spoils most of them; small
       shake (about 1 work px) spoils none.
    3. *Verdict*, first match wins: ``covered`` if the texture collapsed below ``covered_texture_ratio``
       of the reference and the frame no longer correlates with it (a dark scene keeps its structure,
       a hand or tape does not); ``defocused`` if the sharpness fell below ``defocused_sharpness_ratio``
       of the reference's; ``moved`` if at least ``moved_tile_frac`` of the tiles are misaligned.
    4. *Holding*: a verdict is reported after ``hold_frames`` consecutive frames and ends after
       ``clear_frames`` consecutive frames without it, so each episode gives one ``raised`` and one
       ``cleared``.
    5. *Reference*: the mean of the first ``reference_frames`` frames, then refreshed at
       ``reference_learning_rate`` on frames with no verdict and few misaligned tiles (slow drift such
       as dust or seasons is absorbed; a walker is not). The reference is the view the zones were
       drawn on, so ``moved`` stays reported (one alarm, not one per frame) until the camera points
       there again, or until :meth:`rehome` accepts the view as it is (the zones were redrawn on it).

    The frame size is taken from the first frame; a frame of another size restarts the reference.
    """

    def __init__(self, config: TamperConfig | None = None) -> None:
        self.config = config or TamperConfig()
        self.reset()

    def rehome(self) -> None:
        """Take the next frame's view as the reference (the zones were drawn on it); a ``moved``
        being reported is cleared on that frame."""
        self._rehome = True

    def reset(self) -> None:
        """Forget the reference and any reported condition (the next frame starts a new one)."""
        self._frame_shape: tuple[int, int] | None = None
        self._work_size: tuple[int, int] = (0, 0)  # (width, height) as OpenCV wants it
        self._frames = 0
        self._ref_align: FloatImage | None = None
        self._ref_texture_levels = 0.0
        self._ref_tile_texture: FloatImage | None = None
        self._ref_sharpness = 0.0
        self._window: FloatImage | None = None
        self._tiles: list[tuple[slice, slice, FloatImage]] = []  # (rows, columns, Hann window) per tile
        self._streak_kind: TamperKind | None = None
        self._streak_frames = 0
        self._reported: TamperKind | None = None
        self._ok_frames = 0
        self._rehome = False

    @property
    def frames_seen(self) -> int:
        return self._frames

    def process(self, gray: Gray) -> TamperResult:
        """The verdict after one more frame."""
        if gray.ndim != 2:
            raise ValueError(f"expected a 2-D grayscale frame, got shape {gray.shape}")
        cfg = self.config
        if self._frame_shape != gray.shape:
            self.reset()
            self._setup(gray.shape[0], gray.shape[1])
        rehomed: TamperKind | None = None
        if self._rehome:
            # The view was accepted as it is now (zones redrawn on it): the reference is learned
            # afresh from the next frames, and a 'moved' being reported ends here.
            self._rehome = False
            self._frames, self._ref_align = 0, None
            self._streak_kind, self._streak_frames = None, 0
            if self._reported == "moved":
                rehomed, self._reported = "moved", None
        index = self._frames
        self._frames += 1
        m = self._measure(gray)

        if index < cfg.reference_frames or self._ref_align is None:
            # A plain running mean over the reference frames.
            self._learn(m, 1.0 / (index + 1))
            return TamperResult(
                frame_index=index,
                kind=self._reported,
                raised=None,
                cleared=rehomed,
                candidate=None,
                warming_up=True,
                texture_ratio=1.0,
                sharpness_ratio=1.0,
                misaligned_frac=0.0,
                shift_frac=0.0,
                response=1.0,
            )

        ref = self._ref_align
        texture_ratio = m.texture_levels / max(self._ref_texture_levels, _EPS)
        covered_tiles = self._covered_tile_frac(m)
        sharpness_ratio = m.sharpness / max(self._ref_sharpness, _EPS)
        assert self._window is not None  # set with the frame size
        (dx, dy), response = self._phase(ref, m.align, self._window)
        shift_frac = math.hypot(dx, dy) / self._work_size[0]
        # The tiles (a dozen more correlations) only matter when the whole view does not line up
        # cleanly; most frames of a healthy camera do, and skip them.
        whole_view_aligned = math.hypot(dx, dy) <= cfg.tile_max_shift_px and response >= cfg.skip_tiles_min_response
        misaligned_frac = 0.0 if whole_view_aligned else self._misaligned_frac(ref, m.align)

        candidate: TamperKind | None = None
        textureless = texture_ratio < cfg.covered_texture_ratio or covered_tiles >= cfg.covered_tile_frac
        if textureless and response < cfg.covered_max_response:
            candidate = "covered"
        elif sharpness_ratio < cfg.defocused_sharpness_ratio:
            candidate = "defocused"
        elif misaligned_frac >= cfg.moved_tile_frac:
            candidate = "moved"

        raised, cleared = self._hold(candidate)
        if candidate is None and self._reported is None and misaligned_frac <= cfg.refresh_max_tile_frac:
            self._learn(m, cfg.reference_learning_rate)
        return TamperResult(
            frame_index=index,
            kind=self._reported,
            raised=raised,
            cleared=cleared,
            candidate=candidate,
            warming_up=False,
            texture_ratio=texture_ratio,
            sharpness_ratio=sharpness_ratio,
            misaligned_frac=misaligned_frac,
            shift_frac=shift_frac,
            response=response,
        )

    # -- internals ---------------------------------------------------------------------------------

    def _setup(self, height_px: int, width_px: int) -> None:
        self._frame_shape = (height_px, width_px)
        work_w = min(self.config.work_width_px, width_px)
        work_h = max(8, round(height_px * work_w / width_px))
        self._work_size = (work_w, work_h)
        self._window = np.asarray(cv2.createHanningWindow(self._work_size, cv2.CV_32F), np.float32)
        cols, rows = self.config.grid
        xs = np.linspace(0, work_w, cols + 1).round().astype(int).tolist()
        ys = np.linspace(0, work_h, rows + 1).round().astype(int).tolist()
        self._tiles = [
            (
                slice(y0, y1),
                slice(x0, x1),
                np.asarray(cv2.createHanningWindow((x1 - x0, y1 - y0), cv2.CV_32F), np.float32),
            )
            for y0, y1 in itertools.pairwise(ys)
            for x0, x1 in itertools.pairwise(xs)
        ]

    def _measure(self, gray: Gray) -> _Measures:
        small = cv2.resize(gray, self._work_size, interpolation=cv2.INTER_AREA).astype(np.float32)
        fine_lo, edge, coarse_hi = (np.asarray(cv2.GaussianBlur(small, (0, 0), s), np.float32) for s in _BAND_SIGMAS_PX)
        fine = _rms(fine_lo - edge)
        band = edge - coarse_hi
        coarse = _rms(band)
        tiles = np.array([_rms(band[rows, cols]) for rows, cols, _window in self._tiles], np.float32)
        blurred = np.asarray(cv2.GaussianBlur(small, (0, 0), _ALIGN_BLUR_PX), np.float32)
        mean, std = cv2.meanStdDev(blurred)
        # Normalized, so lighting steps, ramps and the IR switch's gain/offset do not touch the reference.
        align = (blurred - np.float32(mean[0, 0])) / np.float32(max(float(std[0, 0]), 1.0))
        return _Measures(coarse, tiles, fine / max(coarse, _EPS), np.asarray(align, np.float32))

    def _learn(self, m: _Measures, rate: float) -> None:
        if self._ref_align is None:
            self._ref_align = m.align.copy()
            self._ref_texture_levels, self._ref_sharpness = m.texture_levels, m.sharpness
            self._ref_tile_texture = m.tile_texture.copy()
            return
        cv2.accumulateWeighted(m.align, self._ref_align, rate)
        self._ref_texture_levels += rate * (m.texture_levels - self._ref_texture_levels)
        if self._ref_tile_texture is not None:
            self._ref_tile_texture += rate * (m.tile_texture - self._ref_tile_texture)
        self._ref_sharpness += rate * (m.sharpness - self._ref_sharpness)

    @staticmethod
    def _phase(ref: FloatImage, cur: FloatImage, window: FloatImage) -> tuple[tuple[float, float], float]:
        """Shift of ``cur`` against ``ref`` (work px) and the correlation peak, both Hann-windowed.

        The window is applied here rather than passed to OpenCV: ``cv2.phaseCorrelate(a, b, window)``
        (seen in 4.14) overwrites its inputs in place, which would corrupt the reference.
        """
        (dx, dy), response = cv2.phaseCorrelate(ref * window, cur * window)
        return (float(dx), float(dy)), float(response)

    def _misaligned_frac(self, ref: FloatImage, cur: FloatImage) -> float:
        """Fraction of tiles of ``cur`` shifted off ``ref`` or no longer correlating with it."""
        cfg = self.config
        bad = 0
        for rows, cols, window in self._tiles:
            (dx, dy), response = self._phase(ref[rows, cols], cur[rows, cols], window)
            bad += math.hypot(dx, dy) > cfg.tile_max_shift_px or response < cfg.tile_min_response
        return bad / max(len(self._tiles), 1)

    def _hold(self, candidate: TamperKind | None) -> tuple[TamperKind | None, TamperKind | None]:
        """Advance the streak and the reported condition; returns (raised, cleared) for this frame."""
        cfg = self.config
        if candidate is not None and candidate == self._streak_kind:
            self._streak_frames += 1
        else:
            self._streak_kind, self._streak_frames = candidate, int(candidate is not None)
        raised = cleared = None
        if self._reported is not None:
            self._ok_frames = 0 if candidate == self._reported else self._ok_frames + 1
            if self._ok_frames >= cfg.clear_frames:
                cleared, self._reported = self._reported, None
        if self._reported is None and self._streak_kind is not None and self._streak_frames >= cfg.hold_frames:
            raised = self._reported = self._streak_kind
            self._ok_frames = 0
        return raised, cleared

    def _covered_tile_frac(self, m: _Measures) -> float:
        """Fraction of tiles whose texture collapsed against the reference's (a hand covers most)."""
        ref = self._ref_tile_texture
        if ref is None or ref.shape != m.tile_texture.shape:
            return 0.0
        collapsed = m.tile_texture < self.config.covered_texture_ratio * np.maximum(ref, _EPS)
        return float(np.count_nonzero(collapsed)) / max(len(ref), 1)


class FreezeConfig(BaseModel):
    """Tuning of :class:`FreezeWatch`."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    frozen_s: float = Field(3.0, gt=0, description="the same picture this long is reported as frozen")
    levels: int = Field(2, ge=0, le=50, description="a pixel changed by more than this many gray levels has changed")
    changed_px_frac: float = Field(
        0.0005, ge=0, lt=1, description="fewer changed pixels than this fraction of the frame: the same picture"
    )
    clear_frames: int = Field(2, ge=1, description="frames with a changed picture before a frozen feed is cleared")


@dataclass(frozen=True, slots=True)
class FreezeResult:
    """``frozen`` while reported; ``raised``/``cleared`` on the frame it starts/ends being reported."""

    frozen: bool
    raised: bool
    cleared: bool
    changed_frac: float  # of the pixels, against the previous frame
    same_s: float  # how long the picture has not changed


class FreezeWatch:
    """Frames that keep arriving while the picture has stopped changing: a hung encoder or video server.

    A live camera's picture never repeats exactly: sensor noise alone changes most pixels by a few
    levels from frame to frame, even in a still scene, and an encoder's key frames refresh every
    block. A picture of which fewer than ``changed_px_frac`` of the pixels changed by more than
    ``levels`` is the same picture; the same picture for ``frozen_s`` is reported (video loss is
    the other case: no frames at all, which camera health reports). Known limit: an encoder that
    sends only skip blocks for a perfectly still, noise-free scene between key frames that are more
    than ``frozen_s`` apart looks frozen; raise ``frozen_s`` above the key-frame interval for it.
    """

    def __init__(self, config: FreezeConfig | None = None) -> None:
        self.config = config or FreezeConfig()
        self._prev: Gray | None = None
        self._prev_ts_s = 0.0
        self._same_since_s: float | None = None
        self._changed_frames = 0
        self.frozen = False

    def reset(self) -> None:
        self._prev, self._same_since_s, self._changed_frames, self.frozen = None, None, 0, False

    def process(self, gray: Gray, ts_s: float) -> FreezeResult:
        cfg = self.config
        prev, self._prev = self._prev, gray
        prev_ts_s, self._prev_ts_s = self._prev_ts_s, ts_s
        if prev is None or prev.shape != gray.shape:
            self._same_since_s = None
            return FreezeResult(self.frozen, False, False, 1.0, 0.0)
        diff = cv2.absdiff(gray, prev)
        _, changed = cv2.threshold(diff, cfg.levels, 255, cv2.THRESH_BINARY)
        changed_frac = cv2.countNonZero(changed) / max(gray.size, 1)
        raised = cleared = False
        if changed_frac < cfg.changed_px_frac:
            self._changed_frames = 0
            if self._same_since_s is None:
                self._same_since_s = prev_ts_s  # the picture has not changed since the previous frame
            if not self.frozen and ts_s - self._same_since_s >= cfg.frozen_s:
                self.frozen = raised = True
        else:
            self._same_since_s = None
            self._changed_frames += 1
            if self.frozen and self._changed_frames >= cfg.clear_frames:
                self.frozen, cleared = False, True
        same_s = ts_s - self._same_since_s if self._same_since_s is not None else 0.0
        return FreezeResult(self.frozen, raised, cleared, changed_frac, same_s)
