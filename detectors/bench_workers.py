"""``pantau bench workers``: frames/s processed by 1, 2, 3… camera-detectors workers in one consumer group.

For each worker count N it starts its own instance (own topic prefix, schema and consumer group, so a
running demo is untouched) with camera-detectors, then N-1 further camera-detectors processes in the
same consumer group, each with its own consumer instance id and /metrics port. The bench process
itself produces pre-encoded synthetic JPEG frames straight to the frames topic (the message format of
camera-ingest: see :mod:`ingest.cameras.schemas`) at a fixed offered rate above what the group can
process, so that the detectors are the bottleneck and not the decoding/encoding of camera-ingest.

Throughput is the increase of ``pantau_frames_analysed_total`` summed over the workers' /metrics over a
steady window that starts once every worker holds partitions; CPU% per worker comes from
``/proc/<pid>/stat``; lag at the end from the group's committed offsets against the log end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import cv2
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from detectors.video.synthetic import FigurePath, SceneSpec, render
from ingest.cameras.schemas import TOPIC_FRAMES, FrameMeta
from pantau.bench import BenchInstance, bench_instance
from pantau.timeutil import utcnow

LAWN = "[[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]]"
GROUP = "pantau.detectors.cameras"  # camera-detectors' default consumer group (prefixed per instance)
SERVICE = "camera-detectors"
FRAMES_METRIC = "pantau_frames_analysed_total"
# Seconds given to a group to settle after its last worker joined before the window starts: a
# rebalance pauses consumption and would otherwise be counted against the run.
SETTLE_S = 5.0
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def parse_workers(text: str) -> list[int]:
    """``"1,2,3"`` -> ``[1, 2, 3]``; ``ValueError`` for anything but positive integers."""
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or any(n < 1 for n in counts):
        raise ValueError(f"--workers needs positive worker counts separated by commas, not {text!r}")
    return counts


@dataclass
class WorkersRun:
    """What one worker count achieved over its steady window."""

    workers: int
    window_s: float
    frames_processed: int
    per_worker_frames: list[int]
    cpu_percent: list[float]  # per worker, 100 = one core busy
    lag_end_frames: int
    frames_offered: int

    @property
    def frames_per_s(self) -> float:
        return self.frames_processed / self.window_s if self.window_s > 0 else 0.0

    def per_worker_frames_per_s(self) -> list[float]:
        return [n / self.window_s if self.window_s > 0 else 0.0 for n in self.per_worker_frames]


@dataclass
class WorkersBenchReport:
    cameras: int
    offered_frames_per_s: float
    duration_s: float
    runs: list[WorkersRun] = field(default_factory=list)

    def render(self) -> str:
        lines = [
            f"cameras: {self.cameras}, offered {self.offered_frames_per_s:.0f} frames/s (640x360 JPEG), "
            f"window {self.duration_s:.0f} s per worker count, {os.cpu_count()} cores",
            "",
            "| workers | frames/s processed | per-worker frames/s | CPU% per worker | lag at end (frames) |",
            "|---:|---:|---|---|---:|",
        ]
        for run in self.runs:
            per_worker = " / ".join(f"{v:.0f}" for v in run.per_worker_frames_per_s())
            cpu = " / ".join(f"{v:.0f}" for v in run.cpu_percent)
            lines.append(f"| {run.workers} | {run.frames_per_s:.0f} | {per_worker} | {cpu} | {run.lag_end_frames:,} |")
        return "\n".join(lines)


def parse_frames_counter(metrics_text: str) -> int:
    """Sum of ``pantau_frames_analysed_total`` over all cameras in a Prometheus text exposition."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(FRAMES_METRIC + "{") or line.startswith(FRAMES_METRIC + " "):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _scrape_frames(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return parse_frames_counter(resp.read().decode())


def _cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _encoded_frames(count: int = 50) -> list[bytes]:
    """JPEGs of a synthetic scene in which someone walks onto the lawn: motion, so the detector
    does its full work (blobs, tracks, zones) rather than skipping empty frames."""
    spec = SceneSpec(figures=[FigurePath(1, [(0.3, 0.35), (0.32, 1.2)], start_s=0.5, speed_px_s=55)], frames=count)
    out = []
    for frame in render(spec):
        ok, jpeg = cv2.imencode(".jpg", frame.gray, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out.append(jpeg.tobytes())
    return out


def _config(cameras: int) -> str:
    lines = ["cameras:"]
    for i in range(cameras):
        # The source is never opened: this bench runs no camera-ingest, it produces the frames itself.
        lines.append(f'  - {{id: cam-{i:02d}, source: "bench://cam-{i:02d}", fps: 5,')
        # The synthetic walkers are drawn shapes: the motion layer alone.
        lines.append(f"     object_check: null, zones: [{{name: lawn, polygon: {LAWN}, rules: [intrusion]}}]}}")
    return "\n".join(lines) + "\n"


class _FrameProducer:
    """Sends frames round-robin over the cameras at ``rate_per_s`` from a thread of the bench process."""

    def __init__(self, bootstrap: str, topic: str, cameras: int, rate_per_s: float) -> None:
        self.topic, self.cameras, self.rate_per_s = topic, cameras, rate_per_s
        self.jpegs = _encoded_frames()
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks=1, linger_ms=5, batch_size=1024 * 1024, max_request_size=8 * 1024 * 1024
        )
        self.sent = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.session = uuid.uuid4().hex[:8]

    def _run(self) -> None:
        start = time.perf_counter()
        base = utcnow()
        while not self.stop_event.is_set():
            n = self.sent
            if n % 50 == 0:
                # Pace in slices of 50 frames: sleeping per frame would cost more than sending.
                delay = start + n / self.rate_per_s - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            camera, seq = n % self.cameras, n // self.cameras
            # Capture times must strictly increase per camera; derived from the offered rate, they stay
            # close to the wall clock (never far in the future, which the detectors refuse).
            meta = FrameMeta(
                camera_id=f"cam-{camera:02d}",
                capture_ts=base + timedelta(seconds=n / self.rate_per_s),
                seq=seq,
                session=self.session,
                width_px=640,
                height_px=360,
            )
            self.producer.send(
                self.topic, key=meta.camera_id.encode(), value=self.jpegs[seq % len(self.jpegs)], headers=meta.headers()
            )
            self.sent += 1

    def __enter__(self) -> _FrameProducer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        self.producer.flush(timeout=10)
        self.producer.close(timeout=10)


@dataclass
class _Worker:
    pid: int
    metrics_port: int
    proc: subprocess.Popen[bytes] | None = None  # None: the supervisor's own replica
    ready_file: Path | None = None


def _start_extra_worker(run: BenchInstance, index: int, timeout_s: float = 60.0) -> _Worker:
    """One more camera-detectors process in the instance's group: the supervisor runs one replica of
    each service, so further ones are plain children of this process with the instance's environment."""
    sup = run.supervisor
    ready = sup.run_dir / f"{SERVICE}-{index}.ready"
    ready.unlink(missing_ok=True)
    port = _free_port()
    env = sup.service_env(sup.config_path())
    env.update(
        PANTAU_READY_FILE=str(ready),
        PANTAU_METRICS_PORT=str(port),
        # Distinct static member ids: equal ones would fence each other out of the group.
        PANTAU_CONSUMER_INSTANCE_ID=f"{socket.gethostname()}-{sup.instance}-{SERVICE}-{index}",
    )
    with (sup.log_dir / f"{SERVICE}-{index}.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pantau.cli", "run", SERVICE],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"{SERVICE}-{index} did not become ready; see {sup.log_dir / f'{SERVICE}-{index}.log'}")
        time.sleep(0.1)
    return _Worker(proc.pid, port, proc, ready)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _group_lag(bootstrap: str, group: str, topic: str) -> int:
    """Frames between the group's committed offsets and the log end, summed over partitions."""
    # A consumer with the group's id only fetches its committed offsets: it never subscribes, so it
    # does not join the group.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
        return sum(end - (consumer.committed(tp) or 0) for tp, end in ends.items())
    finally:
        consumer.close()


def _measure(workers: int, cameras: int, rate_per_s: float, duration_s: float) -> WorkersRun:
    with bench_instance(f"bench-workers-{workers}", _config(cameras), (SERVICE,)) as run:
        state = next(s for s in run.supervisor.states() if s.name == SERVICE)
        if state.pid is None or state.metrics_port is None:
            raise RuntimeError(f"{SERVICE} of {run.supervisor.instance} has no pid or metrics port")
        pool = [_Worker(state.pid, state.metrics_port)]
        bootstrap = run.stack.settings.kafka_bootstrap
        topic = run.prefix + TOPIC_FRAMES
        try:
            for index in range(2, workers + 1):
                pool.append(_start_extra_worker(run, index))
            with _FrameProducer(bootstrap, topic, cameras, rate_per_s) as producer:
                time.sleep(SETTLE_S)
                frames_before = [_scrape_frames(w.metrics_port) for w in pool]
                ticks_before = [_cpu_ticks(w.pid) for w in pool]
                sent_before, start = producer.sent, time.perf_counter()
                time.sleep(duration_s)
                frames_after = [_scrape_frames(w.metrics_port) for w in pool]
                ticks_after = [_cpu_ticks(w.pid) for w in pool]
                window_s, offered = time.perf_counter() - start, producer.sent - sent_before
            time.sleep(1.5)  # one commit interval: the lag then reflects what the group really left
            lag = _group_lag(bootstrap, run.prefix + GROUP, topic)
        finally:
            for worker in pool:
                if worker.proc is not None:
                    _stop(worker.proc)
                if worker.ready_file is not None:
                    worker.ready_file.unlink(missing_ok=True)
    per_worker = [a - b for a, b in zip(frames_after, frames_before, strict=True)]
    cpu = [(a - b) / CLOCK_TICKS_PER_S / window_s * 100 for a, b in zip(ticks_after, ticks_before, strict=True)]
    return WorkersRun(workers, window_s, sum(per_worker), per_worker, cpu, lag, offered)


def bench_workers(
    cameras: int = 16, workers: list[int] | None = None, duration_s: float = 60.0, fps: float = 50.0
) -> WorkersBenchReport:
    """Measure every worker count in ``workers`` (default 1, 2, 3) in turn, each in a fresh instance."""
    report = WorkersBenchReport(cameras, cameras * fps, duration_s)
    for count in workers or [1, 2, 3]:
        report.runs.append(_measure(count, cameras, cameras * fps, duration_s))
    return report
