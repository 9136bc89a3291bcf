"""Retention of what the archiver keeps: raw readings, incidents, line crossings, the hourly rollups,
and the inline evidence snapshots inside incidents.

Run by the archiver every ``PANTAU_RETENTION_INTERVAL_S`` (an hour by default), on its own
connection between batches. Hypertables lose whole chunks with ``drop_chunks`` (in the Apache
build too): a chunk goes once all of it is older than the retention, so data is kept at least the
retention and at most one chunk interval longer (1 day for readings, 7 for incidents and line
crossings, 30 for rollups). A plain table loses rows with ``DELETE``. Every run logs what it dropped.

Evidence: camera-detectors already sweep their own clip files under ``PANTAU_EVIDENCE_DIR`` (one
folder per camera, the camera's ``retention_days``, see ``detectors/video/clips.py``); the archiver
does not touch those files. What it does own is the copy of each snapshot inside the incident's
``evidence`` (``snapshot_jpeg_b64``, camera frames and callers' photos): it removes that from
incidents older than the camera's ``retention_days`` (``PANTAU_EVIDENCE_RETENTION_DAYS`` for other
sources), so a snapshot lives no longer than the camera's clips while the incident row stays.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import psycopg
from psycopg import sql

from archive.rollups import CROSSING_ROLLUP, INCIDENT_ROLLUP, READING_DISTRICT_ROLLUP, READING_ROLLUP

log = logging.getLogger(__name__)

SNAPSHOT_KEY = "snapshot_jpeg_b64"
# Candidates for the evidence sweep are found through this partial index: once stripped, a row
# leaves the index, so each run costs what it removes, not the size of the table.
SNAPSHOT_INDEX = (
    f"CREATE INDEX IF NOT EXISTS incidents_with_snapshot ON incidents (ts) WHERE evidence ? '{SNAPSHOT_KEY}'"
)
_STRIP_SNAPSHOTS = f"""
    UPDATE incidents SET evidence = evidence - '{SNAPSHOT_KEY}'
    WHERE evidence ? '{SNAPSHOT_KEY}'
      AND ts < %(now)s - make_interval(secs => %(min_days)s * 86400)
      AND ts < %(now)s - make_interval(secs => 86400 * coalesce(
              (SELECT r.days FROM unnest(%(sources)s::text[], %(days)s::float8[]) AS r(source, days)
               WHERE r.source = incidents.source),
              %(default_days)s))
"""
_RELATION_KIND = """
    SELECT
        EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                WHERE hypertable_schema = current_schema() AND hypertable_name = %(name)s),
        EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates
                WHERE view_schema = current_schema() AND view_name = %(name)s),
        EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = %(name)s
                AND c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm'))
"""
# Always the current schema's relation, never one of the same name further down the search_path.
_DROP_CHUNKS = (
    "SELECT drop_chunks(format('%%I.%%I', current_schema(), %(name)s::text)::regclass, older_than => %(cutoff)s)"
)

RelationKind = Literal["hypertable", "continuous", "table", "missing"]


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep rows of ``table`` whose ``time_column`` is newer than ``keep``."""

    table: str
    time_column: str
    keep: timedelta


@dataclass
class RetentionReport:
    """What one run removed: dropped chunks per table, deleted rows per plain table, stripped snapshots."""

    at: datetime
    dropped_chunks: dict[str, list[str]] = field(default_factory=dict)
    deleted_rows: dict[str, int] = field(default_factory=dict)
    stripped_snapshots: int = 0

    def summary(self) -> str:
        parts = [f"{table}: {len(chunks)} chunks dropped" for table, chunks in self.dropped_chunks.items() if chunks]
        parts += [f"{table}: {n} rows deleted" for table, n in self.deleted_rows.items() if n]
        if self.stripped_snapshots:
            parts.append(f"incidents: {self.stripped_snapshots} evidence snapshots removed")
        return "; ".join(parts) or "nothing past retention"


def default_policies(
    readings_days: float, incidents_days: float, rollups_days: float, crossings_days: float = 730
) -> list[RetentionPolicy]:
    """The archiver's tables with their retentions (days)."""
    return [
        RetentionPolicy("sensor_readings", "ts", timedelta(days=readings_days)),
        RetentionPolicy("incidents", "ts", timedelta(days=incidents_days)),
        RetentionPolicy("line_crossings", "ts", timedelta(days=crossings_days)),
        RetentionPolicy(READING_ROLLUP, "bucket", timedelta(days=rollups_days)),
        RetentionPolicy(READING_DISTRICT_ROLLUP, "bucket", timedelta(days=rollups_days)),
        RetentionPolicy(INCIDENT_ROLLUP, "bucket", timedelta(days=rollups_days)),
        RetentionPolicy(CROSSING_ROLLUP, "bucket", timedelta(days=rollups_days)),
    ]


def relation_kind(conn: psycopg.Connection, name: str) -> RelationKind:
    """How ``name`` in the current schema is stored, which decides how rows are removed."""
    row = conn.execute(_RELATION_KIND, {"name": name}).fetchone()
    if row is None or not row[2]:
        return "missing"
    if row[0]:
        return "hypertable"
    if row[1]:
        return "continuous"
    return "table"


def enforce_retention(
    conn: psycopg.Connection,
    policies: Sequence[RetentionPolicy],
    *,
    evidence_days: Mapping[str, float] | None = None,
    evidence_default_days: float | None = None,
    now: datetime | None = None,
) -> RetentionReport:
    """Remove everything past its retention, one transaction per table (a failure on one table does
    not undo the others); inline snapshots past their source's evidence retention too, when
    ``evidence_default_days`` is given. Returns what was removed."""
    now = now or datetime.now(UTC)
    report = RetentionReport(at=now)
    for policy in policies:
        cutoff = now - policy.keep
        with conn.transaction():
            kind = relation_kind(conn, policy.table)
            if kind in ("hypertable", "continuous"):
                rows = conn.execute(_DROP_CHUNKS, {"name": policy.table, "cutoff": cutoff}).fetchall()
                report.dropped_chunks[policy.table] = [str(r[0]) for r in rows]
            elif kind == "table":
                schema = conn.execute("SELECT current_schema()").fetchone()
                statement = sql.SQL("DELETE FROM {} WHERE {} < %(cutoff)s").format(
                    sql.Identifier(str(schema[0]) if schema else "public", policy.table),
                    sql.Identifier(policy.time_column),
                )
                report.deleted_rows[policy.table] = conn.execute(statement, {"cutoff": cutoff}).rowcount
    if evidence_default_days is not None:
        per_source = dict(evidence_days or {})
        with conn.transaction():
            if relation_kind(conn, "incidents") != "missing":
                report.stripped_snapshots = conn.execute(
                    _STRIP_SNAPSHOTS,
                    {
                        "now": now,
                        "min_days": min([evidence_default_days, *per_source.values()]),
                        "sources": list(per_source),
                        "days": list(per_source.values()),
                        "default_days": evidence_default_days,
                    },
                ).rowcount
    for table, chunks in report.dropped_chunks.items():
        if chunks:
            log.info("retention: %s: dropped %d chunks: %s", table, len(chunks), ", ".join(chunks))
    log.info("retention run: %s", report.summary())
    return report
