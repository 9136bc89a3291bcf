"""The demo's cameras: a valid configuration whose synthetic scenes do raise what the demo shows, and
the real-footage camera, there when its footage and model are, left out with a warning when not."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors.analyze import analyze
from detectors.bench import VTEST_LAWN, VTEST_LINE
from detectors.demo_cameras import PLAZA_ID, demo_config
from detectors.schemas import LineCrossing
from detectors.video import models
from detectors.video.models import MODELS, Model, ModelFile
from detectors.zones.config import CameraDetectorsConfig, LineCrossingConfig
from pantau.config import load_config_file, parse_section
from pantau.exceptions import FootageError
from pantau.fullconfig import check_config

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "config" / "demo.yaml"
SYNTHETIC = {"cam-alun-alun", "cam-stasiun"}


def _cameras(path: Path) -> CameraDetectorsConfig:
    check_config(path)
    return parse_section(CameraDetectorsConfig, load_config_file(path), str(path))


@pytest.mark.unit
def test_demo_config_is_valid_and_its_scenes_raise_incidents(tmp_path: Path) -> None:
    path = demo_config(DEMO, tmp_path)
    config = _cameras(path)
    assert {c.id for c in config.cameras} == SYNTHETIC
    start = datetime(2026, 11, 27, 12, tzinfo=UTC)
    lawn = [i["type"] for i in analyze(Path(config.cameras[0].source), config, "cam-alun-alun", start)]
    assert lawn.count("intrusion") == 2  # two people walk onto the lawn
    station = [i["type"] for i in analyze(Path(config.cameras[1].source), config, "cam-stasiun", start)]
    assert station == ["line_crossing"]
    assert demo_config(DEMO, tmp_path) == path  # scenes are rendered once, then reused


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder holding a stand-in for the default model, its files pinned as they are (so
    the real check runs on small files)."""
    folder = tmp_path / "models"
    folder.mkdir()
    real = MODELS["ssd-mobilenet-v2"]
    files = []
    for spec in real.files:
        data = f"stand-in for {spec.name}".encode()
        (folder / spec.name).write_bytes(data)
        files.append(ModelFile(spec.name, hashlib.sha256(data).hexdigest(), len(data), spec.member))
    monkeypatch.setitem(models.MODELS, real.name, Model(real.name, real.package, tuple(files), real.what))
    return folder


@pytest.mark.unit
def test_with_its_footage_and_model_the_real_plaza_camera_is_added(tmp_path: Path, fake_model: Path) -> None:
    footage = tmp_path / "footage"
    footage.mkdir()
    warnings: list[str] = []
    path = demo_config(
        DEMO, tmp_path / "demo", real_footage=lambda: footage, models_dir=fake_model, warn=warnings.append
    )
    config = _cameras(path)
    assert warnings == []
    assert {c.id for c in config.cameras} == {*SYNTHETIC, PLAZA_ID}
    plaza = next(c for c in config.cameras if c.id == PLAZA_ID)
    assert plaza.source == str(footage / "vtest.avi")
    assert (plaza.loop, plaza.realtime, plaza.fps) == (True, True, 10)
    assert plaza.object_check is not None and plaza.object_check.model == "ssd-mobilenet-v2"
    assert plaza.location is not None and plaza.location.district == "Klojen"
    lawn, walkway = plaza.zones
    # The zones the hand-made ground truth draws (tests/detectors/data/vtest_truth.yaml).
    assert [list(p) for p in lawn.polygon] == VTEST_LAWN
    assert [rule.name for rule in lawn.rules] == ["intrusion"]
    (crossing,) = walkway.rules
    assert crossing.name == "line_crossing" and isinstance(crossing.params, LineCrossingConfig)
    assert [list(p) for p in crossing.params.line] == VTEST_LINE
    assert not crossing.params.alert  # a counting line: counted for the planners, no incident per passer-by
    # The synthetic cameras stay on motion alone.
    assert all(c.object_check is None for c in config.cameras if c.id in SYNTHETIC)


@pytest.mark.unit
def test_when_the_footage_cannot_be_fetched_the_demo_goes_on_without_the_real_camera(
    tmp_path: Path, fake_model: Path
) -> None:
    def no_network() -> Path:
        raise FootageError(
            "cannot fetch the test footage: `apt-get download opencv-doc` failed (exit 100): E: Unable to\n"
            "locate package opencv-doc; run `apt-get update && apt-get download opencv-doc` somewhere ..."
        )

    warnings: list[str] = []
    path = demo_config(DEMO, tmp_path / "demo", real_footage=no_network, models_dir=fake_model, warn=warnings.append)
    assert {c.id for c in _cameras(path).cameras} == SYNTHETIC
    (warning,) = warnings
    assert "\n" not in warning
    assert PLAZA_ID in warning and "left out" in warning
    assert "Unable to locate package opencv-doc" in warning and "apt-get download opencv-doc" in warning


@pytest.mark.unit
def test_without_the_model_the_real_camera_is_left_out_naming_the_install_command(tmp_path: Path) -> None:
    footage = tmp_path / "footage"
    footage.mkdir()
    warnings: list[str] = []
    empty = tmp_path / "models"
    path = demo_config(DEMO, tmp_path / "demo", real_footage=lambda: footage, models_dir=empty, warn=warnings.append)
    config = _cameras(path)
    # Left out, not played on motion alone.
    assert {c.id for c in config.cameras} == SYNTHETIC
    (warning,) = warnings
    assert "\n" not in warning
    assert PLAZA_ID in warning and "ssd-mobilenet-v2" in warning and "pantau models install" in warning


@pytest.mark.video
def test_the_real_plaza_camera_reports_the_lawn_and_counts_the_walkway(tmp_path: Path, footage_dir: Path) -> None:
    """The demo's camera, as configured, on the real clip: people on the lawn raise intrusions (the
    ground truth has three stays), walkway crossings are counted without incidents."""
    path = demo_config(DEMO, tmp_path, real_footage=lambda: footage_dir)
    config = _cameras(path)
    plaza = next(c for c in config.cameras if c.id == PLAZA_ID)
    crossings: list[LineCrossing] = []
    start = datetime(2026, 11, 27, 12, tzinfo=UTC)
    incidents = list(analyze(Path(plaza.source), config, PLAZA_ID, start, as_ingest=True, crossings=crossings))
    types = [i["type"] for i in incidents]
    assert types.count("intrusion") >= 2, types
    assert "line_crossing" not in types
    assert len(crossings) >= 15, len(crossings)  # the truth has 26
