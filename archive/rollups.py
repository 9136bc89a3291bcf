"""Hourly rollups of incidents and readings, for the planners' history (``docs/history.md``).

The Apache build of TimescaleDB has no continuous aggregates, so the archiver keeps four plain
hypertables itself and updates them in the transaction that stores each batch:

* ``incident_rollup_hourly``: raised incidents per hour, district, type, source and severity;
* ``reading_rollup_hourly``: readings per hour and sensor (count, sum, min, max), for a sensor's
  trend and per-sensor questions;
* ``reading_district_rollup_hourly``: the same per hour, district and kind. A city has far fewer
  districts than sensors (10 against 500 in the benchmark), so district-wide questions read 7x
  fewer rows: that is what brings a month per district under 300 ms (``docs/benchmarks.md``);
* ``line_crossing_rollup_hourly``: line crossings per hour, camera, line, direction, object class
  (``unclassified`` for a camera without object confirmation) and district: the planners' vehicle
  and people counts.

The merge into the raw table (``ON CONFLICT DO NOTHING``) returns the rows it actually inserted,
and only those are added to the rollups. A batch delivered twice after a crash inserts nothing the
second time, so it adds nothing either.

:func:`rebuild_rollups` recomputes a range from the raw tables (after a bug, a manual repair of raw
data, or to fill rollups for data archived before they existed); the result equals what the
incremental path produces, which the tests check.

Under the Timescale license the same four names are continuous aggregates with real-time aggregation
instead (:func:`continuous_aggregate_statements`): the history queries read them unchanged. That
path cannot run here (Apache build); only the SQL it generates is tested.

Only ``raised`` incidents are counted: a ``cleared`` incident ends a condition, it is not a new one.
A missing district is stored as ``''`` so that it takes part in the unique key (NULLs would not),
and so is a missing object class, as ``unclassified``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

RollupMode = Literal["tables", "continuous"]
INCIDENT_ROLLUP = "incident_rollup_hourly"
READING_ROLLUP = "reading_rollup_hourly"
READING_DISTRICT_ROLLUP = "reading_district_rollup_hourly"
CROSSING_ROLLUP = "line_crossing_rollup_hourly"
ROLLUPS = (INCIDENT_ROLLUP, READING_ROLLUP, READING_DISTRICT_ROLLUP, CROSSING_ROLLUP)
# The raw table each rollup is computed from.
RAW_TABLE = {
    INCIDENT_ROLLUP: "incidents",
    READING_ROLLUP: "sensor_readings",
    READING_DISTRICT_ROLLUP: "sensor_readings",
    CROSSING_ROLLUP: "line_crossings",
}
# A crossing from a camera without object confirmation has no class; its rollup rows say this.
UNCLASSIFIED = "unclassified"
ROLLUP_CHUNK = "30 days"  # a month of hourly rows per chunk: ~360k reading rows for 500 sensors
HOUR = timedelta(hours=1)
# Rebuilds aggregate the raw tables a week at a time: a bounded hash aggregate per statement.
REBUILD_SLICE = timedelta(days=7)

ROLLUP_SCHEMA: tuple[str, ...] = (
    f"""
    CREATE TABLE IF NOT EXISTS {INCIDENT_ROLLUP} (
        bucket      timestamptz NOT NULL,
        district    text        NOT NULL,
        type        text        NOT NULL,
        source      text        NOT NULL,
        source_kind text        NOT NULL,
        severity    text        NOT NULL,
        count       bigint      NOT NULL,
        PRIMARY KEY (bucket, district, type, source, source_kind, severity)
    )
    """,
    # No default (bucket) index: the primary key starts with bucket already.
    f"SELECT create_hypertable('{INCIDENT_ROLLUP}', by_range('bucket', INTERVAL '{ROLLUP_CHUNK}'), "
    "create_default_indexes => FALSE, if_not_exists => TRUE)",
    f"""
    CREATE TABLE IF NOT EXISTS {READING_ROLLUP} (
        bucket    timestamptz      NOT NULL,
        sensor_id text             NOT NULL,
        kind      text             NOT NULL,
        district  text             NOT NULL,
        count     bigint           NOT NULL,
        sum       double precision NOT NULL,
        min       double precision NOT NULL,
        max       double precision NOT NULL,
        PRIMARY KEY (bucket, sensor_id, kind, district)
    )
    """,
    f"SELECT create_hypertable('{READING_ROLLUP}', by_range('bucket', INTERVAL '{ROLLUP_CHUNK}'), "
    "create_default_indexes => FALSE, if_not_exists => TRUE)",
    # A sensor's trend reads one sensor over a long range.
    f"CREATE INDEX IF NOT EXISTS {READING_ROLLUP}_sensor ON {READING_ROLLUP} (sensor_id, bucket DESC)",
    f"""
    CREATE TABLE IF NOT EXISTS {READING_DISTRICT_ROLLUP} (
        bucket   timestamptz      NOT NULL,
        district text             NOT NULL,
        kind     text             NOT NULL,
        count    bigint           NOT NULL,
        sum      double precision NOT NULL,
        min      double precision NOT NULL,
        max      double precision NOT NULL,
        PRIMARY KEY (bucket, district, kind)
    )
    """,
    f"SELECT create_hypertable('{READING_DISTRICT_ROLLUP}', by_range('bucket', INTERVAL '{ROLLUP_CHUNK}'), "
    "create_default_indexes => FALSE, if_not_exists => TRUE)",
    f"""
    CREATE TABLE IF NOT EXISTS {CROSSING_ROLLUP} (
        bucket       timestamptz NOT NULL,
        camera       text        NOT NULL,
        line         text        NOT NULL,
        direction    text        NOT NULL,
        object_class text        NOT NULL,
        district     text        NOT NULL,
        count        bigint      NOT NULL,
        PRIMARY KEY (bucket, camera, line, direction, object_class, district)
    )
    """,
    f"SELECT create_hypertable('{CROSSING_ROLLUP}', by_range('bucket', INTERVAL '{ROLLUP_CHUNK}'), "
    "create_default_indexes => FALSE, if_not_exists => TRUE)",
    # One junction's or bridge's counts over a long range.
    f"CREATE INDEX IF NOT EXISTS {CROSSING_ROLLUP}_camera ON {CROSSING_ROLLUP} (camera, line, bucket DESC)",
)

# -- incremental: the archiver's merges, each adding exactly the rows it inserted -----------------
# ORDER BY: concurrent archivers upsert the same rollup rows in the same order, so they queue on
# row locks instead of deadlocking. Both reading rollups are fed from the one insert (a
# data-modifying CTE runs exactly once, whether or not its output is read).
_ADD_READING_STATS = """
        SET count = r.count + excluded.count, sum = r.sum + excluded.sum,
            min = least(r.min, excluded.min), max = greatest(r.max, excluded.max)
"""
MERGE_READINGS_WITH_ROLLUP = f"""
    WITH inserted AS (
        INSERT INTO sensor_readings SELECT * FROM readings_stage ON CONFLICT (sensor_id, ts) DO NOTHING
        RETURNING ts, sensor_id, kind, district, value
    ), per_sensor AS (
        INSERT INTO {READING_ROLLUP} AS r (bucket, sensor_id, kind, district, count, sum, min, max)
        SELECT time_bucket(INTERVAL '1 hour', ts), sensor_id, kind, coalesce(district, ''),
               count(*), sum(value), min(value), max(value)
        FROM inserted GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (bucket, sensor_id, kind, district) DO UPDATE {_ADD_READING_STATS}
    )
    INSERT INTO {READING_DISTRICT_ROLLUP} AS r (bucket, district, kind, count, sum, min, max)
    SELECT time_bucket(INTERVAL '1 hour', ts), coalesce(district, ''), kind,
           count(*), sum(value), min(value), max(value)
    FROM inserted GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (bucket, district, kind) DO UPDATE {_ADD_READING_STATS}
"""
MERGE_INCIDENTS_WITH_ROLLUP = f"""
    WITH inserted AS (
        INSERT INTO incidents SELECT * FROM incidents_stage ON CONFLICT (id, ts) DO NOTHING
        RETURNING ts, district, type, source, source_kind, severity, phase
    )
    INSERT INTO {INCIDENT_ROLLUP} AS r (bucket, district, type, source, source_kind, severity, count)
    SELECT time_bucket(INTERVAL '1 hour', ts), coalesce(district, ''), type, source, source_kind, severity, count(*)
    FROM inserted WHERE phase = 'raised' GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (bucket, district, type, source, source_kind, severity) DO UPDATE SET count = r.count + excluded.count
"""

_CROSSING_KEY = "bucket, camera, line, direction, object_class, district"
_CROSSING_GROUPS = f"""time_bucket(INTERVAL '1 hour', ts), camera, line, direction,
           coalesce(object_class, '{UNCLASSIFIED}'), coalesce(district, '')"""
MERGE_CROSSINGS_WITH_ROLLUP = f"""
    WITH inserted AS (
        INSERT INTO line_crossings (ts, id, camera, line, direction, object_class, score, object_id, lat, lon, district)
        SELECT ts, id, camera, line, direction, object_class, score, object_id, lat, lon, district
        FROM crossings_stage ON CONFLICT (id, ts) DO NOTHING
        RETURNING ts, camera, line, direction, object_class, district
    )
    INSERT INTO {CROSSING_ROLLUP} AS r ({_CROSSING_KEY}, count)
    SELECT {_CROSSING_GROUPS}, count(*)
    FROM inserted GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ({_CROSSING_KEY}) DO UPDATE SET count = r.count + excluded.count
"""

# A rebuild must not interleave with a batch: the batch would add to rows the rebuild is replacing.
# Batches share the lock (they do not wait for each other); a rebuild takes it alone. Keyed by
# schema, so pipelines in other schemas are not held up.
LOCK_KEY = "hashtext(current_schema() || '.pantau.rollups')"
BATCH_LOCK = f"SELECT pg_advisory_xact_lock_shared({LOCK_KEY})"
REBUILD_LOCK = f"SELECT pg_advisory_xact_lock({LOCK_KEY})"

# -- rebuild from the raw tables (hour-aligned ranges) ---------------------------------------------
_DELETE = "DELETE FROM {} WHERE bucket >= %(start)s AND bucket < %(end)s"
_REBUILD_INCIDENT_ROLLUP = f"""
    INSERT INTO {INCIDENT_ROLLUP} (bucket, district, type, source, source_kind, severity, count)
    SELECT time_bucket(INTERVAL '1 hour', ts), coalesce(district, ''), type, source, source_kind, severity, count(*)
    FROM incidents WHERE phase = 'raised' AND ts >= %(start)s AND ts < %(end)s
    GROUP BY 1, 2, 3, 4, 5, 6
"""
_REBUILD_READING_ROLLUP = f"""
    INSERT INTO {READING_ROLLUP} (bucket, sensor_id, kind, district, count, sum, min, max)
    SELECT time_bucket(INTERVAL '1 hour', ts), sensor_id, kind, coalesce(district, ''),
           count(*), sum(value), min(value), max(value)
    FROM sensor_readings WHERE ts >= %(start)s AND ts < %(end)s
    GROUP BY 1, 2, 3, 4
"""
_REBUILD_READING_DISTRICT_ROLLUP = f"""
    INSERT INTO {READING_DISTRICT_ROLLUP} (bucket, district, kind, count, sum, min, max)
    SELECT time_bucket(INTERVAL '1 hour', ts), coalesce(district, ''), kind,
           count(*), sum(value), min(value), max(value)
    FROM sensor_readings WHERE ts >= %(start)s AND ts < %(end)s
    GROUP BY 1, 2, 3
"""
_REBUILD_CROSSING_ROLLUP = f"""
    INSERT INTO {CROSSING_ROLLUP} ({_CROSSING_KEY}, count)
    SELECT {_CROSSING_GROUPS}, count(*)
    FROM line_crossings WHERE ts >= %(start)s AND ts < %(end)s
    GROUP BY 1, 2, 3, 4, 5, 6
"""
_REBUILD = {
    INCIDENT_ROLLUP: _REBUILD_INCIDENT_ROLLUP,
    READING_ROLLUP: _REBUILD_READING_ROLLUP,
    READING_DISTRICT_ROLLUP: _REBUILD_READING_DISTRICT_ROLLUP,
    CROSSING_ROLLUP: _REBUILD_CROSSING_ROLLUP,
}
_RAW_BOUNDS = "SELECT min(ts), max(ts) FROM {}"
_PRESENT = """
    SELECT c.relname FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(names)s)
"""
_IS_CONTINUOUS = """
    SELECT count(*) FROM timescaledb_information.continuous_aggregates
    WHERE view_schema = current_schema() AND view_name = ANY(%(names)s)
"""
_PLAIN_ROLLUP_EXISTS = """
    SELECT count(*) FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(names)s) AND c.relkind = 'r'
"""


def hour_floor(moment: datetime) -> datetime:
    """The start of the UTC hour holding ``moment`` (an aware datetime)."""
    utc = moment.astimezone(UTC)
    return utc.replace(minute=0, second=0, microsecond=0)


def hour_ceil(moment: datetime) -> datetime:
    """The first UTC hour boundary at or after ``moment``."""
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def continuous_aggregate_statements(
    refresh_start_offset: timedelta = timedelta(days=3), schedule_interval: timedelta = timedelta(minutes=5)
) -> list[str]:
    """The DDL that makes the rollups continuous aggregates (Timescale license only).

    Same names and columns as the tables of :data:`ROLLUP_SCHEMA`, so every history query works on
    either. Real-time aggregation (``materialized_only = false``) adds the rows not materialized
    yet at query time. The refresh policy re-materializes the last ``refresh_start_offset``; later
    late data needs :func:`rebuild_rollups` (a ``refresh_continuous_aggregate`` over that range).
    Not runnable on the Apache build: tested for the text it generates only.
    """
    start = f"{int(refresh_start_offset.total_seconds())} seconds"
    every = f"{int(schedule_interval.total_seconds())} seconds"
    statements = [
        f"""
        CREATE MATERIALIZED VIEW IF NOT EXISTS {INCIDENT_ROLLUP}
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, coalesce(district, '') AS district, type, source,
               source_kind, severity, count(*) AS count
        FROM incidents WHERE phase = 'raised'
        GROUP BY 1, 2, 3, 4, 5, 6
        WITH NO DATA
        """,
        f"""
        CREATE MATERIALIZED VIEW IF NOT EXISTS {READING_ROLLUP}
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, sensor_id, kind, coalesce(district, '') AS district,
               count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max
        FROM sensor_readings
        GROUP BY 1, 2, 3, 4
        WITH NO DATA
        """,
        f"""
        CREATE MATERIALIZED VIEW IF NOT EXISTS {READING_DISTRICT_ROLLUP}
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, coalesce(district, '') AS district, kind,
               count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max
        FROM sensor_readings
        GROUP BY 1, 2, 3
        WITH NO DATA
        """,
        f"""
        CREATE MATERIALIZED VIEW IF NOT EXISTS {CROSSING_ROLLUP}
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, camera, line, direction,
               coalesce(object_class, '{UNCLASSIFIED}') AS object_class, coalesce(district, '') AS district,
               count(*) AS count
        FROM line_crossings
        GROUP BY 1, 2, 3, 4, 5, 6
        WITH NO DATA
        """,
    ]
    for name in ROLLUPS:
        statements.append(
            f"SELECT add_continuous_aggregate_policy('{name}', start_offset => INTERVAL '{start}', "
            f"end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '{every}', if_not_exists => TRUE)"
        )
    return statements


def rollup_mode(conn: psycopg.Connection) -> RollupMode:
    """``continuous`` when the rollups in the current schema are continuous aggregates, else ``tables``."""
    row = conn.execute(_IS_CONTINUOUS, {"names": list(ROLLUPS)}).fetchone()
    return "continuous" if row is not None and int(row[0]) > 0 else "tables"


def present_relations(conn: psycopg.Connection, names: Collection[str]) -> set[str]:
    """Those of ``names`` that exist in the current schema (tables, views, continuous aggregates)."""
    rows = conn.execute(_PRESENT, {"names": list(names)}).fetchall()
    return {str(r[0]) for r in rows}


def missing_rollups(conn: psycopg.Connection) -> list[str]:
    """The rollups not yet in the current schema (tables or continuous aggregates)."""
    present = present_relations(conn, ROLLUPS)
    return [name for name in ROLLUPS if name not in present]


def apply_rollup_schema(conn: psycopg.Connection, license_name: str) -> RollupMode:
    """Create the rollups (idempotent) as tables, or as continuous aggregates under the Timescale
    license. Rollup tables made earlier under the Apache build are kept (the archiver keeps
    updating them): switching means dropping them and running a rebuild, a decision for a person."""
    with conn.transaction():
        plain = conn.execute(_PLAIN_ROLLUP_EXISTS, {"names": list(ROLLUPS)}).fetchone()
        if license_name == "timescale" and (plain is None or int(plain[0]) == 0):
            for statement in continuous_aggregate_statements():
                conn.execute(statement)
            mode: RollupMode = "continuous"
        else:
            for statement in ROLLUP_SCHEMA:
                conn.execute(statement)
            mode = "tables"
    log.info("history rollups: %s (%s)", mode, ", ".join(ROLLUPS))
    return mode


@dataclass(frozen=True)
class RebuildResult:
    """What :func:`rebuild_rollups` recomputed: the hour-aligned range and the rollup rows written
    (per-sensor rows for readings; -1 each after a continuous-aggregate refresh, which does not say)."""

    start: datetime
    end: datetime
    incident_rows: int
    reading_rows: int
    crossing_rows: int = 0


def raw_bounds(conn: psycopg.Connection, tables: Collection[str] | None = None) -> tuple[datetime, datetime] | None:
    """The first and last raw timestamps over ``tables`` (default: every raw table of a rollup that
    exists in the current schema); None when they are all empty."""
    wanted = sorted(set(RAW_TABLE.values()) if tables is None else set(tables))
    starts: list[datetime] = []
    ends: list[datetime] = []
    for table in sorted(present_relations(conn, wanted)):
        row = conn.execute(sql.SQL(_RAW_BOUNDS).format(sql.Identifier(table))).fetchone()
        if row is not None and row[0] is not None:
            starts.append(row[0])
            ends.append(row[1])
    if not starts:
        return None
    return min(starts), max(ends)


def rebuild_rollups(
    conn: psycopg.Connection,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    only: Collection[str] | None = None,
) -> RebuildResult:
    """Recompute the rollups for ``[start, end)`` (widened to whole UTC hours) from the raw tables.

    Without bounds, everything the raw tables hold. ``only``: these rollups (default: all); a
    rollup or raw table missing from the schema (a database the archiver has not upgraded yet) is
    left out. Tables mode: one transaction (committed here, unless the caller has one open) that
    holds the rollup lock, so batches of the archiver wait and then add only what they insert
    afterwards; it deletes the range and aggregates it again a week at a time. Continuous mode: a
    ``refresh_continuous_aggregate`` per rollup, which needs an autocommit connection.
    """
    wanted = [name for name in ROLLUPS if only is None or name in only]
    with conn.transaction():
        continuous = rollup_mode(conn) == "continuous"
        if not continuous:
            conn.execute(REBUILD_LOCK)
        present = present_relations(conn, [*wanted, *(RAW_TABLE[name] for name in wanted)])
        names = [name for name in wanted if name in present and RAW_TABLE[name] in present]
        lo, hi = _rebuild_range(conn, start, end, {RAW_TABLE[name] for name in names})
        rows = {name: 0 for name in ROLLUPS}
        if not continuous and hi > lo:
            rows.update(_rebuild_tables(conn, lo, hi, names))
    if continuous and hi > lo:
        if not conn.autocommit:
            raise psycopg.ProgrammingError("refreshing continuous aggregates needs an autocommit connection")
        for name in names:
            conn.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", (name, lo, hi))
        return RebuildResult(lo, hi, -1, -1, -1)  # the refresh does not say how many rows it wrote
    result = RebuildResult(lo, hi, rows[INCIDENT_ROLLUP], rows[READING_ROLLUP], rows[CROSSING_ROLLUP])
    log.info(
        "rebuilt history rollups %s .. %s (%s): %d incident rows, %d reading rows, %d crossing rows",
        lo.isoformat(),
        hi.isoformat(),
        ", ".join(names) or "none",
        result.incident_rows,
        result.reading_rows,
        result.crossing_rows,
    )
    return result


def _rebuild_range(
    conn: psycopg.Connection, start: datetime | None, end: datetime | None, raw_tables: Collection[str]
) -> tuple[datetime, datetime]:
    if start is None or end is None:
        bounds = raw_bounds(conn, raw_tables) if raw_tables else None
        if bounds is None:
            now = hour_floor(datetime.now(UTC))
            return now, now
        start = bounds[0] if start is None else start
        end = bounds[1] + timedelta(microseconds=1) if end is None else end
    return hour_floor(start), hour_ceil(end)


def _rebuild_tables(conn: psycopg.Connection, lo: datetime, hi: datetime, names: Collection[str]) -> dict[str, int]:
    for table in names:
        conn.execute(sql.SQL(_DELETE).format(sql.Identifier(table)), {"start": lo, "end": hi})
    rows = {name: 0 for name in names}
    cursor = lo
    while cursor < hi:
        upto = min(cursor + REBUILD_SLICE, hi)
        piece = {"start": cursor, "end": upto}
        for name in names:
            rows[name] += conn.execute(_REBUILD[name], piece).rowcount
        cursor = upto
    return rows
