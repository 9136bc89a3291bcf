"""A sensor flooding the readings topic: its readings beyond the per-sensor rate skip the rules (one
dead-letter entry says so) while every one is archived, and the other sensors on the same topic are
not starved: their alerts come as usual."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.fault]

RULES = "sensor_rules:\n  - {name: flood, kind: water_level, above: 2.5, clear_below: 2.0, severity: critical}\n"
FLOOD = 20_000  # readings of one sensor within 10 s of reading time: 2,000/s
GAUGES = 40


def _reading(sensor: str, value: float, ts: datetime) -> bytes:
    return orjson.dumps({"sensor_id": sensor, "kind": "water_level", "value": value, "unit": "m", "ts": ts.isoformat()})


def test_a_flooding_sensor_is_limited_without_starving_the_others(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(
        RULES,
        services=("archiver", "detectors", "alerting"),
        PANTAU_SENSOR_MAX_RATE_PER_S="20",
        PANTAU_SENSOR_RATE_BURST="100",
    )
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=20)
    topic = pipeline.topic("pantau.sensor-readings.v1")
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    for n in range(FLOOD):
        # The wild sensor alternates above and below the threshold: every evaluated pair is an incident.
        producer.send(
            topic,
            key=b"wild-1",
            value=_reading("wild-1", 3.0 if n % 2 == 0 else 1.0, t0 + timedelta(milliseconds=n / 2)),
        )
        if n % 500 == 0:  # the other gauges report in between, on the same partitions
            for g in range(GAUGES):
                sensor = f"gauge-{g:02d}"
                value = 3.0 if n == 5000 else 1.0
                producer.send(
                    topic, key=sensor.encode(), value=_reading(sensor, value, t0 + timedelta(seconds=n / 500))
                )
    producer.flush()
    started = time.monotonic()
    total = FLOOD + GAUGES * (FLOOD // 500)
    assert pipeline.wait_count("sensor_readings", total, timeout_s=120) == total  # every reading archived
    deadline = time.monotonic() + 60
    while pipeline.count("alerts", "source LIKE 'gauge-%%'") < GAUGES:
        assert time.monotonic() < deadline, "the other sensors' alerts did not come"
        time.sleep(0.3)
    print(f"\n{total} readings archived and {GAUGES} gauge alerts in {time.monotonic() - started:.1f} s")

    # The wild sensor: at most burst + rate x 10 s of its readings reached the rules.
    evaluated_max = 100 + 20 * 10 + 1
    wild_incidents = pipeline.count("incidents", "source = 'wild-1'")
    assert 0 < wild_incidents <= evaluated_max
    consumer = KafkaConsumer(
        pipeline.topic("pantau.dlq.v1"),
        bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    letters = [orjson.loads(rec.value) for rec in consumer]
    consumer.close()
    limited = [letter for letter in letters if letter["reason"].startswith("rate limited")]
    assert len(limited) >= 1 and all("wild-1" in letter["reason"] for letter in limited)
    assert len(limited) <= 3  # one per flood episode, not one per skipped reading
    assert all(letter["stage"] == "detectors.sensor-rules" for letter in limited)
