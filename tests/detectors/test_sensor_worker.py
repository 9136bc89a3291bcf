"""The sensor rules worker keeps its rule state across a crash: a restarted worker restores it from
the compacted state topic before it handles a record, so a condition that began before the crash
is still timed from its start."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.fault]

CONFIG = "sensor_rules:\n  - {name: flood, kind: water_level, above: 2.5, for_s: 60, severity: critical}\n"


def _send(pipeline: Pipeline, start: datetime, seconds: range) -> None:
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    for s in seconds:
        body = {"sensor_id": "gauge-1", "kind": "water_level", "value": 3.0, "unit": "m",
                "ts": (start + timedelta(seconds=s)).isoformat()}  # fmt: skip
        producer.send(pipeline.topic("pantau.sensor-readings.v1"), key=b"gauge-1", value=orjson.dumps(body))
    producer.flush()
    producer.close()


def _records(pipeline: Pipeline, topic: str) -> list[dict[str, object]]:
    consumer = KafkaConsumer(
        pipeline.topic(topic),
        bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=1500,
    )
    values = [orjson.loads(rec.value) for rec in consumer if rec.value is not None]
    consumer.close()
    return values


def test_a_condition_timed_before_a_crash_fires_on_time_after_the_restart(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("detectors",))
    start = datetime.now(UTC) - timedelta(minutes=10)
    _send(pipeline, start, range(0, 40, 5))  # over the level for 35 s of the 60 needed
    deadline = time.monotonic() + 60
    while not any("gauge-1" in record for record in _records(pipeline, "pantau.detector-state.v1")):
        assert time.monotonic() < deadline, "the worker never persisted its state"
        time.sleep(0.3)
    assert _records(pipeline, "pantau.incidents.v1") == []

    pipeline.kill("detectors")
    pipeline.start("detectors")
    _send(pipeline, start, range(40, 75, 5))  # 60 s held at the reading of second 60

    deadline = time.monotonic() + 60
    while not (incidents := _records(pipeline, "pantau.incidents.v1")):
        assert time.monotonic() < deadline, f"no incident; worker log:\n{pipeline.log_tail('detectors')}"
        time.sleep(0.3)
    time.sleep(1.0)
    incidents = _records(pipeline, "pantau.incidents.v1")
    assert len(incidents) == 1, incidents
    # Timed from the first reading before the crash, not from the first one after it (which would
    # have waited until second 100 and fired nothing here).
    assert datetime.fromisoformat(str(incidents[0]["ts"])) == start + timedelta(seconds=60)
