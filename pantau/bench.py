"""``pantau bench sensors``: sustained readings/s and reading-to-websocket alert latency.

Starts its own instance of the services on the local stack (own topic prefix, schema and ports, so a
running demo is untouched), then offers readings at a fixed rate from a plain Kafka producer while an
operator websocket client listens. One reading in ``trigger_every`` crosses a threshold rule (and the
next clears it), so alerts flow the whole time. The latency of an alert is measured from the moment
its triggering reading was handed to Kafka to the moment the websocket client received it; the
incident id (derived from rule, sensor and reading time) links the two.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from kafka import KafkaProducer
from psycopg import sql
from websockets.sync.client import connect as ws_connect

from detectors.schemas import Phase, incident_id
from pantau.auth import Role, issue_token
from pantau.stack import Stack, StackSettings
from pantau.supervisor import SERVICES, Supervisor, local_token_secret

RULE = "bench-flood"


@dataclass
class BenchReport:
    offered_rate_per_s: float
    duration_s: float
    sent: int
    produce_rate_per_s: float
    stored: int
    stored_rate_per_s: float
    latencies_ms: list[float] = field(default_factory=list)
    triggers: int = 0
    to_alerting_ms: list[float] = field(default_factory=list)
    to_detectors_ms: list[float] = field(default_factory=list)

    def pct(self, q: float, values: list[float] | None = None) -> float:
        data = self.latencies_ms if values is None else values
        if not data:
            return float("nan")
        ordered = sorted(data)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def render(self) -> str:
        return "\n".join(
            [
                f"offered:            {self.offered_rate_per_s:,.0f} readings/s for {self.duration_s:.0f} s",
                f"produced:           {self.sent:,} readings ({self.produce_rate_per_s:,.0f}/s)",
                f"stored end to end:  {self.stored:,} readings ({self.stored_rate_per_s:,.0f}/s sustained, "
                "first send to last row in TimescaleDB)",
                f"alerts measured:    {len(self.latencies_ms):,} of {self.triggers:,} triggering readings "
                "(pending changes of one alert coalesce on the websocket)",
                f"latency reading->websocket alert: p50 {self.pct(50):.1f} ms, p95 {self.pct(95):.1f} ms, "
                f"p99 {self.pct(99):.1f} ms, max {max(self.latencies_ms, default=float('nan')):.1f} ms"
                + (f", mean {statistics.fmean(self.latencies_ms):.1f} ms" if self.latencies_ms else ""),
                f"  of which reading->incident emitted by detectors: p50 {self.pct(50, self.to_detectors_ms):.1f} ms, "
                f"p99 {self.pct(99, self.to_detectors_ms):.1f} ms",
                f"  of which reading->alert committed by alerting: p50 {self.pct(50, self.to_alerting_ms):.1f} ms, "
                f"p99 {self.pct(99, self.to_alerting_ms):.1f} ms (one machine, one clock)",
            ]
        )


def _config(sensors: int) -> str:
    ids = ", ".join(f"bench-{i:05d}" for i in range(sensors))
    return (
        "sensor_rules:\n"
        f"  - {{name: {RULE}, kind: water_level, above: 2.5, clear_below: 2.0, severity: critical,\n"
        f"     sensor_ids: [{ids}]}}\n"
    )


@dataclass(frozen=True)
class BenchInstance:
    """Services started for one benchmark run, apart from anything else on the stack."""

    stack: Stack
    supervisor: Supervisor
    prefix: str  # topic prefix
    schema: str  # database schema


@contextmanager
def bench_instance(
    name: str, config_text: str, services: tuple[str, ...] = SERVICES, env: dict[str, str] | None = None
) -> Iterator[BenchInstance]:
    """Start ``services`` on the local stack with their own topic prefix, schema and config; stop them
    and drop what they wrote afterwards, so a running demo is untouched."""
    stack = Stack(StackSettings())
    tag = uuid.uuid4().hex[:8]
    prefix, schema = f"bench{tag}.", f"bench_{tag}"
    config = stack.settings.home / "bench" / f"{name}-{tag}.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(config_text)
    supervisor = Supervisor(
        stack,
        instance=name,
        extra_env={
            "PANTAU_TOPIC_PREFIX": prefix,
            "PANTAU_DB_SCHEMA": schema,
            "PANTAU_LOG_LEVEL": "WARNING",
            **(env or {}),
        },
    )
    try:
        supervisor.up(config, services=services)
        yield BenchInstance(stack, supervisor, prefix, schema)
    finally:
        supervisor.stop_services()
        with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        config.unlink(missing_ok=True)


def bench_sensors(
    rate_per_s: float = 5000.0, duration_s: float = 30.0, sensors: int = 500, trigger_every: int = 200
) -> BenchReport:
    console_port = 8100
    env = {"PANTAU_CONSOLE_PORT": str(console_port), "PANTAU_INGEST_PORT": "8101"}
    with bench_instance("bench", _config(sensors), env=env) as run:
        return _drive(
            run.stack,
            run.supervisor,
            run.prefix,
            run.schema,
            console_port,
            rate_per_s,
            duration_s,
            sensors,
            trigger_every,
        )


def _drive(
    stack: Stack,
    supervisor: Supervisor,
    prefix: str,
    schema: str,
    console_port: int,
    rate_per_s: float,
    duration_s: float,
    sensors: int,
    trigger_every: int,
) -> BenchReport:
    token = issue_token(local_token_secret(stack.settings.home), Role.operator, "bench")
    received: dict[str, float] = {}
    alerted: dict[str, float] = {}  # incident id -> the alert's updated_at (alerting's commit time), epoch s
    stop = threading.Event()
    ws = ws_connect(f"ws://127.0.0.1:{console_port}/ws/alerts?token={token}", open_timeout=10, max_size=None)
    json.loads(ws.recv(timeout=10))  # the snapshot

    def listen() -> None:
        while not stop.is_set():
            try:
                msg = json.loads(ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            except Exception:  # connection closed at the end of the run
                return
            now = time.time()
            for alert in msg.get("alerts", [msg.get("alert")] if msg.get("type") == "alert" else []):
                if alert:
                    received.setdefault(alert["last_incident_id"], now)
                    alerted.setdefault(
                        alert["last_incident_id"], datetime.fromisoformat(alert["updated_at"]).timestamp()
                    )

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    producer = KafkaProducer(
        bootstrap_servers=stack.settings.kafka_bootstrap, acks="all", linger_ms=2, batch_size=256 * 1024
    )
    topic = f"{prefix}pantau.sensor-readings.v1"
    base = datetime.now(UTC) - timedelta(hours=1)
    sent_at: dict[str, float] = {}
    total = int(rate_per_s * duration_s)
    slice_s = 0.01
    start = time.perf_counter()
    for n in range(total):
        if n % 100 == 0:
            target = start + n / rate_per_s
            delay = target - time.perf_counter()
            if delay > slice_s:
                time.sleep(delay)
        sensor = n % sensors
        seq = n // sensors
        ts = base + timedelta(milliseconds=seq * 10)
        phase = (seq + sensor) % trigger_every  # staggered: a steady flow of alerts, not city-wide bursts
        value = 3.0 if phase == 0 else 1.0
        key = f"bench-{sensor:05d}"
        payload = orjson.dumps(
            {"sensor_id": key, "kind": "water_level", "value": value, "unit": "m", "ts": ts.isoformat()}
        )
        producer.send(topic, key=key.encode(), value=payload)
        if phase == 0:
            sent_at[incident_id(RULE, key, Phase.raised, ts)] = time.time()
    producer.flush()
    produce_s = time.perf_counter() - start
    stored = 0
    deadline = time.monotonic() + 120
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.sensor_readings").format(sql.Identifier(schema))
        while time.monotonic() < deadline:
            row = conn.execute(query).fetchone()
            stored = int(row[0]) if row else 0
            if stored >= total:
                break
            time.sleep(0.05)
    stored_s = time.perf_counter() - start
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        detected: dict[str, float] = dict(
            conn.execute(
                sql.SQL("SELECT id, extract(epoch FROM detected_at) FROM {}.incidents WHERE phase = 'raised'").format(
                    sql.Identifier(schema)
                )
            ).fetchall()
        )
    time.sleep(1.0)
    stop.set()
    listener.join(timeout=5)
    ws.close()
    producer.close()
    latencies = [(received[i] - t) * 1000 for i, t in sent_at.items() if i in received]
    to_alerting = [(alerted[i] - t) * 1000 for i, t in sent_at.items() if i in alerted]
    to_detectors = [(float(detected[i]) - t) * 1000 for i, t in sent_at.items() if i in detected]
    return BenchReport(
        rate_per_s,
        duration_s,
        total,
        total / produce_s,
        stored,
        stored / stored_s,
        latencies,
        len(sent_at),
        to_alerting,
        to_detectors,
    )
