"""One camera frame as the detectors use it: grayscale for motion, colour when something asks.

Motion, tracking and tamper checks work on grayscale at about 320 px wide, which a JPEG decoder
gives at a fraction of the cost of a full decode (:func:`detectors.video.evidence.decode_gray`). The
object detector and the evidence snapshot want the colour picture at the frame's own size: it is
decoded only on the frames that need it (a few a second at most), from the same JPEG bytes.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detectors.video.evidence import DETECTION_WIDTH_PX, decode_gray, decoded_size

Gray = npt.NDArray[np.uint8]
Bgr = npt.NDArray[np.uint8]


class CameraFrame:
    """A frame: ``gray`` for motion now, ``colour`` (BGR at the frame's size) on first use."""

    __slots__ = ("_colour", "_jpeg", "gray")

    def __init__(self, gray: Gray, colour: Bgr | None = None, jpeg: bytes | None = None) -> None:
        self.gray = gray
        self._colour = colour
        self._jpeg = jpeg

    @classmethod
    def from_jpeg(cls, jpeg: bytes, width_px: int | None = None) -> CameraFrame:
        """Grayscale decoded at the reduced scale now; ``ValueError`` if it is not a valid JPEG."""
        return cls(decode_gray(jpeg, width_px), jpeg=jpeg)

    @classmethod
    def from_image(cls, image: npt.NDArray[np.uint8]) -> CameraFrame:
        """From a decoded picture (BGR or grayscale), with the grayscale a reduced JPEG decode would give."""
        height_px, width_px = image.shape[:2]
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        size = decoded_size(width_px, height_px, DETECTION_WIDTH_PX)
        if size != (width_px, height_px):
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        colour = image if image.ndim == 3 else np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), np.uint8)
        return cls(np.asarray(gray, np.uint8), colour=colour)

    @property
    def colour(self) -> Bgr:
        """The picture at the frame's own size, BGR (a grayscale feed gives grey BGR)."""
        if self._colour is None:
            if self._jpeg is not None:
                image = cv2.imdecode(np.frombuffer(self._jpeg, np.uint8), cv2.IMREAD_COLOR)
                if image is None:
                    raise ValueError("not a decodable JPEG")
                self._colour = np.asarray(image, np.uint8)
            else:
                self._colour = np.asarray(cv2.cvtColor(self.gray, cv2.COLOR_GRAY2BGR), np.uint8)
        return self._colour
