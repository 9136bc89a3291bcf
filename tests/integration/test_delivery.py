"""At-least-once delivery with idempotent sinks: ``kill -9`` of each worker mid-stream loses and
duplicates nothing, counted in TimescaleDB against what was produced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaProducer

from tests.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.fault]

SENSORS = 40
READINGS_PER_SENSOR = 300
TRIGGER_EVERY = 20  # reading 0 of every 20 rises above the threshold, reading 1 clears it


def _config() -> str:
    return "sensor_rules:\n  - {name: flood, kind: water_level, above: 2.5, clear_below: 2.0, severity: critical}\n"


def _produce(pipeline: Pipeline, done: threading.Event, rate_per_s: float) -> None:
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=5)
    topic = pipeline.topic("pantau.sensor-readings.v1")
    base = datetime.now(UTC) - timedelta(hours=2)
    start = time.monotonic()
    for n in range(SENSORS * READINGS_PER_SENSOR):
        sensor, seq = n % SENSORS, n // SENSORS
        value = 3.0 if seq % TRIGGER_EVERY == 0 else 1.0
        body = {
            "sensor_id": f"gauge-{sensor:03d}",
            "kind": "water_level",
            "value": value,
            "unit": "m",
            "ts": (base + timedelta(seconds=seq)).isoformat(),
        }
        producer.send(topic, key=f"gauge-{sensor:03d}".encode(), value=orjson.dumps(body))
        if n % 200 == 0:
            delay = start + n / rate_per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    producer.flush()
    producer.close()
    done.set()


def test_kill_9_of_each_worker_under_load_loses_and_duplicates_nothing(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(_config(), services=("archiver", "alerting", "detectors"))
    total = SENSORS * READINGS_PER_SENSOR
    done = threading.Event()
    producer = threading.Thread(target=_produce, args=(pipeline, done, total / 12.0))
    producer.start()
    for name in ("detectors", "archiver", "alerting"):
        time.sleep(2.5)
        pipeline.kill(name)  # SIGKILL: no clean shutdown, no final commit
        pipeline.start(name)
    producer.join(timeout=120)
    assert done.is_set()

    raises_per_sensor = READINGS_PER_SENSOR // TRIGGER_EVERY
    expected_incidents = SENSORS * raises_per_sensor * 2  # each raise is followed by a clear
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = (pipeline.count("sensor_readings"), pipeline.count("incidents"), pipeline.count("alert_history"))
        if counts == (total, expected_incidents, expected_incidents):
            break
        time.sleep(0.5)
    assert pipeline.count("sensor_readings") == total
    assert pipeline.count("incidents") == expected_incidents
    assert pipeline.count("incidents", "phase = 'raised'") == SENSORS * raises_per_sensor
    # Alerting applied every incident exactly once: one alert per gauge, counting every raise.
    assert pipeline.count("alerts") == SENSORS
    assert pipeline.count("alerts", "count = %s", (raises_per_sensor,)) == SENSORS
    assert pipeline.count("alert_history") == expected_incidents
    assert pipeline.count("alert_incidents") == expected_incidents
    assert pipeline.count("alert_outbox") == 0
