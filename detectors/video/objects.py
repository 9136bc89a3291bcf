"""Object detectors on CPU: a CNN through OpenCV's DNN module, run on regions of a frame.

Motion finds things that move; it cannot tell a person from a shadow, a headlight or a branch, and it
merges passers-by walking close together into one blob. A COCO object detector can. It is far too
slow to run on every full frame of every camera on a CPU (YOLOv3-tiny: ~60 ms at 416x416 on one
core), so it runs on *regions*: a crop around moving objects, at about its native scale, which costs
a fraction of that (a 128x128 crop ~10 ms). :mod:`detectors.video.confirm` decides which regions and
how often.

Two networks are registered by name in :data:`OBJECT_MODELS`, their files from registry packages
(:mod:`detectors.video.models`):

* ``ssd-mobilenet-v2`` (TensorFlow model zoo, Apache-2.0), the default: on crops of real CCTV
  (OpenCV's vtest.avi) scaled so a person is ~80 px tall in a 128x128 input it finds nearly every
  person at a score of 0.5, for ~15-20 ms a crop on one core.
* ``yolov3-tiny`` (Darknet, public domain): needs people ~120 px tall in its input (its anchors are
  large) for a recall of ~0.9 at the same score, at about the same cost per crop.

Each network runs at a few fixed input shapes (a network per shape, made at start): OpenCV's DNN
re-allocates every layer when the input shape changes (~15 ms, more than a small forward pass). A
region is scaled so its objects are ``object_px`` tall in the input, then fitted into the smallest
shape that holds it (the crop widened around its centre, never stretched); a region too large for
the largest shape is scaled down into it.

Scores are the networks' own (YOLO: objectness x class probability; SSD: the class score): numbers
a network computed, not probabilities that something happened.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import numpy.typing as npt

from detectors.video.boxes import XYXY
from detectors.video.classes import DETECTED_CLASSES
from detectors.video.models import model_path
from detectors.video.tfgraph import GraphFormatError, prune_classes

Image = npt.NDArray[np.uint8]  # (H, W, 3) BGR or (H, W) grayscale

_NMS_IOU = 0.6  # as the SSD graph's own: people walking close together overlap a lot


@dataclass(frozen=True, slots=True)
class Detection:
    """One object a detector found: its COCO class, the network's score and its normalized box."""

    object_class: str
    score: float
    xyxy: XYXY


@dataclass(frozen=True, slots=True)
class Region:
    """A part of the frame to look at (normalized box) and the height (normalized) of the objects
    expected in it, which sets the scale the crop is given to the network."""

    xyxy: XYXY
    object_h: float


_FIT_SLACK = 1.1  # a region may lose a tenth of its context at the edges to fit a smaller shape


class ObjectDetector(ABC):
    """A network that finds COCO objects in regions of a frame, at a few fixed input shapes."""

    name: ClassVar[str]
    shapes: ClassVar[tuple[tuple[int, int], ...]]  # (width, height) of the inputs, smallest first
    object_px: ClassVar[float]  # how tall an expected object is made in the input

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self._nets: dict[tuple[int, int], Any] = {}

    def _load(self) -> None:
        """Make the first shape's network now (a file OpenCV cannot read fails at start, not at an
        object); the others on first use (each costs ~0.2 s and tens of MB)."""
        self._net(self.shapes[0])

    def _net(self, shape: tuple[int, int]) -> Any:
        net = self._nets.get(shape)
        if net is None:
            try:
                net = self._read()
            except cv2.error as exc:
                raise ValueError(f"{self.name}: OpenCV cannot load the model files: {exc}") from exc
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
            self._nets[shape] = net
        return net

    @abstractmethod
    def _read(self) -> Any:
        """A fresh network from the model files."""

    @abstractmethod
    def _forward(self, net: Any, crop: Image, shape: tuple[int, int], min_score: float) -> list[Detection]:
        """Detections in ``crop`` (BGR, already of the shape's proportions), boxes normalized to the crop."""

    def input_shape(self, width_px: float, height_px: float, object_h_px: float) -> tuple[int, int, float]:
        """(input width, input height, scale) for a region of this size with objects this tall."""
        scale = min(self.object_px / max(object_h_px, 1.0), 3.0)
        for in_w, in_h in self.shapes:
            if width_px * scale <= in_w * _FIT_SLACK and height_px * scale <= in_h * _FIT_SLACK:
                return in_w, in_h, scale
        in_w, in_h = self.shapes[-1]
        return in_w, in_h, min(in_w / max(width_px, 1.0), in_h / max(height_px, 1.0))

    def detect(self, image: Image, region: Region, min_score: float = 0.2) -> list[Detection]:
        """Objects of :data:`DETECTED_CLASSES` in ``region`` of ``image``, boxes normalized to the frame."""
        started = time.perf_counter()
        height, width = image.shape[:2]
        rx0, ry0, rx1, ry1 = region.xyxy
        in_w, in_h, scale = self.input_shape((rx1 - rx0) * width, (ry1 - ry0) * height, region.object_h * height)
        # The crop the input covers, centred on the region.
        cx, cy = (rx0 + rx1) / 2 * width, (ry0 + ry1) / 2 * height
        crop_w, crop_h = in_w / scale, in_h / scale
        x0, y0 = round(cx - crop_w / 2), round(cy - crop_h / 2)
        x1, y1 = x0 + max(1, round(crop_w)), y0 + max(1, round(crop_h))
        crop = _crop(_bgr(image), x0, y0, x1, y1)
        found = self._forward(self._net((in_w, in_h)), crop, (in_w, in_h), min_score)
        cw, ch = x1 - x0, y1 - y0
        out = [
            Detection(
                d.object_class,
                d.score,
                (
                    (x0 + d.xyxy[0] * cw) / width,
                    (y0 + d.xyxy[1] * ch) / height,
                    (x0 + d.xyxy[2] * cw) / width,
                    (y0 + d.xyxy[3] * ch) / height,
                ),
            )
            for d in found
        ]
        self.calls += 1
        self.seconds += time.perf_counter() - started
        return _nms(out)


def _bgr(image: Image) -> Image:
    return image if image.ndim == 3 else np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), np.uint8)


def _crop(image: Image, x0: int, y0: int, x1: int, y1: int) -> Image:
    """Pixels [y0:y1, x0:x1] of the image; parts outside it are mid-grey, as a network's letterbox."""
    height, width = image.shape[:2]
    if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
        return image[y0:y1, x0:x1]
    out = np.full((y1 - y0, x1 - x0, *image.shape[2:]), 127, np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def _nms(found: list[Detection]) -> list[Detection]:
    """Non-maximum suppression per class."""
    kept: list[Detection] = []
    for cls in {d.object_class for d in found}:
        same = [d for d in found if d.object_class == cls]
        boxes = [[d.xyxy[0], d.xyxy[1], d.xyxy[2] - d.xyxy[0], d.xyxy[3] - d.xyxy[1]] for d in same]
        indices = cv2.dnn.NMSBoxes(boxes, [d.score for d in same], 0.0, _NMS_IOU)
        kept.extend(same[int(i)] for i in np.asarray(indices).ravel())
    return sorted(kept, key=lambda d: -d.score)


class YoloTinyDetector(ObjectDetector):
    """YOLOv3-tiny (Darknet); people are made ~120 px tall in its input (its anchors are large: on
    vtest.avi its recall of people at a score of 0.5 is ~0.9 at 120 px against ~0.5 at 64 px)."""

    name = "yolov3-tiny"
    shapes = ((128, 192), (256, 192), (384, 256))
    object_px = 120.0

    def __init__(self, models_dir: Path) -> None:
        super().__init__()
        self.cfg = model_path(models_dir, self.name, ".cfg")
        self.weights = model_path(models_dir, self.name, ".weights")
        classes = model_path(models_dir, self.name, ".names").read_text().splitlines()
        self.class_ids = {i: c for i, c in enumerate(classes) if c in DETECTED_CLASSES}
        self._load()

    def _read(self) -> Any:
        return cv2.dnn.readNetFromDarknet(str(self.cfg), str(self.weights))

    def _forward(self, net: Any, crop: Image, shape: tuple[int, int], min_score: float) -> list[Detection]:
        net.setInput(cv2.dnn.blobFromImage(crop, 1 / 255.0, shape, swapRB=True, crop=False))
        found: list[Detection] = []
        for output in net.forward(net.getUnconnectedOutLayersNames()):
            rows = np.asarray(output, np.float32)
            if rows.size == 0:
                continue
            scores = rows[:, 5:] * rows[:, 4:5]  # objectness x class probability, as Darknet scores
            best = np.argmax(scores, axis=1)
            best_scores = scores[np.arange(len(rows)), best]
            for i in np.flatnonzero(best_scores >= min_score):
                cls = self.class_ids.get(int(best[i]))
                if cls is not None:
                    bx, by, bw, bh = (float(v) for v in rows[i, :4])
                    found.append(
                        Detection(cls, float(best_scores[i]), (bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2))
                    )
        return found


# SSD-MobileNet's COCO ids (1-based, with gaps) of the classes Pantau reports.
_SSD_IDS = {1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 6: "bus", 8: "truck", 27: "backpack",
            28: "umbrella", 31: "handbag", 33: "suitcase"}  # fmt: skip


class SsdMobilenetDetector(ObjectDetector):
    """SSD-MobileNet-v2 COCO; people are made ~80 px tall in a 128x128 input (it was trained at
    300x300, but its anchors are relative to the input: a person filling most of a small crop is found
    as well, at a fifth of the cost). Its class predictors keep only the classes Pantau reports
    (:mod:`detectors.video.tfgraph`: the same scores, at half the cost of a crop)."""

    name = "ssd-mobilenet-v2"
    shapes = ((128, 128), (256, 128), (256, 256))
    object_px = 80.0

    def __init__(self, models_dir: Path) -> None:
        super().__init__()
        pb = model_path(models_dir, self.name, ".pb")
        pbtxt = model_path(models_dir, self.name, ".pbtxt")
        self.coco_ids = [0, *sorted(_SSD_IDS)]  # output class k is COCO id coco_ids[k]
        try:
            graph, text = prune_classes(pb.read_bytes(), pbtxt.read_text(), self.coco_ids)
        except GraphFormatError as exc:
            raise ValueError(f"{self.name}: {pb} is not the graph Pantau knows: {exc}") from exc
        self._graph = np.frombuffer(graph, np.uint8)
        self._text = np.frombuffer(text.encode(), np.uint8)
        self._load()

    def _read(self) -> Any:
        return cv2.dnn.readNetFromTensorflow(self._graph, self._text)

    def _forward(self, net: Any, crop: Image, shape: tuple[int, int], min_score: float) -> list[Detection]:
        net.setInput(cv2.dnn.blobFromImage(crop, 1.0, shape, swapRB=True, crop=False))
        rows = np.asarray(net.forward(), np.float32).reshape(-1, 7)
        found = []
        for _img, class_id, score, bx0, by0, bx1, by1 in rows.tolist():
            k = int(class_id)
            cls = _SSD_IDS.get(self.coco_ids[k]) if 0 < k < len(self.coco_ids) else None
            if cls is not None and score >= min_score:
                found.append(Detection(cls, float(score), (bx0, by0, bx1, by1)))
        return found


OBJECT_MODELS: dict[str, type[ObjectDetector]] = {d.name: d for d in (SsdMobilenetDetector, YoloTinyDetector)}


def load_detector(name: str, models_dir: Path) -> ObjectDetector:
    """The registered detector ``name``, loaded from ``models_dir``; unknown names list the valid ones."""
    cls = OBJECT_MODELS.get(name)
    if cls is None:
        raise ValueError(f"unknown object model {name!r}; models: {', '.join(sorted(OBJECT_MODELS))}")
    return cls(models_dir)  # type: ignore[call-arg]  # each registered class takes the folder
