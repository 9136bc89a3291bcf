"""Evidence images: the frame with the incident's box drawn, small enough to travel in the event."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import numpy.typing as npt

SNAPSHOT_WIDTH_PX = 320


def snapshot_jpeg(
    gray: npt.NDArray[np.uint8],
    xyxy: tuple[float, float, float, float] | None,
    width_px: int = SNAPSHOT_WIDTH_PX,
    quality: int = 70,
) -> bytes:
    """A colour JPEG of ``gray`` scaled to ``width_px`` with the normalized box ``xyxy`` drawn in red."""
    height_px = max(1, round(gray.shape[0] * width_px / gray.shape[1]))
    small = cv2.resize(gray, (width_px, height_px), interpolation=cv2.INTER_AREA)
    image = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    if xyxy is not None:
        x1, y1, x2, y2 = xyxy
        top_left = (round(x1 * width_px), round(y1 * height_px))
        bottom_right = (round(x2 * width_px), round(y2 * height_px))
        cv2.rectangle(image, top_left, bottom_right, (0, 0, 255), 2)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("snapshot encoding failed")
    return buf.tobytes()


def snapshot_b64(gray: npt.NDArray[np.uint8], xyxy: tuple[float, float, float, float] | None) -> str:
    return base64.b64encode(snapshot_jpeg(gray, xyxy)).decode("ascii")


DETECTION_WIDTH_PX = 320  # what motion and tracking work on; decoding more pixels is wasted time

_REDUCED = (
    (8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
    (4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
    (2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
)


def reduction_factor(width_px: int, min_width_px: int = DETECTION_WIDTH_PX) -> int:
    """The JPEG decoder's scale-down (1, 2, 4 or 8) that keeps at least ``min_width_px`` of width."""
    for factor, _ in _REDUCED:
        if width_px // factor >= min_width_px:
            return factor
    return 1


def decoded_size(width_px: int, height_px: int, min_width_px: int = DETECTION_WIDTH_PX) -> tuple[int, int]:
    """(width, height) that :func:`decode_gray` returns for a frame of this size."""
    factor = reduction_factor(width_px, min_width_px)
    return -(-width_px // factor), -(-height_px // factor)


def decode_gray(
    jpeg: bytes, width_px: int | None = None, min_width_px: int = DETECTION_WIDTH_PX
) -> npt.NDArray[np.uint8]:
    """A JPEG decoded straight to grayscale, at 1/2, 1/4 or 1/8 scale when the frame (``width_px``
    wide) stays at least ``min_width_px`` wide: the decoder then skips most of its work.
    ``ValueError`` if it is not a valid JPEG."""
    factor = reduction_factor(width_px, min_width_px) if width_px is not None else 1
    flag = dict(_REDUCED).get(factor, cv2.IMREAD_GRAYSCALE)
    try:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), flag)
    except cv2.error as exc:  # an empty buffer fails an assertion instead of answering None
        raise ValueError("not a decodable JPEG") from exc
    if image is None:
        raise ValueError("not a decodable JPEG")
    return image.astype(np.uint8, copy=False)
