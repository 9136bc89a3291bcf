"""kill -9 of alerting while incidents flow: every push still goes out, each under one idempotency key."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest
from kafka import KafkaProducer

from tests.alerting.conftest import Hook
from tests.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.fault]
SOURCES = 240


def _config(hook: Hook) -> str:
    return f"""
alerting:
  channels:
    - {{type: webhook, name: hook, url: "{hook.url}", secret: "a-webhook-secret-of-some-length", timeout_s: 2}}
  routing:
    groups: [{{id: rescue, name: Rescue}}]
    responders: [{{id: budi, name: Budi, groups: [rescue], channels: [hook]}}]
    routes: [{{match: {{}}, tiers: [{{groups: [rescue], ack_deadline_s: 3600}}]}}]
"""


def _produce(pipeline: Pipeline, done: threading.Event) -> None:
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=5)
    for n in range(SOURCES):
        now = datetime.now(UTC).isoformat()
        incident: dict[str, object] = {
            "id": f"inc-{n}",
            "type": "water_level_high",
            "source": f"gauge-{n:03d}",
            "source_kind": "sensor",
            "rule": "flood",
            "ts": now,
            "detected_at": now,
            "severity": "critical",
            "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"},
            "title": f"River high at gauge-{n:03d}",
        }
        key = f"gauge-{n:03d}".encode()
        producer.send(pipeline.topic("pantau.incidents.v1"), key=key, value=orjson.dumps(incident))
        time.sleep(0.025)  # 40 incidents/s for 6 s
    producer.flush()
    producer.close()
    done.set()


def test_kill_9_of_alerting_loses_no_push_and_never_sends_one_under_two_keys(
    pipeline_factory: Callable[..., Pipeline], hook_factory: Callable[..., Hook]
) -> None:
    hook = hook_factory()
    pipeline = pipeline_factory(_config(hook), services=("alerting",))
    done = threading.Event()
    producer = threading.Thread(target=_produce, args=(pipeline, done))
    producer.start()
    for wait_s in (1.5, 2.0):
        time.sleep(wait_s)
        pipeline.kill("alerting")
        pipeline.start("alerting")
    producer.join(60)
    assert done.is_set()

    deadline = time.monotonic() + 90
    while len({b["alert"]["source"] for b in hook.bodies()}) < SOURCES:
        assert time.monotonic() < deadline, f"{len({b['alert']['source'] for b in hook.bodies()})} of {SOURCES} pushed"
        time.sleep(0.3)
    bodies = hook.bodies()
    keys_per_source: dict[str, set[str]] = {}
    for body in bodies:
        keys_per_source.setdefault(body["alert"]["source"], set()).add(body["delivery_id"])
    assert len(keys_per_source) == SOURCES
    assert all(len(keys) == 1 for keys in keys_per_source.values()), {
        s: k for s, k in keys_per_source.items() if len(k) > 1
    }
    assert pipeline.count("alerts") == SOURCES
    assert pipeline.wait_count("alert_deliveries", SOURCES, "status = 'sent'") == SOURCES
    # Re-sends after a crash are possible (a push accepted just before the kill), never a lost one.
    duplicates = len(bodies) - SOURCES
    assert duplicates <= 2 * 4 * 2, f"{duplicates} re-sends for two kills"  # at most in-flight pushes per kill
