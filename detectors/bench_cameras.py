"""``pantau bench cameras``: frame capture → incident latency through the running stack.

Starts its own camera-ingest and camera-detectors (own topic prefix, so a running demo is
untouched) for ``cameras`` cameras at 5 fps, each playing a looping synthetic video in real time in
which a person walks onto the watched lawn. Every intrusion incident read from the incidents topic
gives one latency: from the capture time of the frame that completed it (the incident's ``ts``) to
the moment the incident was read.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import orjson
from kafka import KafkaConsumer

from detectors.schemas import TOPIC_INCIDENTS
from detectors.video.synthetic import FigurePath, SceneSpec, render
from pantau.bench import bench_instance
from pantau.stack import Stack, StackSettings
from pantau.timeutil import utcnow

LAWN = "[[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]]"


@dataclass
class CameraBenchReport:
    cameras: int
    fps: float
    duration_s: float
    latencies_ms: list[float]

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")

    def render(self) -> str:
        mean = statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan")
        return (
            f"cameras: {self.cameras} at {self.fps:.0f} fps for {self.duration_s:.0f} s "
            f"({self.cameras * self.fps:.0f} frames/s offered)\n"
            f"intrusions measured: {len(self.latencies_ms)}\n"
            f"latency frame capture -> incident on the topic: p50 {self.pct(50):.1f} ms, p95 {self.pct(95):.1f} ms, "
            f"p99 {self.pct(99):.1f} ms, max {max(self.latencies_ms, default=float('nan')):.1f} ms, mean {mean:.1f} ms"
        )


def _videos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(count):
        path = folder / f"walker-{seed}.avi"
        if not path.exists():
            x = 0.2 + 0.6 * (seed % 4) / 3
            spec = SceneSpec(
                figures=[FigurePath(1, [(x, 0.35), (x + 0.02, 1.2)], start_s=1.0, speed_px_s=55)], frames=50, seed=seed
            )
            tmp = path.with_suffix(".tmp.avi")
            writer = cv2.VideoWriter(
                str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), spec.fps, (spec.width_px, spec.height_px)
            )
            for frame in render(spec):
                writer.write(cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR))
            writer.release()
            tmp.rename(path)
        paths.append(path)
    return paths


def bench_cameras(cameras: int = 16, duration_s: float = 60.0, fps: float = 5.0) -> CameraBenchReport:
    videos = _videos(Stack(StackSettings()).settings.home / "bench" / "videos", min(cameras, 8))
    lines = ["cameras:"]
    for i in range(cameras):
        lines.append(f'  - {{id: cam-{i:02d}, source: "{videos[i % len(videos)]}", fps: {fps}, loop: true,')
        # The synthetic walkers are drawn shapes: the motion layer alone.
        lines.append(f"     object_check: null, zones: [{{name: lawn, polygon: {LAWN}, rules: [intrusion]}}]}}")
    latencies: list[float] = []
    with bench_instance("bench-cameras", "\n".join(lines) + "\n", ("camera-detectors", "camera-ingest")) as run:
        consumer = KafkaConsumer(
            bootstrap_servers=run.stack.settings.kafka_bootstrap,
            auto_offset_reset="latest",
            fetch_max_wait_ms=20,
            consumer_timeout_ms=200,
        )
        try:
            consumer.subscribe([run.prefix + TOPIC_INCIDENTS])
            deadline = time.monotonic() + duration_s
            while time.monotonic() < deadline:
                for rec in consumer:
                    received = utcnow()
                    incident = orjson.loads(rec.value)
                    if incident.get("type") == "intrusion":
                        captured = datetime.fromisoformat(incident["ts"])
                        latencies.append((received - captured).total_seconds() * 1000)
        finally:
            consumer.close()
    return CameraBenchReport(cameras, fps, duration_s, latencies)
