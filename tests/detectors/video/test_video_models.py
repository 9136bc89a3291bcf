"""The model files: pinned, checked on load, and a clear message naming the install command."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from detectors.video import models
from detectors.video.models import MODELS, ModelFile, ModelMissing, file_problem, model_path

pytestmark = pytest.mark.unit


def test_every_file_is_pinned_and_comes_from_a_pinned_package() -> None:
    for model in MODELS.values():
        assert model.package.requirement.count("==") == 1, model.name
        assert len(model.package.archive_sha256) == 64
        for spec in model.files:
            assert len(spec.sha256) == 64 and spec.size_bytes > 0, spec.name


def test_the_corrected_darknet_cfg_shipped_with_pantau_matches_its_pin() -> None:
    spec = next(f for f in MODELS["yolov3-tiny"].files if f.member is None)
    path = Path(models.__file__).parent / "model_files" / spec.name
    data = path.read_bytes()
    assert (hashlib.sha256(data).hexdigest(), len(data)) == (spec.sha256, spec.size_bytes)
    # The fix the package's copy lacks: the second [yolo] layer's anchors.
    masks = [line for line in data.decode().splitlines() if line.startswith("mask")]
    assert masks == ["mask = 3,4,5", "mask = 1,2,3"]


def test_a_missing_model_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match=r"yolov3-tiny.*missing.*make models"):
        model_path(tmp_path, "yolov3-tiny", ".weights")


def test_an_altered_file_is_refused(tmp_path: Path) -> None:
    data = b"not the weights"
    spec = ModelFile("w.bin", hashlib.sha256(b"the weights").hexdigest(), len(data))
    (tmp_path / "w.bin").write_bytes(data)
    problem = file_problem(tmp_path, spec)
    assert problem is not None and "not the pinned" in problem
    good = ModelFile("w.bin", hashlib.sha256(data).hexdigest(), len(data))
    assert file_problem(tmp_path, good) is None
    wrong_size = ModelFile("w.bin", good.sha256, len(data) + 1)
    assert "bytes, not the pinned" in (file_problem(tmp_path, wrong_size) or "")


def test_an_unknown_model_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match="models: centerface, ssd-mobilenet-v2, yolov3-tiny"):
        model_path(tmp_path, "yolov9", ".onnx")
