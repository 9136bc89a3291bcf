"""The demo's synthetic cameras: a valid configuration whose scenes do raise what the demo shows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors.analyze import analyze
from detectors.demo_cameras import demo_config
from detectors.zones.config import CameraDetectorsConfig
from pantau.config import load_config_file, parse_section
from pantau.fullconfig import check_config

pytestmark = pytest.mark.unit
DEMO = Path(__file__).resolve().parents[2] / "deploy" / "config" / "demo.yaml"


def test_demo_config_is_valid_and_its_scenes_raise_incidents(tmp_path: Path) -> None:
    path = demo_config(DEMO, tmp_path)
    check_config(path)
    config = parse_section(CameraDetectorsConfig, load_config_file(path), str(path))
    assert {c.id for c in config.cameras} == {"cam-alun-alun", "cam-stasiun"}
    start = datetime(2026, 11, 27, 12, tzinfo=UTC)
    lawn = [i["type"] for i in analyze(Path(config.cameras[0].source), config, "cam-alun-alun", start)]
    assert lawn.count("intrusion") == 2  # two people walk onto the lawn
    station = [i["type"] for i in analyze(Path(config.cameras[1].source), config, "cam-stasiun", start)]
    assert station == ["line_crossing"]
    assert demo_config(DEMO, tmp_path) == path  # scenes are rendered once, then reused
