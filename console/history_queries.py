"""The SQL of the planners' history (``/api/v1/history/...``) and the pure helpers that choose it.

Read-only over what the archiver and alerting own: the hourly rollups ``incident_rollup_hourly``,
``reading_rollup_hourly``, ``reading_district_rollup_hourly`` and ``line_crossing_rollup_hourly``
(kept by the archiver in the transaction of each batch, see ``archive/rollups.py``), the raw
``incidents``, ``sensor_readings`` and ``line_crossings`` where rollups cannot answer, and
``alerts`` / ``alert_history`` / ``alert_incidents`` for response times, false alarms and CAP.

Statements are fixed text and fixed fragments; every value (times, time zone, filters, limits) is a
bound parameter. Rollup rows are UTC hours: an hourly series reads them as they are; a daily series
and the hour-of-week heatmap shift them into the configured time zone, which is exact when every
UTC offset in the range is a whole number of hours (Asia/Jakarta is +7). For zones with half- or
quarter-hour offsets those two read the raw incidents instead (:func:`rollups_align`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Literal

Bucket = Literal["1h", "1d"]
IncidentGroup = Literal["district", "type", "source"]
ReadingGroup = Literal["district", "kind", "sensor"]
CrossingGroup = Literal["camera", "line", "direction", "class", "district"]
CrossingKind = Literal["vehicle", "person"]

HOUR = timedelta(hours=1)
DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=400)
# A series answer larger than this is refused (422): narrow the range, take daily buckets or fewer groups.
MAX_SERIES_ROWS = 100_000
# Planners' queries must not hold the database for long; the rollups answer in milliseconds.
STATEMENT_TIMEOUT = "SET LOCAL statement_timeout = '30s'"
# Resolution times leave out alerts that turned out not to be real work.
NOT_REAL_WORK = ("false_alarm", "duplicate", "test")


class RangeError(ValueError):
    """The requested time range cannot be answered (the reason is for the caller)."""


# -- ranges and buckets (pure) ---------------------------------------------------------------------
def resolve_range(
    start: datetime | None, end: datetime | None, now: datetime, max_range: timedelta = MAX_RANGE
) -> tuple[datetime, datetime]:
    """``[from, to)`` with defaults (to: now, from: 30 days before to); :class:`RangeError` when
    ``from`` is not before ``to`` or the range is longer than ``max_range``."""
    end = end or now
    start = start or end - DEFAULT_RANGE
    if start >= end:
        raise RangeError(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    if end - start > max_range:
        raise RangeError(
            f"the range is {(end - start).total_seconds() / 86400:.1f} days; at most {max_range.days} days per request"
        )
    return start.astimezone(UTC), end.astimezone(UTC)


def hour_floor(moment: datetime) -> datetime:
    """The start of the UTC hour holding ``moment``."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_ceil(moment: datetime) -> datetime:
    """The first UTC hour boundary at or after ``moment``."""
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def day_floor(moment: datetime, tz: tzinfo) -> datetime:
    """Midnight in ``tz`` of the local day holding ``moment``."""
    return datetime.combine(moment.astimezone(tz).date(), time(0), tzinfo=tz)


def day_ceil(moment: datetime, tz: tzinfo) -> datetime:
    """The first local midnight in ``tz`` at or after ``moment``."""
    floor = day_floor(moment, tz)
    if floor == moment:
        return floor
    return datetime.combine(floor.date() + timedelta(days=1), time(0), tzinfo=tz)


def align(start: datetime, end: datetime, bucket: Bucket, tz: tzinfo) -> tuple[datetime, datetime]:
    """The range widened to whole buckets: UTC hours, or local days in ``tz``. Answers always cover
    whole buckets (the rollups hold whole hours); the answer says which range it covers."""
    if bucket == "1h":
        return hour_floor(start), hour_ceil(end)
    return day_floor(start, tz).astimezone(UTC), day_ceil(end, tz).astimezone(UTC)


def rollups_align(tz: tzinfo, start: datetime, end: datetime) -> bool:
    """Whether every UTC offset of ``tz`` in the range is whole hours, so UTC-hour rollup rows fall
    into exactly one local hour and one local day (sampled every 6 hours: offsets last months)."""
    moment = start
    while True:
        offset = moment.astimezone(tz).utcoffset() or timedelta(0)
        if offset.total_seconds() % 3600 != 0:
            return False
        if moment >= end:
            return True
        moment = min(moment + timedelta(hours=6), end)


@dataclass(frozen=True)
class TrendPlan:
    """How a sensor trend is read: bucket width, the (possibly widened) range, and from where."""

    start: datetime
    end: datetime
    bucket_s: int
    from_rollup: bool


def plan_trend(start: datetime, end: datetime, points: int) -> TrendPlan:
    """At most ``points`` buckets over the range: whole hours from the rollup when a bucket is an
    hour or more (the range widened to whole hours), else whole seconds from the raw readings."""
    range_s = (end - start).total_seconds()
    if range_s / points >= 3600:
        lo, hi = hour_floor(start), hour_ceil(end)
        hours = math.ceil((hi - lo).total_seconds() / 3600 / points)
        return TrendPlan(lo, hi, hours * 3600, True)
    return TrendPlan(start, end, max(1, math.ceil(range_s / points)), False)


# -- incidents: series, heatmap, top sources -------------------------------------------------------
@dataclass(frozen=True)
class IncidentFilters:
    """Filters of the incident history; empty means any. Cameras and sensors select sources of that
    kind (both given: either)."""

    districts: Sequence[str] = ()
    types: Sequence[str] = ()
    cameras: Sequence[str] = ()
    sensors: Sequence[str] = ()


@dataclass(frozen=True)
class _Relation:
    table: str
    time: str
    count: str
    district: str
    where: tuple[str, ...] = field(default_factory=tuple)


_INCIDENT_ROLLUP = _Relation("incident_rollup_hourly", "bucket", "sum(count)", "nullif(district, '')")
_INCIDENT_RAW = _Relation("incidents", "ts", "count(*)", "district", ("phase = 'raised'",))


def _incident_where(rel: _Relation, filters: IncidentFilters, params: dict[str, Any]) -> str:
    clauses = [f"{rel.time} >= %(start)s", f"{rel.time} < %(end)s", *rel.where]
    if filters.districts:
        clauses.append("district = ANY(%(districts)s)")
        params["districts"] = list(filters.districts)
    if filters.types:
        clauses.append("type = ANY(%(types)s)")
        params["types"] = list(filters.types)
    by_kind = []
    if filters.cameras:
        by_kind.append("(source_kind = 'camera' AND source = ANY(%(cameras)s))")
        params["cameras"] = list(filters.cameras)
    if filters.sensors:
        by_kind.append("(source_kind = 'sensor' AND source = ANY(%(sensors)s))")
        params["sensors"] = list(filters.sensors)
    if by_kind:
        clauses.append("(" + " OR ".join(by_kind) + ")")
    return " AND ".join(clauses)


_LOCAL_DAY = "(date_trunc('day', {} AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s)"


def incident_series(
    start: datetime,
    end: datetime,
    bucket: Bucket,
    group_by: IncidentGroup | None,
    filters: IncidentFilters,
    tz_name: str,
    *,
    from_rollup: bool = True,
    limit: int = MAX_SERIES_ROWS + 1,
) -> tuple[str, dict[str, Any]]:
    """``(bucket_start, group, count)`` rows ordered by bucket then group; group NULL without ``group_by``.

    From the rollup, hours are summed first and only those sums are shifted into local days: the
    time zone is applied to a few thousand rows, not to every row of the range.
    """
    rel = _INCIDENT_ROLLUP if from_rollup else _INCIDENT_RAW
    params: dict[str, Any] = {"start": start, "end": end, "tz": tz_name, "limit": limit}
    where = _incident_where(rel, filters, params)
    group = {"district": rel.district, "type": "type", "source": "source", None: "NULL::text"}[group_by]
    tail = "ORDER BY b, g NULLS FIRST LIMIT %(limit)s"
    if not from_rollup:
        b = _LOCAL_DAY.format("ts") if bucket == "1d" else "time_bucket(INTERVAL '1 hour', ts)"
        return (
            f"SELECT {b} AS b, {group} AS g, count(*)::bigint FROM incidents WHERE {where} GROUP BY b, g {tail}",
            params,
        )
    hourly = f"SELECT bucket AS b, {group} AS g, sum(count)::bigint AS n FROM {rel.table} WHERE {where} GROUP BY b, g"
    if bucket == "1h":
        return f"{hourly} {tail}", params
    return f"SELECT {_LOCAL_DAY.format('b')} AS b, g, sum(n)::bigint FROM ({hourly}) h GROUP BY 1, g {tail}", params


def heatmap(
    start: datetime, end: datetime, filters: IncidentFilters, tz_name: str, *, from_rollup: bool = True
) -> tuple[str, dict[str, Any]]:
    """``(weekday, hour, count)`` rows, weekday 0 = Monday, both in the time zone ``tz_name``."""
    rel = _INCIDENT_ROLLUP if from_rollup else _INCIDENT_RAW
    params: dict[str, Any] = {"start": start, "end": end, "tz": tz_name}
    where = _incident_where(rel, filters, params)
    if from_rollup:  # hours first (as in incident_series), then the time zone on those sums
        source = f"(SELECT bucket AS t, sum(count) AS n FROM {rel.table} WHERE {where} GROUP BY bucket) h"
        count = "sum(n)"
    else:
        source, count = f"(SELECT ts AS t, 1 AS n FROM incidents WHERE {where}) h", "count(*)"
    statement = (
        "SELECT extract(isodow FROM t AT TIME ZONE %(tz)s)::int - 1 AS dow, "
        f"extract(hour FROM t AT TIME ZONE %(tz)s)::int AS hour, {count}::bigint "
        f"FROM {source} GROUP BY dow, hour ORDER BY dow, hour"
    )
    return statement, params


def top_sources(start: datetime, end: datetime, filters: IncidentFilters, limit: int) -> tuple[str, dict[str, Any]]:
    """``(source, source_kind, count)`` of the sources with most incidents, most first."""
    params: dict[str, Any] = {"start": start, "end": end, "limit": limit}
    where = _incident_where(_INCIDENT_ROLLUP, filters, params)
    statement = (
        "SELECT source, source_kind, sum(count)::bigint AS n FROM incident_rollup_hourly "
        f"WHERE {where} GROUP BY source, source_kind ORDER BY n DESC, source LIMIT %(limit)s"
    )
    return statement, params


# -- readings: series per group, one sensor's trend -------------------------------------------------
@dataclass(frozen=True)
class ReadingFilters:
    """Filters of the readings history; empty means any."""

    kinds: Sequence[str] = ()
    districts: Sequence[str] = ()
    sensors: Sequence[str] = ()


def reading_series(
    start: datetime,
    end: datetime,
    bucket: Bucket,
    group_by: ReadingGroup | None,
    filters: ReadingFilters,
    tz_name: str,
    *,
    from_rollup: bool = True,
    limit: int = MAX_SERIES_ROWS + 1,
) -> tuple[str, dict[str, Any]]:
    """``(bucket_start, group, count, avg, min, max)`` rows ordered by bucket then group.

    Questions that name no sensor read the per-district rollup (a row per hour, district and
    kind), the others the per-sensor one; hours are summed before they are shifted into local days.
    """
    params: dict[str, Any] = {"start": start, "end": end, "tz": tz_name, "limit": limit}
    per_sensor = bool(filters.sensors) or group_by == "sensor"
    if not from_rollup:
        table, time_column, district = "sensor_readings", "ts", "district"
    elif per_sensor:
        table, time_column, district = "reading_rollup_hourly", "bucket", "nullif(district, '')"
    else:
        table, time_column, district = "reading_district_rollup_hourly", "bucket", "nullif(district, '')"
    clauses = [f"{time_column} >= %(start)s", f"{time_column} < %(end)s"]
    if filters.kinds:
        clauses.append("kind = ANY(%(kinds)s)")
        params["kinds"] = list(filters.kinds)
    if filters.districts:
        clauses.append("district = ANY(%(districts)s)")
        params["districts"] = list(filters.districts)
    if filters.sensors:
        clauses.append("sensor_id = ANY(%(sensors)s)")
        params["sensors"] = list(filters.sensors)
    where = " AND ".join(clauses)
    group = {"district": district, "kind": "kind", "sensor": "sensor_id", None: "NULL::text"}[group_by]
    tail = "ORDER BY b, g NULLS FIRST LIMIT %(limit)s"
    if not from_rollup:
        b = _LOCAL_DAY.format("ts") if bucket == "1d" else "time_bucket(INTERVAL '1 hour', ts)"
        stats = "count(*)::bigint, avg(value), min(value), max(value)"
        return f"SELECT {b} AS b, {group} AS g, {stats} FROM {table} WHERE {where} GROUP BY b, g {tail}", params
    hourly = (
        f"SELECT bucket AS b, {group} AS g, sum(count)::bigint AS c, sum(sum) AS s, min(min) AS lo, max(max) AS hi "
        f"FROM {table} WHERE {where} GROUP BY b, g"
    )
    if bucket == "1h":
        return f"SELECT b, g, c, s / c, lo, hi FROM ({hourly}) h {tail}", params
    stats = "sum(c)::bigint, sum(s) / sum(c), min(lo), max(hi)"
    return f"SELECT {_LOCAL_DAY.format('b')} AS b, g, {stats} FROM ({hourly}) h GROUP BY 1, g {tail}", params


SENSOR_KNOWN = """
    SELECT kind, unit FROM sensor_readings WHERE sensor_id = %(sensor)s ORDER BY ts DESC LIMIT 1
"""


def sensor_trend(sensor_id: str, plan: TrendPlan) -> tuple[str, dict[str, Any]]:
    """``(bucket_start, count, avg, min, max)`` rows of one sensor, buckets of ``plan.bucket_s``
    aligned on ``plan.start``."""
    params: dict[str, Any] = {
        "sensor": sensor_id,
        "start": plan.start,
        "end": plan.end,
        "width_s": plan.bucket_s,
    }
    if plan.from_rollup:
        statement = """
            SELECT time_bucket(make_interval(secs => %(width_s)s), bucket, %(start)s::timestamptz) AS b,
                   sum(count)::bigint, sum(sum) / sum(count), min(min), max(max)
            FROM reading_rollup_hourly
            WHERE sensor_id = %(sensor)s AND bucket >= %(start)s AND bucket < %(end)s
            GROUP BY b ORDER BY b
        """
    else:
        statement = """
            SELECT time_bucket(make_interval(secs => %(width_s)s), ts, %(start)s::timestamptz) AS b,
                   count(*)::bigint, avg(value), min(value), max(value)
            FROM sensor_readings
            WHERE sensor_id = %(sensor)s AND ts >= %(start)s AND ts < %(end)s
            GROUP BY b ORDER BY b
        """
    return statement, params


# -- line crossings: vehicles and people per bucket ---------------------------------------------------
# The object classes behind ``kind=`` (COCO names, as the camera detectors report them).
PERSON_CLASSES = ("person",)
VEHICLE_CLASSES = ("bicycle", "car", "motorcycle", "bus", "truck")
CROSSING_KINDS: dict[CrossingKind, tuple[str, ...]] = {"vehicle": VEHICLE_CLASSES, "person": PERSON_CLASSES}
# The rollup's class of a crossing from a camera without object confirmation (archive/rollups.py).
UNCLASSIFIED = "unclassified"
# Columns of a crossing series, in this order; a group_by fills some, the others are NULL. Grouping
# by line groups by camera too: a line is a zone of one camera, and two cameras may name theirs alike.
CROSSING_COLUMNS: tuple[CrossingGroup, ...] = ("camera", "line", "direction", "class", "district")


@dataclass(frozen=True)
class CrossingFilters:
    """Filters of the line-crossing history; empty means any. ``classes`` may name
    ``unclassified`` (cameras without object confirmation)."""

    cameras: Sequence[str] = ()
    lines: Sequence[str] = ()
    directions: Sequence[str] = ()
    classes: Sequence[str] = ()
    districts: Sequence[str] = ()


def crossing_classes(classes: Sequence[str], kinds: Sequence[CrossingKind]) -> list[str]:
    """The classes named, and those of each kind (``vehicle``, ``person``): either counts."""
    return list(dict.fromkeys([*classes, *(c for kind in kinds for c in CROSSING_KINDS[kind])]))


def crossing_groups(group_by: Sequence[CrossingGroup]) -> tuple[CrossingGroup, ...]:
    """The columns a series is grouped by, in :data:`CROSSING_COLUMNS` order (``line`` brings ``camera``)."""
    wanted = set(group_by) | ({"camera"} if "line" in group_by else set())
    return tuple(c for c in CROSSING_COLUMNS if c in wanted)


def crossing_series(
    start: datetime,
    end: datetime,
    bucket: Bucket,
    group_by: Sequence[CrossingGroup],
    filters: CrossingFilters,
    tz_name: str,
    *,
    from_rollup: bool = True,
    limit: int = MAX_SERIES_ROWS + 1,
) -> tuple[str, dict[str, Any]]:
    """``(bucket_start, camera, line, direction, class, district, count)`` rows ordered by bucket
    then those columns; a column the series is not grouped by is NULL.

    From the rollup (a row per hour, camera, line, direction, class and district), hours are summed
    first and only those sums are shifted into local days, as for incidents.
    """
    params: dict[str, Any] = {"start": start, "end": end, "tz": tz_name, "limit": limit}
    if from_rollup:
        table, time_column = "line_crossing_rollup_hourly", "bucket"
        expressions = {"class": "object_class", "district": "nullif(district, '')"}
    else:
        table, time_column = "line_crossings", "ts"
        expressions = {"class": f"coalesce(object_class, '{UNCLASSIFIED}')", "district": "district"}
    expressions.update({"camera": "camera", "line": "line", "direction": "direction"})
    clauses = [f"{time_column} >= %(start)s", f"{time_column} < %(end)s"]
    for column, values in (
        ("camera", filters.cameras),
        ("line", filters.lines),
        ("direction", filters.directions),
        ("class", filters.classes),
        ("district", filters.districts),
    ):
        if values:
            clauses.append(f"{expressions[column]} = ANY(%(f_{column})s)")
            params[f"f_{column}"] = list(values)
    where = " AND ".join(clauses)
    grouped = crossing_groups(group_by)
    # Aliases differ from every column name: GROUP BY would take an input column before an output alias.
    outputs = ", ".join(f"{expressions[c] if c in grouped else 'NULL::text'} AS g_{c}" for c in CROSSING_COLUMNS)
    aliases = ", ".join(f"g_{c}" for c in CROSSING_COLUMNS)
    tail = "ORDER BY b, " + ", ".join(f"g_{c} NULLS FIRST" for c in CROSSING_COLUMNS) + " LIMIT %(limit)s"
    if not from_rollup:
        b = _LOCAL_DAY.format("ts") if bucket == "1d" else "time_bucket(INTERVAL '1 hour', ts)"
        return (
            f"SELECT {b} AS b, {outputs}, count(*)::bigint FROM {table} WHERE {where} GROUP BY b, {aliases} {tail}",
            params,
        )
    hourly = f"SELECT bucket AS b, {outputs}, sum(count)::bigint AS n FROM {table} WHERE {where} GROUP BY b, {aliases}"
    if bucket == "1h":
        return f"{hourly} {tail}", params
    return (
        f"SELECT {_LOCAL_DAY.format('b')} AS b, {aliases}, sum(n)::bigint FROM ({hourly}) h "
        f"GROUP BY 1, {aliases} {tail}",
        params,
    )


# -- alerts: response times, false alarms, CAP -------------------------------------------------------
RESPONSE_TIMES = """
    WITH a AS (
        SELECT priority, district,
               extract(epoch FROM (doc->>'acknowledged_at')::timestamptz - first_seen)::float8 AS ack_s,
               CASE WHEN coalesce(doc->>'close_reason', '') <> ALL(%(not_work)s)
                    THEN extract(epoch FROM (doc->>'resolved_at')::timestamptz - first_seen)::float8
               END AS resolve_s
        FROM alerts WHERE first_seen >= %(start)s AND first_seen < %(end)s
    )
    SELECT priority, district, GROUPING(district) = 1 AS all_districts, count(*)::bigint,
           count(ack_s)::bigint,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY ack_s),
           count(resolve_s)::bigint,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_s),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY resolve_s)
    FROM a GROUP BY GROUPING SETS ((priority), (priority, district))
    ORDER BY priority, all_districts DESC, district NULLS FIRST
"""

# Per (source, rule), per source and per rule; a closed alert counts once per level. The rule comes
# from the alert's incidents ('' when they are past retention).
FALSE_ALARMS = """
    WITH closed AS (
        SELECT id, source, coalesce(doc->>'source_kind', '') AS source_kind,
               doc->>'close_reason' = 'false_alarm' AS false_alarm
        FROM alerts WHERE status = 'closed' AND first_seen >= %(start)s AND first_seen < %(end)s
    ), with_rules AS (
        SELECT DISTINCT c.id, c.source, c.source_kind, c.false_alarm, coalesce(i.rule, '') AS rule
        FROM closed c
        LEFT JOIN alert_incidents l ON l.alert_id = c.id
        LEFT JOIN incidents i ON i.id = l.incident_id
    )
    SELECT GROUPING(source, rule) AS level, source, source_kind, rule,
           count(DISTINCT id)::bigint AS closed, (count(DISTINCT id) FILTER (WHERE false_alarm))::bigint AS false_alarms
    FROM with_rules
    GROUP BY GROUPING SETS ((source, source_kind, rule), (source, source_kind), (rule))
    ORDER BY level, false_alarms DESC, closed DESC, source NULLS FIRST, rule NULLS FIRST
"""
FalseAlarmLevel = Literal["source_rule", "source", "rule"]
FALSE_ALARM_LEVELS: dict[int, FalseAlarmLevel] = {0: "source_rule", 1: "source", 2: "rule"}


def cap_alerts(
    start: datetime, end: datetime, districts: Sequence[str], types: Sequence[str], limit: int
) -> tuple[str, dict[str, Any]]:
    """The alerts first seen in the range (current state, ``doc``), oldest first."""
    params: dict[str, Any] = {"start": start, "end": end, "limit": limit}
    clauses = ["first_seen >= %(start)s", "first_seen < %(end)s"]
    if districts:
        clauses.append("district = ANY(%(districts)s)")
        params["districts"] = list(districts)
    if types:
        clauses.append("type = ANY(%(types)s)")
        params["types"] = list(types)
    statement = f"SELECT doc FROM alerts WHERE {' AND '.join(clauses)} ORDER BY first_seen, id LIMIT %(limit)s"
    return statement, params


# The first and the previous message of each alert, which a CAP Update or Cancel references.
CAP_REFERENCES = """
    SELECT h.alert_id, h.version, h.at
    FROM alert_history h
    JOIN unnest(%(ids)s::text[], %(versions)s::int[]) AS w(id, version)
      ON h.alert_id = w.id AND h.version < w.version AND h.version IN (1, w.version - 1)
    ORDER BY h.alert_id, h.version
"""
