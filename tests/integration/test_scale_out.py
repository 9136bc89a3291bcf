"""Scale-out on Kafka's consumer groups: three camera-detectors workers share the cameras, and when one
dies its cameras move to the others with no frame-derived incident lost; two console replicas serve
their clients the same alert stream."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import orjson
import pytest
from kafka import KafkaProducer
from websockets.sync.client import connect as ws_connect

from detectors.video.synthetic import FigurePath, SceneSpec, render
from pantau.auth import Role
from pantau.kafka import partition_for_key
from tests.pipeline import Pipeline, free_port

pytestmark = [pytest.mark.integration, pytest.mark.fault]

CAMERAS = 8
WORKERS = ("camera-detectors-1", "camera-detectors-2", "camera-detectors-3")


def _walker_clip(folder: Path) -> Path:
    """20 s at 5 fps: an empty plaza, then someone walks onto the lawn about 10 s in."""
    spec = SceneSpec(
        figures=[FigurePath(1, [(0.3, 0.4), (0.35, 0.95)], start_s=8.0, speed_px_s=60)], frames=100, seed=3
    )
    path = folder / "walker-late.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), spec.fps, (spec.width_px, spec.height_px))
    for frame in render(spec):
        writer.write(cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def _config(clip: Path) -> str:
    cameras = "".join(
        f"""
  - id: cam-{n}
    source: "{clip}"
    fps: 5
    realtime: true
    object_check: null  # the clip's walker is a drawn shape: the motion layer alone
    location: {{lat: -7.98, lon: 112.63, district: Klojen}}
    zones:
      - name: lawn
        polygon: [[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]]
        rules: [intrusion]
"""
        for n in range(CAMERAS)
    )
    return f"cameras:{cameras}"


def _assigned(pipeline: Pipeline, worker: str) -> bool:
    return 'camera-detectors: ready (partitions assigned: ["' in pipeline.log_tail(worker, 200)


def test_three_workers_share_the_cameras_and_a_dead_ones_cameras_move_without_loss(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    pipeline = pipeline_factory(_config(_walker_clip(tmp_path)), services=("archiver", "alerting"))
    for worker in WORKERS:
        pipeline.start(worker, service="camera-detectors")
    # Four frame partitions over three workers: every worker holds at least one.
    deadline = time.monotonic() + 30
    while not all(_assigned(pipeline, w) for w in WORKERS):
        assert time.monotonic() < deadline, "\n".join(pipeline.log_tail(w, 20) for w in WORKERS)
        time.sleep(0.2)
    pipeline.start("camera-ingest")
    time.sleep(3)  # every camera streams; nobody is on the lawn yet
    victim = WORKERS[0]
    os.kill(pipeline.procs[victim].pid, signal.SIGKILL)
    killed = time.monotonic()

    # Every camera's walker is one intrusion, those of the dead worker's cameras included.
    deadline = time.monotonic() + 90
    while (
        pipeline.count("incidents", "type = 'intrusion' AND phase = 'raised'") < CAMERAS
        or pipeline.count("alerts", "type = 'intrusion'") < CAMERAS
    ):
        assert time.monotonic() < deadline, (
            f"{pipeline.count('incidents', 'type = %s', ('intrusion',))} intrusions of {CAMERAS}\n"
            + "\n".join(f"--- {w}\n{pipeline.log_tail(w, 30)}" for w in WORKERS[1:])
        )
        time.sleep(0.3)
    took_s = time.monotonic() - killed
    time.sleep(3)  # nothing more comes: no camera raised twice
    with pipeline.db() as conn:
        rows = conn.execute(
            "SELECT source, count(*) FROM incidents WHERE type = 'intrusion' AND phase = 'raised' GROUP BY source"
        ).fetchall()
    assert dict(rows) == {f"cam-{n}": 1 for n in range(CAMERAS)}
    assert pipeline.count("alerts", "type = 'intrusion'") == CAMERAS
    print(f"\nall {CAMERAS} intrusions stored {took_s:.1f} s after the kill")
    # The dead worker held cameras (their intrusions came from the survivors, counted above).
    held = {int(p) for p in re.findall(r"frames\.v1', partition=(\d+)\)", pipeline.log_tail(victim, 400))}
    moved = [n for n in range(CAMERAS) if partition_for_key(f"cam-{n}".encode(), 4) in held]
    assert held and moved, pipeline.log_tail(victim, 40)


def _incident(n: int) -> bytes:
    now = datetime.now(UTC).isoformat()
    return orjson.dumps(
        {"id": f"inc-{n}", "type": "water_level_high", "source": f"gauge-{n}", "source_kind": "sensor",
         "rule": "flood", "ts": now, "detected_at": now, "severity": "high",
         "location": {"lat": -7.98, "lon": 112.63, "district": "Sukun"}, "title": f"gauge-{n} high"}
    )  # fmt: skip


def _changes(ws: Any, expected: int, timeout_s: float = 60) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    types: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(seen) < expected:
        remaining_s = deadline - time.monotonic()
        assert remaining_s > 0, f"{len(set(seen))} of {expected} changes; messages {types}"
        msg = json.loads(ws.recv(timeout=remaining_s))
        types.append(msg["type"])
        if msg["type"] == "alert":
            seen.append((msg["alert"]["id"], msg["alert"]["version"]))
        elif "alerts" in msg:  # a snapshot, or several changes sent together
            seen.extend((a["id"], a["version"]) for a in msg["alerts"])
    return seen


def test_two_console_replicas_serve_the_same_alert_stream(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory("alerting: {corroboration_window_s: 0}\n", services=("alerting", "console"))
    second_port = free_port()
    pipeline.start("console-2", service="console", PANTAU_CONSOLE_PORT=str(second_port))
    token = pipeline.token(Role.operator, "ani")
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    urls = [f"ws://127.0.0.1:{port}/ws/alerts?token={token}" for port in (pipeline.console_port, second_port)]
    with ws_connect(urls[0], open_timeout=30) as first, ws_connect(urls[1], open_timeout=30) as second:
        for ws in (first, second):
            assert json.loads(ws.recv(timeout=30))["type"] == "snapshot"
        for n in range(10):
            producer.send(pipeline.topic("pantau.incidents.v1"), key=f"gauge-{n}".encode(), value=_incident(n))
        producer.flush()
        one, two = _changes(first, 10), _changes(second, 10)
    producer.close()
    assert len(set(one)) == 10 and sorted(one) == sorted(two)
    # A client of either replica that comes later gets the same snapshot.
    snapshots = []
    for url in urls:
        with ws_connect(url, open_timeout=30) as ws:
            msg = json.loads(ws.recv(timeout=30))
            snapshots.append(sorted((a["id"], a["version"]) for a in msg["alerts"]))
    assert snapshots[0] == snapshots[1] == sorted(one)
