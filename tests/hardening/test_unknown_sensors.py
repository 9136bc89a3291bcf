"""Sensor ids nobody registered: invented ids create no state and no alerts (quarantine, archived)
or are refused outright, as the configuration says (``unknown_sensors``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaProducer

from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration
INVENTED = 50
CONFIG = """
sensors:
  - {{id: wl-01, kind: water_level, location: {{lat: -7.94, lon: 112.61, district: Lowokwaru}}, interval_s: 60}}
{policy}
sensor_rules:
  - {{name: river-flood, kind: water_level, above: 2.5, for_s: 0, severity: critical}}
  - {{name: gauge-silent, type: silent, kind: water_level, after_s: 5, severity: medium}}
"""


def _reading(sensor_id: str, value: float, ts: datetime) -> bytes:
    return orjson.dumps({"sensor_id": sensor_id, "kind": "water_level", "value": value, "unit": "m",
                         "ts": ts.isoformat()})  # fmt: skip


def _flood(pipeline: Pipeline) -> None:
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=5)
    topic = pipeline.topic("pantau.sensor-readings.v1")
    now = datetime.now(UTC) - timedelta(seconds=30)
    for n in range(INVENTED):  # each invented id twice, above the threshold
        for i in range(2):
            producer.send(topic, key=f"x-{n}".encode(), value=_reading(f"x-{n}", 3.0, now + timedelta(seconds=i)))
    producer.send(topic, key=b"wl-01", value=_reading("wl-01", 3.1, now + timedelta(seconds=5)))
    producer.flush(30)
    producer.close()


def test_invented_ids_are_quarantined_archived_and_never_alert(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(CONFIG.format(policy=""), services=("archiver", "detectors", "alerting"))
    _flood(pipeline)
    assert pipeline.wait_count("alerts", 1, "source = 'wl-01' AND type = 'water_level_high'") == 1
    assert pipeline.wait_count("sensor_readings", 2 * INVENTED, "left(sensor_id, 2) = 'x-'") == 2 * INVENTED
    time.sleep(8)  # past gauge-silent's 5 s: invented ids have no state, so none goes "silent"
    assert pipeline.count("alerts", "left(source, 2) = 'x-'") == 0
    letters = [x for x in pipeline.dead_letters(INVENTED, settle_s=2) if x["reason"].startswith("unknown sensor")]
    assert len(letters) == INVENTED  # one per id (the second reading of each is not told again)
    assert {x["stage"] for x in letters} == {"detectors.sensor-rules"}
    assert all("quarantine" in x["reason"] and "archived" in x["reason"] for x in letters)


def test_with_refuse_invented_ids_are_dead_lettered_and_not_stored(pipeline_factory: Callable[..., Pipeline]) -> None:
    config = CONFIG.format(policy="unknown_sensors: refuse")
    pipeline = pipeline_factory(config, services=("archiver", "detectors", "alerting"))
    _flood(pipeline)
    assert pipeline.wait_count("alerts", 1, "source = 'wl-01' AND type = 'water_level_high'") == 1
    assert pipeline.wait_count("sensor_readings", 1, "sensor_id = 'wl-01'") == 1
    letters = [x for x in pipeline.dead_letters(4 * INVENTED, settle_s=2) if x["reason"].startswith("unknown sensor")]
    assert len(letters) == 4 * INVENTED  # every reading, by both stages that read them
    assert {x["stage"] for x in letters} == {"detectors.sensor-rules", "archive"}
    assert pipeline.count("sensor_readings", "left(sensor_id, 2) = 'x-'") == 0
    assert pipeline.count("alerts", "left(source, 2) = 'x-'") == 0
