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


def decode_gray(jpeg: bytes) -> npt.NDArray[np.uint8]:
    """A JPEG decoded straight to grayscale (faster than colour); ``ValueError`` if it is not a valid JPEG."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError("not a decodable JPEG")
    return image.astype(np.uint8, copy=False)
