"""``pantau soak``: every service under steady load for a long time; memory, lag and latency over time.

Starts its own instance of every service (:func:`pantau.bench.bench_instance`: own topic prefix,
schema, ports and pid files, so a running demo is untouched), offers sensor readings at a fixed rate
from a plain Kafka producer (one reading in ``trigger_every`` per sensor raises an alert, the next
clears it, as in ``pantau bench sensors``) and plays looping synthetic videos on the cameras (as in
``pantau bench cameras``). Every ``sample_interval_s`` it records each service's resident memory
(``VmRSS`` of its process) and consumer lag (``pantau_consumer_lag_records`` on its ``/metrics``,
summed over groups, topics and partitions); an operator websocket gives reading→alert latency and a
consumer of the incidents topic gives frame capture→intrusion latency. At the end it counts the rows
archived against the readings produced and writes ``report.md``, ``samples.csv`` and SVG plots.

Verdicts (see :func:`memory_verdict`, :func:`lag_verdict`):

- memory flat: median RSS of the last window (``window_s``, at most 60 s) against the median of the
  first window after the warm-up; growth below 10 % passes;
- lag bounded: the largest lag in the second half of the time after warm-up is at most the largest
  in the first half plus a margin (the readings of ``LAG_MARGIN_S`` at the offered rate, at least
  ``LAG_MARGIN_MIN_RECORDS``): a consumer that keeps falling behind grows past it, normal jitter does not;
- nothing lost: rows in ``sensor_readings`` equal the readings Kafka acknowledged;
- no restarts: no service died during the run (a restart would also hide a memory leak).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import platform
import shutil
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import orjson
import psycopg
from kafka import KafkaConsumer, KafkaProducer
from psycopg import sql
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from detectors.bench_cameras import LAWN, _videos
from detectors.schemas import TOPIC_INCIDENTS, Phase, incident_id
from pantau.auth import Role, issue_token
from pantau.bench import RULE, BenchInstance, _config, bench_instance
from pantau.stack import Stack, StackSettings
from pantau.supervisor import SERVICES, local_token_secret
from pantau.timeutil import utcnow

log = logging.getLogger(__name__)

MEMORY_GROWTH_LIMIT = 0.10  # issue 7: < 10 % growth after warm-up
MEMORY_WINDOW_MAX_S = 60.0  # "the first minute after warm-up" against "the last minute"
LAG_MARGIN_S = 5.0
LAG_MARGIN_MIN_RECORDS = 100
DRAIN_TIMEOUT_S = 120.0
CAMERA_FPS = 5.0
NA = "n/a"  # a figure without data in the report
READING_TO_ALERT = "reading-to-alert"
FRAME_TO_INCIDENT = "frame-to-incident"


# -- verdicts (pure) ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryVerdict:
    start_mb: float  # median RSS of the first window after warm-up, MiB
    end_mb: float  # median RSS of the last window, MiB
    growth: float  # (end - start) / start; nan without samples in both windows
    passed: bool


@dataclass(frozen=True)
class LagVerdict:
    first_max_records: int | None  # None: the service has no consumer lag metric
    second_max_records: int | None
    margin_records: int
    passed: bool


def memory_window_s(warmup_s: float, end_s: float) -> float:
    """The length of the two windows compared: a minute, or a third of the time after warm-up in a
    short run (so the windows never overlap)."""
    return max(0.0, min(MEMORY_WINDOW_MAX_S, (end_s - warmup_s) / 3))


def memory_verdict(
    points: Sequence[tuple[float, float]],
    warmup_s: float,
    end_s: float,
    window_s: float,
    limit: float = MEMORY_GROWTH_LIMIT,
) -> MemoryVerdict:
    """Growth of the median of ``(elapsed_s, rss_mb)`` samples in ``[end_s - window_s, end_s]`` over the
    median of those in ``[warmup_s, warmup_s + window_s]``; passes below ``limit``. Medians, not single
    samples, so one garbage-collector moment does not decide the verdict."""
    first = [mb for t, mb in points if warmup_s <= t <= warmup_s + window_s and math.isfinite(mb)]
    last = [mb for t, mb in points if end_s - window_s <= t <= end_s and math.isfinite(mb)]
    if not first or not last:
        return MemoryVerdict(math.nan, math.nan, math.nan, False)
    start_mb, end_mb = statistics.median(first), statistics.median(last)
    growth = (end_mb - start_mb) / start_mb if start_mb > 0 else math.inf
    return MemoryVerdict(start_mb, end_mb, growth, growth < limit)


def lag_margin_records(rate_per_s: float) -> int:
    """How much more the second half's largest lag may be than the first's: ``LAG_MARGIN_S`` of readings."""
    return max(LAG_MARGIN_MIN_RECORDS, int(rate_per_s * LAG_MARGIN_S))


def lag_verdict(points: Sequence[tuple[float, int]], warmup_s: float, end_s: float, margin_records: int) -> LagVerdict:
    """Splits the ``(elapsed_s, lag_records)`` samples after warm-up in two halves; passes when the
    second half's largest lag is at most the first half's plus ``margin_records``. Without any sample
    (a service that consumes nothing) there is nothing to be unbounded: it passes."""
    middle_s = (warmup_s + end_s) / 2
    first = [lag for t, lag in points if warmup_s <= t < middle_s]
    second = [lag for t, lag in points if middle_s <= t <= end_s]
    if not first and not second:
        return LagVerdict(None, None, margin_records, True)
    first_max, second_max = max(first, default=0), max(second, default=0)
    return LagVerdict(first_max, second_max, margin_records, second_max <= first_max + margin_records)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (as the benchmarks report them); nan without values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def bucket_percentiles(
    points: Sequence[tuple[float, float]], interval_s: float, end_s: float
) -> list[tuple[float, float, float, int]]:
    """``(bucket_end_s, p50, p99, count)`` of ``(elapsed_s, value)`` points per ``interval_s`` up to
    ``end_s``; buckets without points are left out (a gap in the plot, not a zero)."""
    buckets: dict[int, list[float]] = {}
    for t, value in points:
        if 0 <= t <= end_s:
            buckets.setdefault(int(t // interval_s), []).append(value)
    return [
        ((i + 1) * interval_s, percentile(vals, 50), percentile(vals, 99), len(vals))
        for i, vals in sorted(buckets.items())
    ]


# -- SVG line chart (no plotting dependency) -----------------------------------------------------------

_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.2g}"


def svg_line_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    x_label: str,
    y_label: str,
    width_px: int = 900,
    height_px: int = 420,
    x_marks: Mapping[str, float] | None = None,
) -> str:
    """A self-contained SVG line chart: one ``<polyline>`` per series (in order, non-finite points left
    out), axes from 0 with round ticks, axis labels, a legend, and a dashed vertical line at each of
    ``x_marks`` (the end of the warm-up)."""
    left, right, top, bottom = 70, 210, 40, 55
    plot_w, plot_h = width_px - left - right, height_px - top - bottom
    finite = [(x, y) for pts in series.values() for x, y in pts if math.isfinite(x) and math.isfinite(y)]
    x_max = max((x for x, _ in finite), default=1.0) or 1.0
    y_max = max((y for _, y in finite), default=1.0) or 1.0
    x_step, y_step = _nice_step(x_max), _nice_step(y_max)
    x_top, y_top = math.ceil(x_max / x_step) * x_step, math.ceil(y_max * 1.05 / y_step) * y_step

    def px(x: float, y: float) -> str:
        return f"{left + x / x_top * plot_w:.1f},{top + plot_h - y / y_top * plot_h:.1f}"

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{height_px}" '
        f'viewBox="0 0 {width_px} {height_px}" font-family="sans-serif" font-size="12">',
        f'<rect x="0" y="0" width="{width_px}" height="{height_px}" fill="white"/>',
        f'<text x="{left + plot_w / 2:.0f}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    tick = 0.0
    while tick <= x_top + x_step / 2:
        x = left + tick / x_top * plot_w
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_fmt(tick)}</text>')
        tick += x_step
    tick = 0.0
    while tick <= y_top + y_step / 2:
        y = top + plot_h - tick / y_top * plot_h
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
        tick += y_step
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>')
    out.append(
        f'<text class="x-label" x="{left + plot_w / 2:.0f}" y="{height_px - 12}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text class="y-label" x="16" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + plot_h / 2:.0f})">{escape(y_label)}</text>'
    )
    for label, x_mark in (x_marks or {}).items():
        if 0 <= x_mark <= x_top:
            x = left + x_mark / x_top * plot_w
            out.append(
                f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#555" stroke-dasharray="4 3"/>'
            )
            out.append(f'<text x="{x + 4:.1f}" y="{top + 12}" fill="#555">{escape(label)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = " ".join(px(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y))
        attr = escape(name, {'"': "&quot;"})
        out.append(
            f'<polyline data-series="{attr}" fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'
        )
        legend_y = top + 8 + i * 18
        out.append(
            f'<line x1="{left + plot_w + 15}" y1="{legend_y}" x2="{left + plot_w + 35}" y2="{legend_y}" '
            f'stroke="{colour}" stroke-width="3"/>'
        )
        out.append(f'<text x="{left + plot_w + 40}" y="{legend_y + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- the run -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One service at one moment of the run."""

    elapsed_s: float
    service: str
    rss_mb: float | None  # None: the process was not running
    lag_records: int | None  # None: no consumer lag metric (a service that consumes nothing) or no scrape
    restarts: int


@dataclass
class SoakResult:
    """What a soak run measured; :meth:`verdicts` and :func:`write_report` judge and show it."""

    command: str
    started_at: datetime
    duration_s: float
    warmup_s: float
    rate_per_s: float
    cameras: int
    sensors: int
    sample_interval_s: float
    services: tuple[str, ...]
    samples: list[Sample] = field(default_factory=list)
    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # series -> (elapsed_s, ms)
    offered: int = 0
    produced: int = 0  # acknowledged by Kafka
    archived: int = 0
    triggers: int = 0
    drain_s: float = 0.0

    def rss_points(self, service: str) -> list[tuple[float, float]]:
        return [(s.elapsed_s, s.rss_mb) for s in self.samples if s.service == service and s.rss_mb is not None]

    def lag_points(self, service: str) -> list[tuple[float, int]]:
        return [
            (s.elapsed_s, s.lag_records) for s in self.samples if s.service == service and s.lag_records is not None
        ]

    def restarts(self, service: str) -> int:
        counts = [s.restarts for s in self.samples if s.service == service]
        return max(counts, default=0) - min(counts, default=0)

    def memory(self, service: str) -> MemoryVerdict:
        window_s = memory_window_s(self.warmup_s, self.duration_s)
        return memory_verdict(self.rss_points(service), self.warmup_s, self.duration_s, window_s)

    def lag(self, service: str) -> LagVerdict:
        return lag_verdict(
            self.lag_points(service), self.warmup_s, self.duration_s, lag_margin_records(self.rate_per_s)
        )

    def verdicts(self) -> dict[str, bool]:
        """The run's four verdicts (see the module's docstring)."""
        return {
            "memory flat (< 10 % growth after warm-up)": all(self.memory(s).passed for s in self.services),
            "consumer lag bounded": all(self.lag(s).passed for s in self.services),
            "nothing lost (archived = produced)": self.archived == self.produced and self.offered == self.produced,
            "no service restarted": all(self.restarts(s) == 0 for s in self.services),
        }

    def passed(self) -> bool:
        return all(self.verdicts().values())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float | None:
    """VmRSS of a process in MiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def parse_lag(metrics_text: str) -> int | None:
    """The sum of every ``pantau_consumer_lag_records`` series in a Prometheus text page; None when the
    page has none (the service consumes nothing, or has not measured yet)."""
    total, seen = 0.0, False
    for line in metrics_text.splitlines():
        if line.startswith("pantau_consumer_lag_records{") or line.startswith("pantau_consumer_lag_records "):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return int(total) if seen else None


def _scrape_lag(port: int | None) -> int | None:
    if port is None:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            return parse_lag(answer.read().decode())
    except OSError:  # not listening (yet, or any more): a gap in the series, not a zero
        return None


def _camera_config(cameras: int, home: Path) -> str:
    """The ``cameras:`` section of ``pantau bench cameras``: looping synthetic walkers, an intrusion lawn."""
    if cameras <= 0:
        return ""
    videos = _videos(home / "bench" / "videos", min(cameras, 8))
    lines = ["cameras:"]
    for i in range(cameras):
        lines.append(f'  - {{id: cam-{i:02d}, source: "{videos[i % len(videos)]}", fps: {CAMERA_FPS}, loop: true,')
        # The synthetic walkers are drawn shapes: the motion layer alone.
        lines.append(f"     object_check: null, zones: [{{name: lawn, polygon: {LAWN}, rules: [intrusion]}}]}}")
    return "\n".join(lines) + "\n"


class _Probes:
    """The run's observers, each in its own thread: the sampler, an operator websocket and a consumer of
    the incidents topic."""

    def __init__(self, run: BenchInstance, result: SoakResult, ws: ClientConnection, t0: float) -> None:
        self.run, self.result, self.ws, self.t0 = run, result, ws, t0
        self.stop = threading.Event()
        # The sampler stops at the end of the run; the latency probes only after the drain.
        self.stop_sampling = threading.Event()
        self.lock = threading.Lock()
        self.sent_at: dict[str, float] = {}  # triggering incident id -> wall time handed to Kafka
        self.received: dict[str, float] = {}  # incident id -> wall time its alert reached the websocket
        self.frame_latencies: list[tuple[float, float]] = []
        json.loads(ws.recv(timeout=10))  # the snapshot
        self.threads = [
            threading.Thread(target=self._sample_loop, name="soak-sampler", daemon=True),
            threading.Thread(target=self._listen, name="soak-websocket", daemon=True),
            threading.Thread(target=self._incidents, name="soak-incidents", daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def elapsed_s(self) -> float:
        return time.monotonic() - self.t0

    def close(self) -> None:
        self.stop_sampling.set()
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def sample(self, at_s: float) -> None:
        """One sample of every service, recorded at ``at_s`` (its place on the sampling grid)."""
        for state in self.run.supervisor.states():
            if state.name not in self.result.services:
                continue
            self.result.samples.append(
                Sample(
                    at_s,
                    state.name,
                    _rss_mb(state.pid) if state.pid else None,
                    _scrape_lag(state.metrics_port),
                    state.restarts,
                )
            )

    def _sample_loop(self) -> None:
        # Sample on a fixed grid from the start, so the windows and halves hold the same number of samples.
        tick = 0
        while not self.stop_sampling.is_set():
            self.sample(tick * self.result.sample_interval_s)
            tick += 1
            self.stop_sampling.wait(max(0.0, self.t0 + tick * self.result.sample_interval_s - time.monotonic()))

    def _listen(self) -> None:
        while not self.stop.is_set():
            try:
                msg = json.loads(self.ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            except Exception:  # the connection closed at the end of the run
                return
            now = time.time()
            for alert in msg.get("alerts", [msg.get("alert")] if msg.get("type") == "alert" else []):
                if alert:
                    with self.lock:
                        self.received.setdefault(alert["last_incident_id"], now)

    def _incidents(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self.run.stack.settings.kafka_bootstrap,
            auto_offset_reset="latest",
            enable_auto_commit=False,  # no group: nothing to commit
            fetch_max_wait_ms=50,
        )
        try:
            consumer.subscribe([self.run.prefix + TOPIC_INCIDENTS])
            while not self.stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    received = utcnow()
                    for rec in records:
                        incident = orjson.loads(rec.value)
                        if incident.get("type") == "intrusion":
                            captured = datetime.fromisoformat(incident["ts"])
                            self.frame_latencies.append(
                                (self.elapsed_s(), (received - captured).total_seconds() * 1000)
                            )
        finally:
            consumer.close()

    def alert_latencies(self) -> list[tuple[float, float]]:
        """``(elapsed_s at receipt, ms)`` for every triggering reading whose alert reached the websocket."""
        wall0 = time.time() - self.elapsed_s()
        with self.lock:
            got = dict(self.received)
        return sorted((got[i] - wall0, (got[i] - sent) * 1000) for i, sent in self.sent_at.items() if i in got)


def _produce(
    run: BenchInstance, probes: _Probes, result: SoakResult, sensors: int, trigger_every: int, t0: float
) -> None:
    """Readings at ``result.rate_per_s`` until ``result.duration_s``; timestamps follow the schedule, so
    each sensor's readings are in order and near the present."""
    producer = KafkaProducer(
        bootstrap_servers=run.stack.settings.kafka_bootstrap, acks="all", linger_ms=5, batch_size=256 * 1024
    )
    failed = 0
    failed_lock = threading.Lock()

    def on_error(_exc: BaseException) -> None:
        nonlocal failed
        with failed_lock:
            failed += 1

    topic = f"{run.prefix}pantau.sensor-readings.v1"
    wall0 = datetime.now(UTC)
    total = int(result.rate_per_s * result.duration_s)
    n = 0
    try:
        for n in range(total):
            if n % 50 == 0:
                delay = t0 + n / result.rate_per_s - time.monotonic()
                if delay > 0.005:
                    time.sleep(delay)
            sensor, seq = n % sensors, n // sensors
            phase = (seq + sensor) % trigger_every  # staggered: a steady flow of alerts, not city-wide bursts
            ts = wall0 + timedelta(seconds=n / result.rate_per_s)
            key = f"bench-{sensor:05d}"
            payload = orjson.dumps(
                {
                    "sensor_id": key,
                    "kind": "water_level",
                    "value": 3.0 if phase == 0 else 1.0,
                    "unit": "m",
                    "ts": ts.isoformat(),
                }
            )
            producer.send(topic, key=key.encode(), value=payload).add_errback(on_error)
            if phase == 0:
                probes.sent_at[incident_id(RULE, key, Phase.raised, ts)] = time.time()
        n = total
    finally:
        producer.flush()
        producer.close()
        result.offered = n
        result.produced = n - failed
        result.triggers = len(probes.sent_at)


def _operator_token(run: BenchInstance) -> str:
    return issue_token(local_token_secret(run.stack.settings.home), Role.operator, "soak")


def _count_archived(run: BenchInstance, expected: int, timeout_s: float) -> int:
    """Rows in the instance's ``sensor_readings``, waiting up to ``timeout_s`` for ``expected``."""
    query = sql.SQL("SELECT count(*) FROM {}.sensor_readings").format(sql.Identifier(run.schema))
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(run.stack.settings.database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(query).fetchone()
            stored = int(row[0]) if row else 0
            if stored >= expected or time.monotonic() > deadline:
                return stored
            time.sleep(0.5)


def run_soak(
    duration_s: float = 1800.0,
    rate_per_s: float = 1000.0,
    cameras: int = 16,
    warmup_s: float = 300.0,
    sensors: int = 500,
    trigger_every: int = 200,
    sample_interval_s: float = 10.0,
    command: str = "pantau soak",
) -> SoakResult:
    """Runs every service under readings at ``rate_per_s`` and ``cameras`` cameras for ``duration_s``,
    sampling memory, lag and latency; returns what it measured (the schema and topics are dropped)."""
    if warmup_s >= duration_s:
        raise ValueError(f"the warm-up ({warmup_s:.0f} s) must be shorter than the run ({duration_s:.0f} s)")
    home = Stack(StackSettings()).settings.home
    config_text = _config(sensors) + _camera_config(cameras, home)
    console_port, ingest_port, alerting_port = _free_port(), _free_port(), _free_port()
    (home / "bench").mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="soak-", dir=home / "bench"))
    # Own ports and evidence folder: the main instance (a demo) may be running beside the soak.
    env = {
        "PANTAU_CONSOLE_PORT": str(console_port),
        "PANTAU_INGEST_PORT": str(ingest_port),
        "PANTAU_ALERTING_PORT": str(alerting_port),
        "PANTAU_ALERTING_URL": f"http://127.0.0.1:{alerting_port}",
        "PANTAU_EVIDENCE_DIR": str(scratch / "evidence"),
        "PANTAU_REPORTS_DIR": str(scratch / "reports"),
    }
    result = SoakResult(
        command=command,
        started_at=utcnow(),
        duration_s=duration_s,
        warmup_s=warmup_s,
        rate_per_s=rate_per_s,
        cameras=cameras,
        sensors=sensors,
        sample_interval_s=sample_interval_s,
        services=SERVICES,
    )
    try:
        with (
            bench_instance("soak", config_text, SERVICES, env) as run,
            ws_connect(
                f"ws://127.0.0.1:{console_port}/ws/alerts?token={_operator_token(run)}", open_timeout=10, max_size=None
            ) as ws,
        ):
            t0 = time.monotonic()
            result.started_at = utcnow()
            probes = _Probes(run, result, ws, t0)
            probes.start()
            try:
                _produce(run, probes, result, sensors, trigger_every, t0)
                # The sampler runs to the end of the run even if the producer finished early (and a
                # little past it, so the sample at the last grid point is taken).
                remaining_s = duration_s - probes.elapsed_s() + min(1.0, sample_interval_s / 2)
                if remaining_s > 0:
                    time.sleep(remaining_s)
                probes.stop_sampling.set()
                drain_start = time.monotonic()
                result.archived = _count_archived(run, result.produced, DRAIN_TIMEOUT_S)
                result.drain_s = time.monotonic() - drain_start
                time.sleep(1.0)  # the last alerts on their way to the websocket
            finally:
                probes.close()
            result.latencies = {READING_TO_ALERT: probes.alert_latencies(), FRAME_TO_INCIDENT: probes.frame_latencies}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


# -- the report ----------------------------------------------------------------------------------------


def _machine() -> str:
    mem_gib = math.nan
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError):
        pass
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {mem_gib:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average at the end {os.getloadavg()[0]:.2f}"
    )


def _ms(value: float) -> str:
    return NA if math.isnan(value) else f"{value:,.1f} ms"


def _mb(value: float) -> str:
    return NA if math.isnan(value) else f"{value:,.1f}"


def render_report(result: SoakResult, files: Sequence[str] = ("memory.svg", "lag.svg", "latency.svg")) -> str:
    """``report.md``: what ran, on what, each service's memory and lag, latency, counts and verdicts."""
    window_s = memory_window_s(result.warmup_s, result.duration_s)
    margin = lag_margin_records(result.rate_per_s)
    lines = [
        "# Soak",
        "",
        f"- date: {result.started_at:%Y-%m-%d %H:%M} UTC",
        f"- command: `{result.command}`",
        f"- machine: {_machine()}",
        f"- load: {result.rate_per_s:,.0f} readings/s from {result.sensors} sensors (Kafka producer) and "
        f"{result.cameras} cameras at {CAMERA_FPS:.0f} fps for {result.duration_s:,.0f} s, "
        f"warm-up {result.warmup_s:,.0f} s, a sample every {result.sample_interval_s:.0f} s",
        "",
        "## Verdicts",
        "",
    ]
    lines += [f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in result.verdicts().items()]
    lines += [
        "",
        f"Memory: median RSS of the {window_s:.0f} s after warm-up against the last {window_s:.0f} s; "
        f"growth below {MEMORY_GROWTH_LIMIT:.0%} passes. Lag (records, summed over a service's groups and "
        f"partitions): the largest in the second half after warm-up may exceed the first half's by at most "
        f"{margin:,} records ({LAG_MARGIN_S:.0f} s of readings).",
        "",
        "## Services",
        "",
        "| service | RSS start (MiB) | RSS end (MiB) | growth | RSS max (MiB) | lag max 1st / 2nd half "
        "| restarts | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for service in result.services:
        mem, lag = result.memory(service), result.lag(service)
        rss_max = max((mb for _, mb in result.rss_points(service)), default=math.nan)
        lag_text = NA if lag.first_max_records is None else f"{lag.first_max_records:,} / {lag.second_max_records:,}"
        growth = NA if math.isnan(mem.growth) else f"{mem.growth:+.1%}"
        ok = mem.passed and lag.passed and result.restarts(service) == 0
        lines.append(
            f"| {service} | {_mb(mem.start_mb)} | {_mb(mem.end_mb)} | {growth} | {_mb(rss_max)} | {lag_text} | "
            f"{result.restarts(service)} | {'pass' if ok else 'FAIL'} |"
        )
    lines += ["", "## Latency", "", "| series | measured | p50 | p95 | p99 | max |", "|---|---|---|---|---|---|"]
    for name, points in result.latencies.items():
        values = [ms for _, ms in points]
        lines.append(
            f"| {name} | {len(values):,} | {_ms(percentile(values, 50))} | {_ms(percentile(values, 95))} | "
            f"{_ms(percentile(values, 99))} | {_ms(max(values, default=math.nan))} |"
        )
    lines += [
        "",
        f"{READING_TO_ALERT}: from handing a triggering reading to Kafka to its alert on an operator websocket "
        f"({len(result.latencies.get(READING_TO_ALERT, [])):,} of {result.triggers:,} triggering readings; "
        f"pending changes of one alert coalesce on the websocket). {FRAME_TO_INCIDENT}: from the capture time "
        "of the frame that completed an intrusion to reading the incident from the incidents topic.",
        "",
        "## Counts",
        "",
        f"- readings offered: {result.offered:,}; acknowledged by Kafka: {result.produced:,}",
        f"- readings archived in TimescaleDB: {result.archived:,} (counted {result.drain_s:.1f} s after the load "
        "stopped)",
        "",
        "## Plots",
        "",
    ]
    lines += [f"![{name.removesuffix('.svg')}]({name})" for name in files]
    lines += ["", "Raw samples: `samples.csv` (one row per metric, series and sample time)."]
    return "\n".join(lines) + "\n"


def write_report(result: SoakResult, out: Path) -> Path:
    """Writes ``report.md``, ``samples.csv``, ``memory.svg``, ``lag.svg`` and ``latency.svg`` to ``out``;
    returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "samples.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["elapsed_s", "metric", "series", "value"])
        for s in result.samples:
            if s.rss_mb is not None:
                writer.writerow([f"{s.elapsed_s:.1f}", "rss_mb", s.service, f"{s.rss_mb:.1f}"])
            if s.lag_records is not None:
                writer.writerow([f"{s.elapsed_s:.1f}", "lag_records", s.service, s.lag_records])
            writer.writerow([f"{s.elapsed_s:.1f}", "restarts", s.service, s.restarts])
        for name, points in result.latencies.items():
            for end_s, p50, p99, count in bucket_percentiles(points, result.sample_interval_s, result.duration_s):
                writer.writerow([f"{end_s:.1f}", "latency_p50_ms", name, f"{p50:.1f}"])
                writer.writerow([f"{end_s:.1f}", "latency_p99_ms", name, f"{p99:.1f}"])
                writer.writerow([f"{end_s:.1f}", "latency_count", name, count])
    memory = {s: result.rss_points(s) for s in result.services}
    lag = {s: [(t, float(v)) for t, v in result.lag_points(s)] for s in result.services if result.lag_points(s)}
    latency: dict[str, list[tuple[float, float]]] = {}
    for name, points in result.latencies.items():
        buckets = bucket_percentiles(points, result.sample_interval_s, result.duration_s)
        latency[f"{name} p50"] = [(end_s, p50) for end_s, p50, _, _ in buckets]
        latency[f"{name} p99"] = [(end_s, p99) for end_s, _, p99, _ in buckets]
    x_label = "time since the load started (s)"
    marks = {"end of warm-up": result.warmup_s}
    (out / "memory.svg").write_text(
        svg_line_chart("Resident memory per service", memory, x_label, "RSS (MiB)", x_marks=marks)
    )
    (out / "lag.svg").write_text(
        svg_line_chart("Consumer lag per service", lag, x_label, "lag (records)", x_marks=marks)
    )
    (out / "latency.svg").write_text(
        svg_line_chart(
            f"End-to-end latency per {result.sample_interval_s:.0f} s", latency, x_label, "latency (ms)", x_marks=marks
        )
    )
    report = out / "report.md"
    report.write_text(render_report(result))
    return report
