"""``pantau bench history``: the planners' history API over a city's quarter of data.

Starts its own console on the local stack (own schema, topic prefix, port and token secret, so a
running demo is untouched: :func:`pantau.bench.bench_instance`), fills that schema on the server
with ``generate_series`` (10 million readings of 500 sensors in 10 districts and 200,000 incidents
of those sensors and 50 cameras over 90 days, one in ten incidents a ``cleared`` one), builds the
hourly rollups with :func:`archive.rollups.rebuild_rollups`, then asks the console's HTTP API each
question ``runs`` times (after two warm-up calls) with a planner's token and reports p50/p95 of the
whole HTTP answer. Targets (issue 6): a 30-day hourly aggregate per district < 300 ms, the heatmap
< 500 ms. For scale it also times the raw-table equivalent of the readings aggregate (a few runs),
and what the rollup adds to one archiver batch. The schema is dropped afterwards.
"""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from psycopg import sql

from archive import queries, rollups
from pantau.auth import Role, issue_token
from pantau.bench import bench_instance
from pantau.db import require_timescaledb

SENSORS = 500
CAMERAS = 50
DISTRICTS = 10
KINDS = ("water_level", "rainfall", "pm25", "smoke", "temperature", "traffic_density", "panic_button")
TYPES = (
    "water_level_high",
    "rain_heavy",
    "pm25_high",
    "smoke_detected",
    "intrusion",
    "loitering",
    "crowd",
    "video_loss",
)
TARGETS_MS = {"readings 1h per district, 30 days": 300.0, "incidents 1h per district, 30 days": 300.0}
HEATMAP_TARGET_MS = 500.0

_READINGS_SLICE = """
    INSERT INTO sensor_readings (ts, sensor_id, kind, value, unit, lat, lon, district)
    SELECT %(start)s::timestamptz + make_interval(secs => i * %(step_s)s + s * %(stagger_s)s),
           'bench-' || lpad(s::text, 4, '0'),
           (%(kinds)s::text[])[s %% %(n_kinds)s + 1],
           round((random() * 10)::numeric, 2)::float8, 'x',
           -7.98 + (s %% 50) * 0.001, 112.63 + (s / 50) * 0.001,
           'district-' || (s %% %(districts)s)
    FROM generate_series(%(i0)s, %(i1)s - 1) AS i, generate_series(0, %(sensors)s - 1) AS s
"""
_INCIDENTS = """
    INSERT INTO incidents (ts, id, type, source, source_kind, rule, phase, severity, confidence, zone,
                           lat, lon, district, title, evidence, detected_at)
    SELECT ts, 'bench-' || n, (%(types)s::text[])[n %% %(n_types)s + 1],
           CASE WHEN n %% 11 = 0 THEN 'cam-' || lpad((n %% %(cameras)s)::text, 2, '0')
                ELSE 'bench-' || lpad((n %% %(sensors)s)::text, 4, '0') END,
           CASE WHEN n %% 11 = 0 THEN 'camera' ELSE 'sensor' END,
           'rule-' || (n %% 13), CASE WHEN n %% 10 = 9 THEN 'cleared' ELSE 'raised' END,
           (ARRAY['critical', 'high', 'medium', 'low'])[n %% 4 + 1], 0.9, NULL, -7.98, 112.63,
           'district-' || (n %% %(districts)s), 'bench', '{}'::jsonb, ts
    FROM (SELECT n, %(start)s::timestamptz + make_interval(secs => n * %(step_s)s) AS ts
          FROM generate_series(0, %(count)s - 1) AS n) AS g
"""
_RAW_READINGS_PER_DISTRICT = """
    SELECT time_bucket(INTERVAL '1 hour', ts) AS b, district, count(*), avg(value), min(value), max(value)
    FROM sensor_readings WHERE ts >= %(start)s AND ts < %(end)s GROUP BY b, district ORDER BY b, district
"""


@dataclass
class HistoryBenchReport:
    """What ``pantau bench history`` measured (times in ms unless named otherwise)."""

    readings: int
    incidents: int
    days: int
    runs: int
    generate_s: float = 0.0
    rebuild_s: float = 0.0
    rollup_rows: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, list[float]] = field(default_factory=dict)
    answer_rows: dict[str, int] = field(default_factory=dict)
    raw_readings_per_district_ms: list[float] = field(default_factory=list)
    batch_merge_ms: list[float] = field(default_factory=list)
    batch_merge_with_rollup_ms: list[float] = field(default_factory=list)

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def verdict(self) -> str:
        checks = [(name, self.pct(self.timings_ms.get(name, []), 95), limit) for name, limit in TARGETS_MS.items()]
        checks.append(
            ("heatmap, 90 days", self.pct(self.timings_ms.get("heatmap, 90 days", []), 95), HEATMAP_TARGET_MS)
        )
        failed = [f"{name} p95 {got:.0f} ms >= {limit:.0f} ms" for name, got, limit in checks if not got < limit]
        return "verdict: targets met (p95)" if not failed else "verdict: MISSED: " + "; ".join(failed)

    def render(self) -> str:
        lines = [
            f"data: {self.readings:,} readings ({SENSORS} sensors, {DISTRICTS} districts) and {self.incidents:,} "
            f"incidents over {self.days} days, generated in {self.generate_s:.0f} s; rollups rebuilt in "
            f"{self.rebuild_s:.1f} s",
            "rollup rows: " + ", ".join(f"{k} {v:,}" for k, v in self.rollup_rows.items()),
            "sizes: " + ", ".join(f"{k} {v}" for k, v in self.sizes.items()),
            f"HTTP answer times over {self.runs} runs (planner token, whole request):",
        ]
        for name, values in self.timings_ms.items():
            lines.append(
                f"  {name:<42} p50 {self.pct(values, 50):7.1f} ms   p95 {self.pct(values, 95):7.1f} ms   "
                f"({self.answer_rows.get(name, 0):,} rows)"
            )
        lines.append(
            f"  for scale, the readings aggregate on the raw table (SQL only, {len(self.raw_readings_per_district_ms)} "
            f"runs): p50 {self.pct(self.raw_readings_per_district_ms, 50):.0f} ms"
        )
        lines.append(
            f"archiver batch of 2,500 new readings: merge p50 {self.pct(self.batch_merge_ms, 50):.1f} ms, "
            f"merge + both reading rollups p50 {self.pct(self.batch_merge_with_rollup_ms, 50):.1f} ms"
        )
        lines.append(self.verdict())
        return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _generate(conn: psycopg.Connection, report: HistoryBenchReport, start: datetime) -> None:
    span_s = report.days * 86400
    per_sensor = report.readings // SENSORS
    step_s = span_s / per_sensor
    slices = 10
    began = time.perf_counter()
    for piece in range(slices):
        conn.execute(
            _READINGS_SLICE,
            {
                "start": start,
                "step_s": step_s,
                "stagger_s": step_s / SENSORS,  # the sensors' readings interleave instead of arriving together
                "kinds": list(KINDS),
                "n_kinds": len(KINDS),
                "districts": DISTRICTS,
                "sensors": SENSORS,
                "i0": piece * per_sensor // slices,
                "i1": (piece + 1) * per_sensor // slices,
            },
        )
    conn.execute(
        _INCIDENTS,
        {
            "start": start,
            "step_s": span_s / report.incidents,
            "types": list(TYPES),
            "n_types": len(TYPES),
            "cameras": CAMERAS,
            "sensors": SENSORS,
            "districts": DISTRICTS,
            "count": report.incidents,
        },
    )
    report.generate_s = time.perf_counter() - began
    conn.execute("ANALYZE sensor_readings")
    conn.execute("ANALYZE incidents")


def _batch_costs(conn: psycopg.Connection, report: HistoryBenchReport, after: datetime, repeats: int = 10) -> None:
    """One archiver batch of 2,500 new readings (500 sensors, 5 each), merged without and with the rollup."""
    conn.execute(queries.READINGS_STAGE)
    for n in range(2 * repeats):
        with_rollup = n % 2 == 1
        base = after + timedelta(minutes=n)
        with conn.transaction():
            conn.execute(
                "INSERT INTO readings_stage SELECT %(base)s::timestamptz + make_interval(secs => k), "
                "'bench-' || lpad(s::text, 4, '0'), 'water_level', k, 'm', NULL, NULL, 'district-' || (s %% 10) "
                "FROM generate_series(0, 4) AS k, generate_series(0, 499) AS s",
                {"base": base},
            )
            began = time.perf_counter()
            conn.execute(rollups.MERGE_READINGS_WITH_ROLLUP if with_rollup else queries.MERGE_READINGS)
            elapsed_ms = (time.perf_counter() - began) * 1000
        (report.batch_merge_with_rollup_ms if with_rollup else report.batch_merge_ms).append(elapsed_ms)


def _measure(client: httpx.Client, report: HistoryBenchReport, name: str, path: str, params: dict[str, Any]) -> None:
    for _ in range(2):  # warm-up: the pool's connection, the plan, the pages in shared buffers
        client.get(path, params=params).raise_for_status()
    timings: list[float] = []
    rows = 0
    for _ in range(report.runs):
        began = time.perf_counter()
        answer = client.get(path, params=params)
        timings.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
        if answer.headers["content-type"].startswith("text/csv"):
            rows = answer.text.count("\n") - 1  # less the header row
        else:
            body = answer.json()
            rows = len(body.get("rows", body.get("points", body.get("counts", []))))
    report.timings_ms[name] = timings
    report.answer_rows[name] = rows


def _prepare(conn: psycopg.Connection, report: HistoryBenchReport, start: datetime, end: datetime) -> None:
    """The archiver's tables and rollups in the bench schema, filled, with their sizes."""
    license_name = require_timescaledb(conn)
    for statement in queries.SCHEMA_STATEMENTS:
        conn.execute(statement)
    rollups.apply_rollup_schema(conn, license_name)
    _generate(conn, report, start)
    began = time.perf_counter()
    rollups.rebuild_rollups(conn, start, end)
    report.rebuild_s = time.perf_counter() - began
    for table in rollups.ROLLUPS:
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        report.rollup_rows[table] = int(row[0]) if row else 0
    for table in ("sensor_readings", "incidents", *rollups.ROLLUPS):
        size = conn.execute("SELECT pg_size_pretty(hypertable_size(%s::regclass))", (table,)).fetchone()
        report.sizes[table] = str(size[0]) if size else "?"
    month = {"start": end - timedelta(days=30), "end": end}
    for _ in range(3):
        began = time.perf_counter()
        conn.execute(_RAW_READINGS_PER_DISTRICT, month).fetchall()
        report.raw_readings_per_district_ms.append((time.perf_counter() - began) * 1000)


def _ask(port: int, token: str, report: HistoryBenchReport, start: datetime, end: datetime) -> None:
    """Each question through the console's HTTP API, as a planner."""
    month = {"from": (end - timedelta(days=30)).isoformat(), "to": end.isoformat()}
    week = {"from": (end - timedelta(days=7)).isoformat(), "to": end.isoformat()}
    quarter = {"from": start.isoformat(), "to": end.isoformat()}
    questions: list[tuple[str, str, dict[str, Any]]] = [
        ("readings 1h per district, 30 days", "/readings", {**month, "group_by": "district"}),
        ("incidents 1h per district, 30 days", "/incidents", {**month, "group_by": "district"}),
        ("heatmap, 90 days", "/heatmap", quarter),
        ("heatmap, 30 days", "/heatmap", month),
        ("incidents 1d per type, 90 days", "/incidents", {**quarter, "bucket": "1d", "group_by": "type"}),
        ("readings 1d per district, 90 days", "/readings", {**quarter, "bucket": "1d", "group_by": "district"}),
        ("top 20 sources, 90 days", "/top-sources", quarter),
        ("sensor trend, 90 days (rollup)", "/sensors/bench-0007", quarter),
        ("sensor trend, 7 days (raw)", "/sensors/bench-0007", week),
        ("incidents 1h per district, 30 days, CSV", "/incidents", {**month, "group_by": "district", "format": "csv"}),
    ]
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}/api/v1/history", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        for name, path, params in questions:
            _measure(client, report, name, path, params)


def bench_history(
    readings: int = 10_000_000, incidents: int = 200_000, days: int = 90, runs: int = 20
) -> HistoryBenchReport:
    """Run the benchmark (see the module's docstring); the report says what was measured."""
    report = HistoryBenchReport(readings, incidents, days, runs)
    secret = secrets.token_urlsafe(32)
    port = _free_port()
    env = {"PANTAU_CONSOLE_PORT": str(port), "PANTAU_TOKEN_SECRET": secret}
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    with (
        bench_instance("bench-history", "", ("console",), env) as run,
        psycopg.connect(run.stack.settings.database_url, autocommit=True) as conn,
    ):
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(run.schema)))
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(run.schema)))
        _prepare(conn, report, start, end)
        _ask(port, issue_token(secret, Role.planner, "bench-history"), report, start, end)
        _batch_costs(conn, report, end + timedelta(hours=1))
    return report
