"""Counting-line crossings end to end: a video file of people walking across two counting lines goes
through camera ingest and the camera detectors (motion only, ``object_check: null``), which publish
each crossing on ``pantau.line-crossings.v1``; the archiver stores them in ``line_crossings`` and its
hourly rollup (no class: ``unclassified``), and the planners' history API counts them. Every figure
is compared with the synthetic scene's ground truth."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer

from archive.rollups import CROSSING_ROLLUP, UNCLASSIFIED
from detectors.schemas import TOPIC_LINE_CROSSINGS, LineCrossing, crossing_id
from detectors.video.synthetic import FigurePath, SceneSpec, render, write_video
from detectors.zones.geometry import segments_intersect, side_of_line
from ingest.cameras.schemas import FrameMeta
from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

Line = tuple[tuple[float, float], tuple[float, float]]
# Two counting lines at the same height: the walkway's ends at x = 0.6, the road's starts at 0.7.
LINES: dict[str, Line] = {"walkway": ((0.05, 0.6), (0.6, 0.6)), "road": ((0.7, 0.6), (1.0, 0.6))}
# Drawn left to right, "in" is top to bottom. One at a time: down across the walkway, up across it,
# then down beside its end (across the road's line only).
SCENE = SceneSpec(
    figures=[
        FigurePath(1, [(0.3, 0.3), (0.32, 0.95)], start_s=1.0, speed_px_s=60),
        FigurePath(2, [(0.45, 0.95), (0.43, 0.25)], start_s=6.0, speed_px_s=60),
        FigurePath(3, [(0.85, 0.3), (0.85, 0.95)], start_s=11.0, speed_px_s=60),
    ],
    frames=85,
    seed=3,
)
FULL_FRAME = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def config(video: Path) -> str:
    walkway, road = ([list(p) for p in LINES[name]] for name in ("walkway", "road"))
    return f"""
timezone: Asia/Jakarta
cameras:
  - id: cam-gate
    source: "{video}"
    fps: {SCENE.fps}
    realtime: false
    object_check: null  # the figures are drawn shapes: the motion layer alone, no classes
    location: {{lat: -7.95, lon: 112.61, district: Blimbing}}
    zones:
      - name: walkway
        polygon: {FULL_FRAME}
        rules: [{{line_crossing: {{line: {walkway}, alert: false}}}}]
      - name: road
        polygon: {FULL_FRAME}
        rules: [{{line_crossing: {{line: {road}}}}}]
"""


def expected_crossings() -> list[tuple[str, str, int, int]]:
    """(line, direction, figure, frame index) of every crossing in the scene's ground truth: the
    figure's feet passing through a line's segment between one frame and the next."""
    out = []
    last: dict[int, tuple[float, float]] = {}
    for frame in render(SCENE):
        for box in frame.truth:
            point, before = box.bottom_centre, last.get(box.figure_id)
            last[box.figure_id] = point
            if before is None or box.visible_frac < 0.95:
                continue
            for name, line in LINES.items():
                if segments_intersect(before, point, line):
                    out.append((name, "in" if side_of_line(before, line) < 0 else "out", box.figure_id, frame.index))
    return out


def records(pipeline: Pipeline, topic: str) -> list[Any]:
    consumer = KafkaConsumer(
        pipeline.topic(topic),
        bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    out = list(consumer)
    consumer.close()
    return out


def test_motion_only_camera_crossings_are_published_archived_and_counted(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    truth = expected_crossings()
    assert [(line, d, fig) for line, d, fig, _ in truth] == [
        ("walkway", "in", 1),
        ("walkway", "out", 2),
        ("road", "in", 3),
    ]
    video = write_video(SCENE, tmp_path / "gate.avi")
    pipeline = pipeline_factory(config(video), services=("archiver", "console", "camera-detectors"))
    pipeline.start("camera-ingest")
    found = pipeline.wait_count("line_crossings", len(truth))
    assert found == len(truth), f"{found} crossings stored\n{pipeline.log_tail('camera-detectors', 60)}"
    # The road's crossing also raised an incident (the walkway's did not: alert false); the topic
    # reads below wait 2 s for anything later, and any extra crossing fails the exact comparisons.
    deadline = time.monotonic() + 30
    while pipeline.count("incidents", "type = 'line_crossing'") < 1:
        assert time.monotonic() < deadline, pipeline.log_tail("camera-detectors", 60)
        time.sleep(0.2)

    # Published: one LineCrossing per truth crossing, keyed by the camera, at the frame it happened on.
    frames = [FrameMeta.from_headers("cam-gate", list(r.headers)) for r in records(pipeline, "pantau.frames.v1")]
    assert sorted(f.seq for f in frames) == list(range(SCENE.frames))
    start = next(f.capture_ts for f in frames if f.seq == 0)  # a file's frames: its start + media time
    published = sorted(
        (LineCrossing.model_validate_json(r.value) for r in records(pipeline, TOPIC_LINE_CROSSINGS)
         if r.key == b"cam-gate"),
        key=lambda c: c.ts,
    )  # fmt: skip
    assert [(c.camera, c.line, c.direction) for c in published] == [("cam-gate", line, d) for line, d, _, _ in truth]
    for crossing, (_, _, _, index) in zip(published, truth, strict=True):
        at = start + timedelta(seconds=index / SCENE.fps)
        assert abs(crossing.ts - at) <= timedelta(seconds=1.01 / SCENE.fps), (crossing, index)  # within a frame
        assert (crossing.object_class, crossing.score) == (None, None)  # motion only: no class, no score
        assert crossing.id == crossing_id("cam-gate", crossing.line, crossing.object_id, crossing.ts)
        assert crossing.location is not None and crossing.location.district == "Blimbing"
    assert len({c.object_id for c in published}) == 3  # three people, three tracks

    # Archived as published; the rollup counts them as unclassified in the camera's district.
    with pipeline.db() as conn:
        stored = conn.execute(
            "SELECT id, camera, line, direction, object_class, score, object_id, ts, lat, lon, district "
            "FROM line_crossings ORDER BY ts"
        ).fetchall()
        rollup = conn.execute(
            f"SELECT camera, line, direction, object_class, district, sum(count)::int FROM {CROSSING_ROLLUP} "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 2, 3"
        ).fetchall()
        incidents = conn.execute("SELECT zone, phase, evidence->>'direction' FROM incidents").fetchall()
    assert stored == [
        (c.id, "cam-gate", c.line, c.direction, None, None, c.object_id, c.ts, -7.95, 112.61, "Blimbing")
        for c in published
    ]
    assert rollup == [
        ("cam-gate", "road", "in", UNCLASSIFIED, "Blimbing", 1),
        ("cam-gate", "walkway", "in", UNCLASSIFIED, "Blimbing", 1),
        ("cam-gate", "walkway", "out", UNCLASSIFIED, "Blimbing", 1),
    ]
    assert incidents == [("road", "raised", "in")]  # the walkway counts only (alert: false)

    # The planners' history: the same counts per line, direction and class.
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{pipeline.console_port}/api/v1/history",
        timeout=15,
        headers={"Authorization": f"Bearer {pipeline.token(Role.planner, 'pia')}"},
    )
    window = {"from": (start - timedelta(hours=2)).isoformat(), "to": (start + timedelta(hours=2)).isoformat()}

    def counts(**params: Any) -> tuple[str, Counter[tuple[Any, ...]]]:
        answer = client.get("/crossings", params={**window, **params})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        per = Counter[tuple[Any, ...]]()
        for row in body["rows"]:  # summed over hours: the scene may straddle one
            per[(row["camera"], row["line"], row["direction"], row["object_class"], row["district"])] += row["count"]
        return body["source"], per

    source, per_line = counts(group_by=["line", "direction", "class"], camera="cam-gate")
    assert source == "rollup"
    assert per_line == Counter(
        {
            ("cam-gate", "walkway", "in", UNCLASSIFIED, None): 1,
            ("cam-gate", "walkway", "out", UNCLASSIFIED, None): 1,
            ("cam-gate", "road", "in", UNCLASSIFIED, None): 1,
        }
    )
    _, walkway = counts(line="walkway", group_by="district", **{"class": UNCLASSIFIED})
    assert walkway == Counter({(None, None, None, None, "Blimbing"): 2})
    _, people = counts(kind="person")  # a motion-only camera's crossings are no class's
    assert people == Counter()
    client.close()
