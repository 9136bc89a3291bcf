"""Evidence images: the frame with the incident's box (and the object's class) drawn, its small
copy for incident messages; decoding of frames."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import numpy.typing as npt

from detectors.video.avi import ClipFormatError, jpeg_size

SNAPSHOT_WIDTH_PX = 320
Image = npt.NDArray[np.uint8]  # (H, W) grayscale or (H, W, 3) BGR


def snapshot_jpeg(
    image: Image,
    xyxy: tuple[float, float, float, float] | None,
    width_px: int | None = SNAPSHOT_WIDTH_PX,
    quality: int = 70,
    label: str | None = None,
) -> bytes:
    """A colour JPEG of ``image`` (grayscale or BGR) scaled to ``width_px`` (None: as it is) with the
    normalized box ``xyxy`` drawn in red and ``label`` (the object's class and score) above it."""
    if width_px is None or width_px == image.shape[1]:
        small, width_px = image, int(image.shape[1])
        height_px = int(image.shape[0])
    else:
        height_px = max(1, round(image.shape[0] * width_px / image.shape[1]))
        small = np.asarray(cv2.resize(image, (width_px, height_px), interpolation=cv2.INTER_AREA), np.uint8)
    picture = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR) if small.ndim == 2 else small.copy()
    if xyxy is not None:
        x1, y1, x2, y2 = xyxy
        top_left = (round(x1 * width_px), round(y1 * height_px))
        bottom_right = (round(x2 * width_px), round(y2 * height_px))
        thickness = max(2, round(width_px / 320))
        cv2.rectangle(picture, top_left, bottom_right, (0, 0, 255), thickness)
        if label:
            scale = max(0.4, width_px / 1280)
            (text_w, text_h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            y_text = top_left[1] - 4 if top_left[1] - text_h - base - 4 >= 0 else bottom_right[1] + text_h + 4
            x_text = min(max(top_left[0], 0), max(width_px - text_w, 0))
            cv2.rectangle(
                picture, (x_text, y_text - text_h - 2), (x_text + text_w, y_text + base), (0, 0, 255), cv2.FILLED
            )
            cv2.putText(picture, label, (x_text, y_text), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                        cv2.LINE_AA)  # fmt: skip
    ok, buf = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("snapshot encoding failed")
    return buf.tobytes()


def snapshot_b64(
    image: Image,
    xyxy: tuple[float, float, float, float] | None,
    label: str | None = None,
    width_px: int | None = SNAPSHOT_WIDTH_PX,
) -> str:
    return base64.b64encode(snapshot_jpeg(image, xyxy, width_px, label=label)).decode("ascii")


_REDUCED_COLOUR = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def thumbnail_jpeg(jpeg: bytes, width_px: int = SNAPSHOT_WIDTH_PX, quality: int = 70) -> bytes:
    """A copy of the JPEG ``jpeg`` scaled to ``width_px`` (the bytes as they are when it is not wider),
    for the inline snapshot an incident carries on Kafka. ``ValueError`` if it is not a JPEG."""
    try:
        width = jpeg_size(jpeg)[0]
    except ClipFormatError as exc:
        raise ValueError(f"not a decodable JPEG: {exc}") from exc
    if width <= width_px:
        return jpeg
    # Let the decoder skip most of the work: a 1920 px snapshot decodes at 1/4 scale, then is resized.
    flag = _REDUCED_COLOUR.get(reduction_factor(width, width_px), cv2.IMREAD_COLOR)
    try:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), flag)
    except cv2.error as exc:
        raise ValueError("not a decodable JPEG") from exc
    if image is None:
        raise ValueError("not a decodable JPEG")
    return snapshot_jpeg(np.asarray(image, np.uint8), None, width_px, quality)


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
