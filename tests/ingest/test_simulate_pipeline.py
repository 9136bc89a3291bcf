"""``pantau simulate sensors`` drives the sample city through the real pipeline: its scripted
incidents (storm, panic button, river flood) come out as alerts with the demo configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.simulate import run_sensor_simulator
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "config" / "demo.yaml"


def test_simulated_city_raises_the_scripted_alerts(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(DEMO_CONFIG.read_text(), services=("archiver", "alerting", "detectors"))
    # 40 simulated seconds per real second: 8 simulated minutes of the 15-minute incident script.
    sent = run_sensor_simulator(pipeline.settings, speed=40, duration_s=12)
    assert sent > 300
    expected = {"panic_button_high", "rainfall_high", "water_level_high"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with pipeline.db() as conn:
            types = {row[0] for row in conn.execute("SELECT type FROM alerts")}
        if expected <= types:
            break
        time.sleep(0.5)
    assert expected <= types
    assert pipeline.wait_count("sensor_readings", sent) == sent
    assert pipeline.count("alerts", "type = 'panic_button_high' AND priority = 1 AND district IS NOT NULL") == 1
