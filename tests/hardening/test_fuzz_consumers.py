"""Fuzz the Kafka consumers with random and mutated records (seeded), then known-good ones.

Readings (``pantau.sensor-readings.v1``: archiver and sensor-rules detectors) and incidents
(``pantau.incidents.v1``: archiver and alerting) get random bytes, truncated valid JSON, valid JSON
with a required field removed or of the wrong type, and JSON that is not an object: every mutation
is certainly invalid, so each bad record must come out of the DLQ once per consuming stage with a
reason, the good records after them must be processed, and no worker may die or log a traceback.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import orjson
import pytest
from kafka import KafkaProducer

from detectors.camera_worker import STAGE as CAMERA_STAGE
from detectors.stills import still_path
from ingest.cameras.schemas import HEADER_CAPTURE_TS, HEADER_SEQ, HEADER_SIZE, FrameMeta
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

SEED = 1128
BAD_READINGS = 300
BAD_INCIDENTS = 150
GOOD = 5
READINGS = "pantau.sensor-readings.v1"
INCIDENTS = "pantau.incidents.v1"
STAGES = {READINGS: ("archive", "detectors.sensor-rules"), INCIDENTS: ("archive", "alerting")}
REQUIRED = {
    READINGS: ("sensor_id", "kind", "value", "ts"),
    INCIDENTS: ("id", "type", "source", "source_kind", "rule", "ts", "detected_at", "severity", "title"),
}


def _reading(n: int, ts: datetime, prefix: str = "fz") -> dict[str, Any]:
    return {"sensor_id": f"{prefix}-wl-{n}", "kind": "water_level", "value": 1.0 + n / 10, "unit": "m",
            "ts": ts.isoformat(), "location": {"lat": -7.97, "lon": 112.63, "district": "Klojen"}}  # fmt: skip


def _incident(n: int, ts: datetime, prefix: str = "fz") -> dict[str, Any]:
    return {"id": f"{prefix}-inc-{n}", "type": "water_level_high", "source": f"{prefix}-src-{n}",
            "source_kind": "sensor", "rule": "r", "ts": ts.isoformat(), "detected_at": ts.isoformat(),
            "severity": "high", "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"},
            "title": f"{prefix} {n} high"}  # fmt: skip


def _mutate(rng: random.Random, valid: dict[str, Any], required: tuple[str, ...]) -> bytes:
    """A record that is certainly invalid, derived from ``valid``."""
    raw = orjson.dumps(valid)
    kind = rng.randrange(6)
    if kind == 0:  # random bytes, never valid UTF-8 JSON: starts with 0xff
        return b"\xff" + rng.randbytes(rng.randint(0, 200))
    if kind == 1:  # a proper, non-empty prefix of a JSON object is never valid JSON
        return raw[: rng.randint(1, len(raw) - 1)]
    if kind == 2:  # a required field removed
        broken = dict(valid)
        del broken[rng.choice(required)]
        return orjson.dumps(broken)
    if kind == 3:  # a required field of a type no lax coercion accepts
        broken = dict(valid)
        broken[rng.choice(required)] = rng.choice([{"x": 1}, [1, 2], None])
        return orjson.dumps(broken)
    if kind == 4:  # JSON that is not an object
        return orjson.dumps(rng.choice([[valid], 42, "text", None, True]))
    # one byte flipped to a quote or brace inside the object, then cut: still a truncated object
    pos = rng.randint(1, len(raw) - 2)
    return raw[:pos] + rng.choice([b'"', b"{", b"[", b"\\"]) + raw[pos : rng.randint(pos, len(raw) - 2)]


def test_consumers_dead_letter_every_bad_record_and_keep_running(pipeline_factory: Callable[..., Pipeline]) -> None:
    config = "alerting: {corroboration_window_s: 0}\n"
    pipeline = pipeline_factory(config, services=("archiver", "detectors", "alerting"))
    rng = random.Random(SEED)
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=5)
    now = datetime.now(UTC)
    expected: set[tuple[str, str, int, int]] = set()  # (stage, topic, partition, offset)
    futures = []
    for short, count, make in ((READINGS, BAD_READINGS, _reading), (INCIDENTS, BAD_INCIDENTS, _incident)):
        topic = pipeline.topic(short)
        for n in range(count):
            value = _mutate(rng, make(n, now - timedelta(seconds=n)), REQUIRED[short])
            futures.append((short, producer.send(topic, key=f"k-{n % 7}".encode(), value=value)))
    for short, future in futures:
        meta = future.get(30)
        expected |= {(stage, meta.topic, meta.partition, meta.offset) for stage in STAGES[short]}
    for n in range(GOOD):
        key = f"good-{n}".encode()
        producer.send(pipeline.topic(READINGS), key=key, value=orjson.dumps(_reading(n, now, "good")))
        producer.send(pipeline.topic(INCIDENTS), key=key, value=orjson.dumps(_incident(n, now, "good")))
    producer.flush(30)
    producer.close()

    # The good records after the bad ones are processed.
    assert pipeline.wait_count("sensor_readings", GOOD, "left(sensor_id, 5) = 'good-'", timeout_s=60) == GOOD
    assert pipeline.wait_count("incidents", GOOD, "left(id, 5) = 'good-'", timeout_s=60) == GOOD
    assert pipeline.wait_count("alerts", GOOD, "left(source, 5) = 'good-'", timeout_s=60) == GOOD
    assert pipeline.count("sensor_readings", "left(sensor_id, 3) = 'fz-'") == 0
    assert pipeline.count("incidents", "left(id, 3) = 'fz-'") == 0

    # Every bad record is in the DLQ once per stage that reads its topic, with a reason; nothing else.
    letters = pipeline.dead_letters(len(expected), settle_s=2)
    got = [(letter["stage"], letter["topic"], letter["partition"], letter["offset"]) for letter in letters]
    assert len(got) == len(set(got)), "a record dead-lettered twice by one stage"
    missing, extra = expected - set(got), set(got) - expected
    assert not missing, f"{len(missing)} bad records not dead-lettered, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected dead letters, e.g. {sorted(extra)[:5]}"
    assert all(letter["reason"].strip() for letter in letters)
    print(
        f"\nconsumer fuzz: {BAD_READINGS} bad readings + {BAD_INCIDENTS} bad incidents "
        f"({BAD_READINGS + BAD_INCIDENTS} records, {len(letters)} dead letters), {2 * GOOD} good records"
    )

    for name, proc in pipeline.procs.items():
        assert proc.poll() is None, f"{name} died:\n{pipeline.log_tail(name)}"
        assert "Traceback" not in pipeline.log_file(name).read_text(errors="replace"), pipeline.log_tail(name, 80)


BAD_FRAMES = 200
FRAMES = "pantau.frames.v1"
CAMERA_CONFIG = """
cameras:
  - id: plaza
    source: "rtsp://127.0.0.1:9/none"
    fps: 5
    location: {lat: -7.98, lon: 112.63, district: Klojen}
"""


def _bad_frame(
    rng: random.Random, good: FrameMeta, small_jpeg: bytes
) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of a frame the camera detectors must refuse."""
    headers = good.headers()
    kind = rng.randrange(8)
    if kind == 0:  # no key: no camera id
        return None, small_jpeg, headers
    if kind == 1:  # a camera not in the config
        return f"cam-{rng.randrange(10**6)}".encode(), small_jpeg, headers
    if kind == 2:  # a required header missing
        missing = rng.choice([HEADER_CAPTURE_TS, HEADER_SEQ, HEADER_SIZE])
        return b"plaza", small_jpeg, [(name, value) for name, value in headers if name != missing]
    if kind == 3:  # a broken header value
        name, value = rng.choice(
            [(HEADER_SIZE, b"axb"), (HEADER_SIZE, b"640x"), (HEADER_SIZE, b"0x0"), (HEADER_SEQ, b"-3"),
             (HEADER_SEQ, b"abc"), (HEADER_CAPTURE_TS, b"yesterday"), (HEADER_CAPTURE_TS, b"2026-01-01T00:00:00"),
             (HEADER_CAPTURE_TS, b"\xff\xfe")]
        )  # fmt: skip
        return b"plaza", small_jpeg, [(n, value if n == name else v) for n, v in headers]
    if kind == 4:  # not an image of any format: no decoder's signature starts with two NUL bytes
        return b"plaza", b"\x00\x00" + rng.randbytes(rng.randint(0, 500)), headers
    if kind == 5:  # an empty value
        return b"plaza", b"", headers
    if kind == 6:  # a JPEG of another size than its headers announce
        return b"plaza", small_jpeg, headers
    return b"plaza", b"\x00\x00", headers  # the two bytes alone


def test_camera_detectors_dead_letter_every_bad_frame_and_keep_running(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(CAMERA_CONFIG, services=("camera-detectors",))
    rng = random.Random(SEED + 1)
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=5)
    topic = pipeline.topic(FRAMES)
    start = datetime.now(UTC) - timedelta(seconds=30)
    meta = FrameMeta(camera_id="plaza", capture_ts=start, seq=0, session="fuzz", width_px=640, height_px=360)
    _ok, small = cv2.imencode(".jpg", np.zeros((100, 100), np.uint8))
    futures = []
    for _ in range(BAD_FRAMES):
        key, value, headers = _bad_frame(rng, meta, small.tobytes())
        futures.append(producer.send(topic, key=key, value=value, headers=headers))
    expected = set()
    for future in futures:
        record = future.get(30)
        expected.add((CAMERA_STAGE, record.topic, record.partition, record.offset))
    _ok, frame = cv2.imencode(".jpg", np.zeros((360, 640), np.uint8))
    for n in range(GOOD):
        good = meta.model_copy(update={"seq": n + 1, "capture_ts": start + timedelta(seconds=n + 1)})
        producer.send(topic, key=b"plaza", value=frame.tobytes(), headers=good.headers())
    producer.flush(30)
    producer.close()

    letters = pipeline.dead_letters(len(expected), settle_s=2)
    got = [(letter["stage"], letter["topic"], letter["partition"], letter["offset"]) for letter in letters]
    assert len(got) == len(set(got)), "a frame dead-lettered twice"
    missing, extra = expected - set(got), set(got) - expected
    assert not missing, f"{len(missing)} bad frames not dead-lettered, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected dead letters, e.g. {sorted(extra)[:5]}"
    assert all(letter["reason"].strip() for letter in letters)
    # The good frames after them were decoded: the camera's still is written from them.
    still = still_path(Path(pipeline.env["PANTAU_EVIDENCE_DIR"]), "plaza")
    deadline = time.monotonic() + 30
    while not still.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert still.exists(), pipeline.log_tail("camera-detectors", 80)
    print(f"\nframe fuzz: {BAD_FRAMES} bad frames ({len(letters)} dead letters), {GOOD} good frames")

    for name, proc in pipeline.procs.items():
        assert proc.poll() is None, f"{name} died:\n{pipeline.log_tail(name)}"
        assert "Traceback" not in pipeline.log_file(name).read_text(errors="replace"), pipeline.log_tail(name, 80)
