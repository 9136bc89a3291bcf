"""``pantau bench alerting``: incident → first push delivered, under load, and dedup under that load.

Starts its own alerting service on the local stack (own topic prefix, schema and port, so a running
demo is untouched) with one webhook channel pointing at a receiver in this process, and one route
to one responder. A plain Kafka producer offers incidents at a fixed rate: one in ``new_every``
comes from a new source (a new alert, so a push), the others repeat one hot source (which must
stay one alert whose count is exactly the number of repeats). The latency of a push is measured
from the moment its incident was handed to Kafka to the moment the webhook received it.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import psycopg
from kafka import KafkaProducer
from psycopg import sql

from pantau.bench import BenchInstance, bench_instance
from pantau.stack import Stack

HOT_SOURCE = "bench-hot"
SECRET = "bench-webhook-secret-0123456789"


@dataclass
class AlertingBenchReport:
    offered_rate_per_s: float
    duration_s: float
    sent: int = 0
    new_alerts: int = 0
    hot_repeats: int = 0
    pushes: int = 0
    hot_count: int = 0
    alerts_rows: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def render(self) -> str:
        return "\n".join(
            [
                f"offered:     {self.offered_rate_per_s:,.0f} incidents/s for {self.duration_s:.0f} s "
                f"({self.sent:,} sent)",
                f"new alerts:  {self.new_alerts:,} (each one push); repeats of one source: {self.hot_repeats:,}",
                f"pushes:      {self.pushes:,} received by the webhook",
                f"dedup:       hot alert count {self.hot_count:,} (expected {self.hot_repeats:,} incidents); "
                f"alerts rows {self.alerts_rows:,} (expected {self.new_alerts + 1:,})",
                "incident handed to Kafka -> webhook received: "
                f"p50 {self.pct(50):.1f} ms, p95 {self.pct(95):.1f} ms, p99 {self.pct(99):.1f} ms, "
                f"max {max(self.latencies_ms, default=float('nan')):.1f} ms "
                f"(mean {statistics.fmean(self.latencies_ms) if self.latencies_ms else float('nan'):.1f} ms)",
            ]
        )


class _Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}  # alert source -> first arrival (epoch s)
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would
            disable_nagle_algorithm = True  # else each small reply waits for the delayed ACK (~40 ms)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.time()
                source = orjson.loads(body)["alert"]["source"]
                with receiver.lock:
                    receiver.count += 1
                    receiver.arrivals.setdefault(source, now)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _config(url: str) -> str:
    return f"""
alerting:
  channels:
    - {{type: webhook, name: bench-hook, url: "{url}", secret: "{SECRET}", timeout_s: 5}}
  routing:
    groups: [{{id: bench, name: Bench}}]
    responders: [{{id: bench-responder, name: Bench, groups: [bench], channels: [bench-hook]}}]
    routes: [{{match: {{}}, tiers: [{{groups: [bench], ack_deadline_s: 3600}}]}}]
"""


def _incident(n: int, source: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "id": f"bench-{n}",
        "type": "water_level_high",
        "source": source,
        "source_kind": "sensor",
        "rule": "bench",
        "ts": now,
        "detected_at": now,
        "severity": "critical",
        "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"},
        "title": f"Bench incident from {source}",
    }


def bench_alerting(rate_per_s: float = 500.0, duration_s: float = 30.0, new_every: int = 10) -> AlertingBenchReport:
    receiver = _Receiver()
    report = AlertingBenchReport(rate_per_s, duration_s)
    try:
        with bench_instance("bench", _config(receiver.url), ("alerting",), {"PANTAU_ALERTING_PORT": "8102"}) as run:
            _measure(run, receiver, report, rate_per_s, duration_s, new_every)
        return report
    finally:
        receiver.server.shutdown()


def _measure(
    run: BenchInstance,
    receiver: _Receiver,
    report: AlertingBenchReport,
    rate_per_s: float,
    duration_s: float,
    new_every: int,
) -> None:
    sent_at = _drive(run.stack, run.prefix, report, rate_per_s, duration_s, new_every)
    deadline = time.monotonic() + 60
    # Every new source's alert and the hot source's one alert each make one push.
    while len(receiver.arrivals) < report.new_alerts + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    with psycopg.connect(run.stack.settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(run.schema)))
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count FROM alerts WHERE source = %s", (HOT_SOURCE,)).fetchone()
            report.hot_count = row[0] if row else 0
            if report.hot_count >= report.hot_repeats:
                break
            time.sleep(0.2)
        counted = conn.execute("SELECT count(*) FROM alerts").fetchone()
        report.alerts_rows = counted[0] if counted else 0
    with receiver.lock:
        report.pushes = receiver.count
        report.latencies_ms = [
            (receiver.arrivals[source] - sent) * 1000 for source, sent in sent_at.items() if source in receiver.arrivals
        ]


def _drive(
    stack: Stack, prefix: str, report: AlertingBenchReport, rate_per_s: float, duration_s: float, new_every: int
) -> dict[str, float]:
    producer = KafkaProducer(bootstrap_servers=stack.env()["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=0)
    topic = f"{prefix}pantau.incidents.v1"
    sent_at: dict[str, float] = {}
    total = int(rate_per_s * duration_s)
    start = time.monotonic()
    for n in range(total):
        if n % new_every == 0:
            source = f"bench-new-{n:07d}"
            report.new_alerts += 1
        else:
            source = HOT_SOURCE
            report.hot_repeats += 1
        value = orjson.dumps(_incident(n, source))
        if source != HOT_SOURCE or HOT_SOURCE not in sent_at:
            sent_at[source] = time.time()
        producer.send(topic, key=source.encode(), value=value)
        delay = start + (n + 1) / rate_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    producer.flush()
    producer.close()
    report.sent = total
    return sent_at
