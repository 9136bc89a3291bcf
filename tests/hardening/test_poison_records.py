"""Poison records: values the database cannot store, numbers that are not finite, times from the future.

Sent by a plain Kafka client onto the topics, the way an outside producer (or kcat) would. Each one
must come out of the dead-letter queue once per stage that reads it, with the reason, and the good
records after it must still become an alert on the operators' websocket and rows in TimescaleDB.
Once, one reading with a NUL in its district stalled alerting and the archiver for good; one stamped
2199 blinded its sensor's rules.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from websockets.sync.client import connect as ws_connect

from pantau.roles import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

READINGS = "pantau.sensor-readings.v1"
INCIDENTS = "pantau.incidents.v1"
CROSSINGS = "pantau.line-crossings.v1"
CONFIG = """
timezone: Asia/Jakarta
alerting: {corroboration_window_s: 0}
sensor_rules:
  - {name: river-flood, kind: water_level, above: 2.5, for_s: 0, severity: critical}
"""


def _reading(sensor_id: str, value: float, ts: datetime, **extra: Any) -> dict[str, Any]:
    return {"sensor_id": sensor_id, "kind": "water_level", "value": value, "unit": "m", "ts": ts.isoformat(), **extra}


def _incident(n: str, ts: datetime, **extra: Any) -> dict[str, Any]:
    return {"id": f"inc-{n}", "type": "water_level_high", "source": f"src-{n}", "source_kind": "sensor",
            "rule": "r", "ts": ts.isoformat(), "detected_at": ts.isoformat(), "severity": "high",
            "title": f"{n} high", **extra}  # fmt: skip


def _crossing(n: int, ts: datetime, **extra: Any) -> dict[str, Any]:
    return {"id": f"x-{n}", "camera": "plaza", "line": "gate", "direction": "in", "object_id": n,
            "ts": ts.isoformat(), **extra}  # fmt: skip


def _hostile(now: datetime) -> list[tuple[str, str, bytes]]:
    """(why, topic, value) of records that must be refused."""
    nul_district = _reading("hx-1", 1.0, now, location={"lat": -7.98, "lon": 112.63, "district": "Klo\x00jen"})
    out = [
        ("NUL in a district", READINGS, orjson.dumps(nul_district)),
        (
            "escape sequence in a unit",
            READINGS,
            orjson.dumps({**_reading("hx-2", 1.0, now), "kind": "noise", "unit": "\x1b[31m"}),
        ),
        ("NaN", READINGS, orjson.dumps(_reading("hx-3", 1.0, now)).replace(b'"value":1.0', b'"value":NaN')),
        ("overflow to infinity", READINGS, orjson.dumps(_reading("hx-4", 1.0, now)).replace(b":1.0", b":1e999")),
        ("lone surrogate", READINGS, orjson.dumps(_reading("hx-5", 1.0, now)).replace(b"hx-5", b"hx-\\ud800")),
        # The sensor whose good readings follow: from the future, it must not advance its state.
        ("year 2199", READINGS, orjson.dumps(_reading("wl-good", 3.0, datetime(2199, 1, 1, tzinfo=UTC)))),
        ("an hour ahead", READINGS, orjson.dumps(_reading("wl-good", 3.0, now + timedelta(hours=1)))),
        ("NUL in a title", INCIDENTS, orjson.dumps(_incident("bad-1", now, title="a\x00b"))),
        ("NUL in evidence", INCIDENTS, orjson.dumps(_incident("bad-2", now, evidence={"note": "a\x00b"}))),
        ("NaN confidence", INCIDENTS, orjson.dumps(_incident("bad-3", now, confidence=0.5)).replace(b"0.5", b"NaN")),
        ("object id beyond bigint", CROSSINGS, orjson.dumps(_crossing(2**63, now))),
        ("NUL in a camera id", CROSSINGS, orjson.dumps(_crossing(1, now, camera="pla\x00za"))),
    ]
    return out


STAGES = {READINGS: ("archive", "detectors.sensor-rules"), INCIDENTS: ("archive", "alerting"), CROSSINGS: ("archive",)}


def _next_alert(ws: Any, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        msg = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if msg["type"] == "alert":
            return msg["alert"]  # type: ignore[no-any-return]
        if msg["type"] == "alerts":
            return msg["alerts"][-1]  # type: ignore[no-any-return]


def _no_worker_died(pipeline: Pipeline) -> None:
    for name, proc in pipeline.procs.items():
        assert proc.poll() is None, f"{name} died:\n{pipeline.log_tail(name)}"
        assert "Traceback" not in pipeline.log_file(name).read_text(errors="replace"), pipeline.log_tail(name, 80)


def test_hostile_records_are_dead_lettered_and_the_next_good_reading_still_alerts(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "detectors", "alerting", "console"))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=0)
    now = datetime.now(UTC)
    url = f"ws://127.0.0.1:{pipeline.console_port}/ws/alerts?token={pipeline.token(Role.operator, 'ani')}"
    with ws_connect(url, open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        producer.send(pipeline.topic(READINGS), key=b"wl-good", value=orjson.dumps(_reading("wl-good", 1.0, now))).get(
            10
        )
        expected = set()
        for why, topic, value in _hostile(now + timedelta(seconds=1)):
            meta = producer.send(pipeline.topic(topic), key=why.encode(), value=value).get(10)
            expected |= {(stage, meta.topic, meta.partition, meta.offset, why) for stage in STAGES[topic]}
        # The next good reading of the sensor the future readings named: its rule still sees it.
        good = _reading("wl-good", 2.9, now + timedelta(seconds=2))
        producer.send(pipeline.topic(READINGS), key=b"wl-good", value=orjson.dumps(good)).get(10)
        alert = _next_alert(ws, 15)
        assert alert["source"] == "wl-good" and alert["type"] == "water_level_high", alert
    producer.close()

    assert pipeline.wait_count("sensor_readings", 2, "sensor_id = 'wl-good'", timeout_s=60) == 2
    time.sleep(1)
    assert pipeline.count("sensor_readings", "sensor_id = 'wl-good' AND ts > now() + interval '5 minutes'") == 0
    assert pipeline.count("sensor_readings", "left(sensor_id, 3) = 'hx-'") == 0
    assert pipeline.count("incidents", "left(id, 8) = 'inc-bad-'") == 0
    assert pipeline.count("line_crossings") == 0

    letters = pipeline.dead_letters(len(expected), settle_s=2)
    by_place = {(letter["stage"], letter["topic"], letter["partition"], letter["offset"]): letter for letter in letters}
    assert len(by_place) == len(letters), "a record dead-lettered twice by one stage"
    missing = [(stage, why) for stage, topic, part, off, why in expected if (stage, topic, part, off) not in by_place]
    assert not missing, f"not dead-lettered: {missing}"
    assert len(letters) == len(expected), [letter["reason"] for letter in letters]
    for stage, topic, part, off, why in expected:
        reason = by_place[(stage, topic, part, off)]["reason"]
        if "ahead" in why or "2199" in why:
            assert "from the future" in reason and "ahead of the server's clock" in reason, (why, reason)
        elif "NUL" in why:
            assert "NUL character" in reason, (why, reason)
        assert reason.strip(), why
    _no_worker_died(pipeline)


def test_a_record_the_database_refuses_is_isolated_and_the_rest_of_its_batch_is_stored(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "alerting"))
    # Values the contracts accept but this database refuses: a check constraint in the test's own
    # schema stands for any constraint or data error a retry cannot fix.
    with pipeline.db() as conn:
        conn.execute("ALTER TABLE sensor_readings ADD CONSTRAINT poison CHECK (sensor_id <> 'poison-1')")
        conn.execute("ALTER TABLE alerts ADD CONSTRAINT poison CHECK (source <> 'src-poison')")
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=20)
    now = datetime.now(UTC) - timedelta(minutes=1)
    readings, incidents = pipeline.topic(READINGS), pipeline.topic(INCIDENTS)
    poison_at = []
    for n in range(41):
        sensor = "poison-1" if n == 20 else f"ok-{n}"
        sent = producer.send(readings, key=b"one-partition", value=orjson.dumps(_reading(sensor, 1.0, now)))
        if n == 20:
            poison_at.append(("archive", sent))
    for n in range(21):
        name = "poison" if n == 10 else f"ok-{n}"
        sent = producer.send(incidents, key=b"one-partition", value=orjson.dumps(_incident(name, now)))
        if n == 10:
            poison_at.append(("alerting", sent))
    producer.flush(30)
    places = {(stage, f.get(10).topic, f.get(10).partition, f.get(10).offset) for stage, f in poison_at}
    producer.close()

    assert pipeline.wait_count("sensor_readings", 40, "left(sensor_id, 3) = 'ok-'", timeout_s=90) == 40
    assert pipeline.wait_count("alerts", 20, "left(source, 7) = 'src-ok-'", timeout_s=90) == 20
    letters = pipeline.dead_letters(2, settle_s=2)
    got = {(letter["stage"], letter["topic"], letter["partition"], letter["offset"]) for letter in letters}
    assert got == places, [letter["reason"] for letter in letters]
    assert all(
        "check constraint" in letter["reason"] and "cannot be processed" in letter["reason"] for letter in letters
    )
    assert pipeline.count("sensor_readings", "sensor_id = 'poison-1'") == 0
    # Both workers went on: a reading and an incident sent afterwards arrive too.
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(readings, key=b"one-partition", value=orjson.dumps(_reading("after", 1.0, now))).get(10)
    producer.send(incidents, key=b"one-partition", value=orjson.dumps(_incident("after", now))).get(10)
    producer.close()
    assert pipeline.wait_count("sensor_readings", 1, "sensor_id = 'after'", timeout_s=60) == 1
    assert pipeline.wait_count("alerts", 1, "source = 'src-after'", timeout_s=60) == 1
    _no_worker_died(pipeline)
