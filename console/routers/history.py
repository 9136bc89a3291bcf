"""The planners' history under ``/api/v1/history/`` (planners, operators, admins): incident counts
per time bucket and group, the hour-of-week heatmap, response times, false-alarm rates, a sensor's
trend, per-group reading statistics, the noisiest sources, line crossings (vehicles and people per
camera, line, direction and class), and a CAP 1.2 export of a selection of alerts. Every answer but
the CAP export also comes as CSV with ``?format=csv``. Each route declares its answer model
(``response_model``) and returns it serialized once by pydantic (:func:`_json`).

Counts come from the hourly rollups the archiver keeps (``archive/rollups.py``), so a month of a
city's incidents, readings or crossings is a few thousand rows, not millions; alert figures from alerting's
tables. The SQL is in ``console/history_queries.py``. Ranges are ``[from, to)``, at most 400 days
(422 otherwise, with the reason); answers cover whole buckets and say which range they cover. The
time zone of daily buckets and of the heatmap is the configuration file's ``timezone``. 503 when
the database is away. See ``docs/history.md``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from psycopg_pool import PoolTimeout
from pydantic import AwareDatetime, BaseModel, Field

from alerting.cap import XML_DECLARATION, CapError, identifier, to_cap
from alerting.schemas import Alert
from console import history_queries as hq
from console.configview import ConfigView
from console.deps import Pool
from detectors.schemas import OBJECT_CLASS_PATTERN
from ingest.schemas import KIND_PATTERN, SENSOR_ID_PATTERN
from pantau.auth import Principal, Role
from pantau.exceptions import ConfigError
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/history", tags=["history"])
Planner = Annotated[Principal, Depends(require_roles(Role.planner, Role.admin, Role.operator))]

ATOM_MEDIA_TYPE = "application/atom+xml"
DEFAULT_CAP_SENDER = "pantau@localhost"  # as alerting's default; the console has no cap_sender setting yet
MAX_CAP_ALERTS = 5000

From = Annotated[AwareDatetime | None, Query(alias="from", description="start, inclusive (default: to - 30 days)")]
To = Annotated[AwareDatetime | None, Query(alias="to", description="end, exclusive (default: now)")]
Format = Annotated[Literal["json", "csv"], Query(alias="format", description="csv: a CSV attachment")]
BucketParam = Annotated[hq.Bucket, Query(description="1h: UTC hours; 1d: days in the configured time zone")]
Names = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Query()]
Kinds = Annotated[list[Annotated[str, Field(pattern=KIND_PATTERN)]], Query()]
SensorIds = Annotated[list[Annotated[str, Field(pattern=SENSOR_ID_PATTERN)]], Query()]
LineNames = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Query()]
ObjectClasses = Annotated[list[Annotated[str, Field(pattern=OBJECT_CLASS_PATTERN)]], Query(alias="class")]
Direction = Literal["in", "out"]


# -- answers ------------------------------------------------------------------------------------------
class Window(BaseModel):
    """The range an answer covers (``from``/``to``, widened to whole buckets where buckets are used)."""

    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")


class IncidentCount(BaseModel):
    """Raised incidents in one bucket (and group)."""

    bucket_start: datetime
    group: str | None = Field(description="the district, type or source; null without group_by or district")
    count: int


class IncidentSeries(Window):
    """Incident counts per time bucket and group; buckets without incidents are absent."""

    bucket: hq.Bucket
    timezone: str
    group_by: hq.IncidentGroup | None
    source: Literal["rollup", "raw"] = Field(description="rollup: the hourly rollups; raw: the incidents table")
    rows: list[IncidentCount]


class Heatmap(Window):
    """Raised incidents per hour of the week in ``timezone``: ``counts[weekday][hour]``, Monday = 0."""

    timezone: str
    source: Literal["rollup", "raw"]
    total: int
    counts: list[list[int]]


class ResponseTimeRow(BaseModel):
    """Time from first seen to acknowledged and to resolved, in seconds, of the alerts first seen in
    the range. ``all_districts``: the row sums every district of that priority."""

    priority: int
    district: str | None
    all_districts: bool
    alerts: int
    ack_count: int
    ack_median_s: float | None
    ack_p90_s: float | None
    resolve_count: int = Field(description="resolved or closed, not as false_alarm, duplicate or test")
    resolve_median_s: float | None
    resolve_p90_s: float | None


class ResponseTimes(Window):
    """Response times per priority, and per priority and district."""

    rows: list[ResponseTimeRow]


class FalseAlarmRow(BaseModel):
    """Closed alerts and how many of them were closed as ``false_alarm``."""

    per: hq.FalseAlarmLevel
    source: str | None
    source_kind: str | None
    rule: str | None = Field(description="the rule of the alert's incidents; '' when they are past retention")
    closed: int
    false_alarms: int
    rate: float


class FalseAlarms(Window):
    """False-alarm rates of the alerts first seen in the range, per source and rule, per source, per rule."""

    rows: list[FalseAlarmRow]


class TrendPoint(BaseModel):
    """One bucket of a sensor's readings."""

    bucket_start: datetime
    count: int
    avg: float
    min: float
    max: float


class SensorTrend(Window):
    """A sensor's readings in at most ``points`` buckets of ``bucket_s`` seconds (min/avg/max)."""

    sensor_id: str
    kind: str
    unit: str
    bucket_s: int
    source: Literal["rollup", "raw"]
    points: list[TrendPoint]


class ReadingStats(BaseModel):
    """Readings in one bucket (and group)."""

    bucket_start: datetime
    group: str | None
    count: int
    avg: float
    min: float
    max: float


class ReadingSeries(Window):
    """Reading statistics per time bucket and group; buckets without readings are absent."""

    bucket: hq.Bucket
    timezone: str
    group_by: hq.ReadingGroup | None
    source: Literal["rollup", "raw"]
    rows: list[ReadingStats]


class SourceCount(BaseModel):
    """A source and its raised incidents in the range."""

    source: str
    source_kind: str
    count: int


class TopSources(Window):
    """The sources with most incidents, most first."""

    rows: list[SourceCount]


class CrossingCount(BaseModel):
    """Line crossings in one bucket (and group); a column the series is not grouped by is null."""

    bucket_start: datetime
    camera: str | None = Field(description="with group_by camera or line")
    line: str | None = Field(description="with group_by line: the zone whose line_crossing rule counted")
    direction: Direction | None = Field(description="with group_by direction")
    object_class: str | None = Field(
        description="with group_by class: the COCO class, 'unclassified' for a camera without object confirmation"
    )
    district: str | None = Field(description="with group_by district; null also for cameras without one")
    count: int


class CrossingSeries(Window):
    """Line crossings per time bucket and group; buckets without crossings are absent."""

    bucket: hq.Bucket
    timezone: str
    group_by: list[hq.CrossingGroup] = Field(description="the columns grouped by (line brings camera)")
    classes: list[str] = Field(description="the classes counted (class and kind together); empty: all")
    source: Literal["rollup", "raw"] = Field(description="rollup: the hourly rollup; raw: the line_crossings table")
    rows: list[CrossingCount]


# -- helpers --------------------------------------------------------------------------------------------
def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    try:
        return hq.resolve_range(start, end, datetime.now(UTC))
    except hq.RangeError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc


def _timezone(request: Request) -> tuple[str, ZoneInfo]:
    view: ConfigView = request.app.state.config_view
    try:
        name = view.current().alerting.timezone
    except ConfigError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"configuration unreadable: {exc}") from exc
    return name, ZoneInfo(name)


def _fetch(pool: Pool, statements: Sequence[tuple[str, dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """Rows of each statement, read in one transaction with a statement timeout."""
    try:
        with pool.connection() as conn, conn.transaction():
            conn.execute(hq.STATEMENT_TIMEOUT)
            return [conn.execute(statement, params).fetchall() for statement, params in statements]
    except psycopg.errors.UndefinedTable:
        return [[] for _ in statements]  # the archiver or alerting has not created its tables yet: no history
    except psycopg.errors.QueryCanceled as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the history query took too long; narrow the range or filters"
        ) from exc
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"history unavailable: {exc}") from exc


def _one(pool: Pool, statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return _fetch(pool, [(statement, params)])[0]


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run a district name as a formula
    return value


def _csv(what: str, window: Window, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    name = f"pantau-{what}-{window.start:%Y%m%dT%H%MZ}-{window.end:%Y%m%dT%H%MZ}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _json(answer: BaseModel) -> Response:
    """The answer serialized once by pydantic's own serializer. Returning the model would have
    FastAPI validate it again and encode it with the standard library: ~200 ms more for a month of
    hourly rows per district on this machine (``docs/benchmarks.md``)."""
    return Response(answer.model_dump_json(by_alias=True), media_type="application/json")


def _too_many(rows: int) -> None:
    if rows > hq.MAX_SERIES_ROWS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"more than {hq.MAX_SERIES_ROWS:,} buckets x groups; narrow the range, use bucket=1d or fewer groups",
        )


# -- routes ----------------------------------------------------------------------------------------------
@router.get("/incidents", response_model=IncidentSeries)
def incidents(
    request: Request,
    pool: Pool,
    _principal: Planner,
    start: From = None,
    end: To = None,
    bucket: BucketParam = "1h",
    group_by: Annotated[hq.IncidentGroup | None, Query()] = None,
    district: Names = [],  # noqa: B006 - FastAPI query lists
    type_: Annotated[list[Annotated[str, Field(pattern=KIND_PATTERN)]], Query(alias="type")] = [],  # noqa: B006
    camera: SensorIds = [],  # noqa: B006
    sensor: SensorIds = [],  # noqa: B006
    fmt: Format = "json",
) -> Response:
    """Raised incidents per bucket (``1h`` or ``1d``), optionally per district, type or source."""
    tz_name, tz = _timezone(request)
    lo, hi = hq.align(*_range(start, end), bucket, tz)
    from_rollup = bucket == "1h" or hq.rollups_align(tz, lo, hi)
    filters = hq.IncidentFilters(districts=district, types=type_, cameras=camera, sensors=sensor)
    rows = _one(pool, *hq.incident_series(lo, hi, bucket, group_by, filters, tz_name, from_rollup=from_rollup))
    _too_many(len(rows))
    series = IncidentSeries(
        start=lo,
        end=hi,
        bucket=bucket,
        timezone=tz_name,
        group_by=group_by,
        source="rollup" if from_rollup else "raw",
        rows=[IncidentCount(bucket_start=r[0], group=r[1], count=r[2]) for r in rows],
    )
    if fmt == "csv":
        table = ((r.bucket_start, r.group, r.count) for r in series.rows)
        return _csv("incidents", series, ("bucket_start", group_by or "group", "count"), table)
    return _json(series)


@router.get("/heatmap", response_model=Heatmap)
def heatmap(
    request: Request,
    pool: Pool,
    _principal: Planner,
    start: From = None,
    end: To = None,
    district: Names = [],  # noqa: B006
    type_: Annotated[list[Annotated[str, Field(pattern=KIND_PATTERN)]], Query(alias="type")] = [],  # noqa: B006
    fmt: Format = "json",
) -> Response:
    """Raised incidents per weekday and hour in the configured time zone (7 x 24, Monday first)."""
    tz_name, tz = _timezone(request)
    lo, hi = hq.align(*_range(start, end), "1h", tz)
    from_rollup = hq.rollups_align(tz, lo, hi)
    filters = hq.IncidentFilters(districts=district, types=type_)
    counts = [[0] * 24 for _ in range(7)]
    for dow, hour, n in _one(pool, *hq.heatmap(lo, hi, filters, tz_name, from_rollup=from_rollup)):
        counts[dow][hour] = int(n)
    answer = Heatmap(
        start=lo,
        end=hi,
        timezone=tz_name,
        source="rollup" if from_rollup else "raw",
        total=sum(map(sum, counts)),
        counts=counts,
    )
    if fmt == "csv":
        table = ((dow, hour, counts[dow][hour]) for dow in range(7) for hour in range(24))
        return _csv("heatmap", answer, ("weekday", "hour", "count"), table)
    return _json(answer)


@router.get("/response-times", response_model=ResponseTimes)
def response_times(
    pool: Pool, _principal: Planner, start: From = None, end: To = None, fmt: Format = "json"
) -> Response:
    """Median and 90th percentile of the time to acknowledge and to resolve, per priority (and district)."""
    lo, hi = _range(start, end)
    rows = _one(pool, hq.RESPONSE_TIMES, {"start": lo, "end": hi, "not_work": list(hq.NOT_REAL_WORK)})
    answer = ResponseTimes(
        start=lo,
        end=hi,
        rows=[
            ResponseTimeRow(
                priority=r[0],
                district=None if r[2] else r[1],
                all_districts=r[2],
                alerts=r[3],
                ack_count=r[4],
                ack_median_s=r[5],
                ack_p90_s=r[6],
                resolve_count=r[7],
                resolve_median_s=r[8],
                resolve_p90_s=r[9],
            )
            for r in rows
        ],
    )
    if fmt == "csv":
        fields = list(ResponseTimeRow.model_fields)
        return _csv("response-times", answer, fields, ([getattr(r, f) for f in fields] for r in answer.rows))
    return _json(answer)


@router.get("/false-alarms", response_model=FalseAlarms)
def false_alarms(pool: Pool, _principal: Planner, start: From = None, end: To = None, fmt: Format = "json") -> Response:
    """Closed alerts and the share closed as false alarms, per source and rule, per source, per rule."""
    lo, hi = _range(start, end)
    rows = _one(pool, hq.FALSE_ALARMS, {"start": lo, "end": hi})
    answer = FalseAlarms(
        start=lo,
        end=hi,
        rows=[
            FalseAlarmRow(
                per=hq.FALSE_ALARM_LEVELS[r[0]],
                source=r[1],
                source_kind=r[2],
                rule=r[3],
                closed=r[4],
                false_alarms=r[5],
                rate=r[5] / r[4] if r[4] else 0.0,
            )
            for r in rows
        ],
    )
    if fmt == "csv":
        fields = list(FalseAlarmRow.model_fields)
        return _csv("false-alarms", answer, fields, ([getattr(r, f) for f in fields] for r in answer.rows))
    return _json(answer)


@router.get("/sensors/{sensor_id:path}", response_model=SensorTrend)
def sensor_trend(
    sensor_id: Annotated[str, Path(pattern=SENSOR_ID_PATTERN)],
    pool: Pool,
    _principal: Planner,
    start: From = None,
    end: To = None,
    points: Annotated[int, Query(ge=10, le=5000, description="at most this many buckets")] = 500,
    fmt: Format = "json",
) -> Response:
    """One sensor's readings, min/avg/max per bucket; long ranges read the hourly rollup."""
    plan = hq.plan_trend(*_range(start, end), points)
    known, rows = _fetch(pool, [(hq.SENSOR_KNOWN, {"sensor": sensor_id}), hq.sensor_trend(sensor_id, plan)])
    if not known:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no readings of sensor {sensor_id!r}")
    answer = SensorTrend(
        start=plan.start,
        end=plan.end,
        sensor_id=sensor_id,
        kind=known[0][0],
        unit=known[0][1],
        bucket_s=plan.bucket_s,
        source="rollup" if plan.from_rollup else "raw",
        points=[TrendPoint(bucket_start=r[0], count=r[1], avg=r[2], min=r[3], max=r[4]) for r in rows],
    )
    if fmt == "csv":
        table = ((p.bucket_start, p.count, p.avg, p.min, p.max) for p in answer.points)
        name = "sensor-" + sensor_id.replace("/", "_").replace(":", "_")  # file names hold neither
        return _csv(name, answer, ("bucket_start", "count", "avg", "min", "max"), table)
    return _json(answer)


@router.get("/readings", response_model=ReadingSeries)
def readings(
    request: Request,
    pool: Pool,
    _principal: Planner,
    start: From = None,
    end: To = None,
    bucket: BucketParam = "1h",
    group_by: Annotated[hq.ReadingGroup | None, Query()] = None,
    kind: Kinds = [],  # noqa: B006
    district: Names = [],  # noqa: B006
    sensor: SensorIds = [],  # noqa: B006
    fmt: Format = "json",
) -> Response:
    """Reading count, average, minimum and maximum per bucket, optionally per district, kind or sensor."""
    tz_name, tz = _timezone(request)
    lo, hi = hq.align(*_range(start, end), bucket, tz)
    from_rollup = bucket == "1h" or hq.rollups_align(tz, lo, hi)
    filters = hq.ReadingFilters(kinds=kind, districts=district, sensors=sensor)
    rows = _one(pool, *hq.reading_series(lo, hi, bucket, group_by, filters, tz_name, from_rollup=from_rollup))
    _too_many(len(rows))
    answer = ReadingSeries(
        start=lo,
        end=hi,
        bucket=bucket,
        timezone=tz_name,
        group_by=group_by,
        source="rollup" if from_rollup else "raw",
        rows=[ReadingStats(bucket_start=r[0], group=r[1], count=r[2], avg=r[3], min=r[4], max=r[5]) for r in rows],
    )
    if fmt == "csv":
        table = ((r.bucket_start, r.group, r.count, r.avg, r.min, r.max) for r in answer.rows)
        return _csv("readings", answer, ("bucket_start", group_by or "group", "count", "avg", "min", "max"), table)
    return _json(answer)


@router.get("/crossings", response_model=CrossingSeries)
def crossings(
    request: Request,
    pool: Pool,
    _principal: Planner,
    start: From = None,
    end: To = None,
    bucket: BucketParam = "1h",
    group_by: Annotated[list[hq.CrossingGroup], Query(description="repeatable; line groups by camera too")] = [],  # noqa: B006
    camera: SensorIds = [],  # noqa: B006
    line: LineNames = [],  # noqa: B006
    direction: Annotated[list[Direction], Query()] = [],  # noqa: B006
    class_: ObjectClasses = [],  # noqa: B006
    kind: Annotated[
        list[hq.CrossingKind], Query(description="vehicle: bicycle, car, motorcycle, bus, truck; person")
    ] = [],  # noqa: B006
    district: Names = [],  # noqa: B006
    fmt: Format = "json",
) -> Response:
    """Line crossings per bucket (``1h`` or ``1d``), optionally per camera, line, direction, class or
    district: vehicles per hour at a junction, people per day on a bridge. ``class`` and ``kind``
    (repeatable) pick the classes counted; both given: either."""
    tz_name, tz = _timezone(request)
    lo, hi = hq.align(*_range(start, end), bucket, tz)
    from_rollup = bucket == "1h" or hq.rollups_align(tz, lo, hi)
    grouped = hq.crossing_groups(group_by)
    classes = hq.crossing_classes(class_, kind)
    filters = hq.CrossingFilters(cameras=camera, lines=line, directions=direction, classes=classes, districts=district)
    rows = _one(pool, *hq.crossing_series(lo, hi, bucket, grouped, filters, tz_name, from_rollup=from_rollup))
    _too_many(len(rows))
    series = CrossingSeries(
        start=lo,
        end=hi,
        bucket=bucket,
        timezone=tz_name,
        group_by=list(grouped),
        classes=classes,
        source="rollup" if from_rollup else "raw",
        rows=[
            CrossingCount(
                bucket_start=r[0], camera=r[1], line=r[2], direction=r[3], object_class=r[4], district=r[5], count=r[6]
            )
            for r in rows
        ],
    )
    if fmt == "csv":
        columns = [("object_class" if c == "class" else c) for c in grouped]
        table = ([r.bucket_start, *(getattr(r, c) for c in columns), r.count] for r in series.rows)
        return _csv("crossings", series, ("bucket_start", *columns, "count"), table)
    return _json(series)


@router.get("/top-sources", response_model=TopSources)
def top_sources(
    pool: Pool,
    _principal: Planner,
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    district: Names = [],  # noqa: B006
    type_: Annotated[list[Annotated[str, Field(pattern=KIND_PATTERN)]], Query(alias="type")] = [],  # noqa: B006
    fmt: Format = "json",
) -> Response:
    """The ``limit`` sources with most raised incidents in the range."""
    lo, hi = hq.align(*_range(start, end), "1h", UTC)
    filters = hq.IncidentFilters(districts=district, types=type_)
    rows = _one(pool, *hq.top_sources(lo, hi, filters, limit))
    answer = TopSources(start=lo, end=hi, rows=[SourceCount(source=r[0], source_kind=r[1], count=r[2]) for r in rows])
    if fmt == "csv":
        table = ((r.source, r.source_kind, r.count) for r in answer.rows)
        return _csv("top-sources", answer, ("source", "source_kind", "count"), table)
    return _json(answer)


@router.get("/cap", response_class=Response, responses={200: {"content": {ATOM_MEDIA_TYPE: {}}}})
def cap_export(
    request: Request,
    pool: Pool,
    _principal: Planner,
    start: From = None,
    end: To = None,
    district: Names = [],  # noqa: B006
    type_: Annotated[list[Annotated[str, Field(pattern=KIND_PATTERN)]], Query(alias="type")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=MAX_CAP_ALERTS)] = 1000,
) -> Response:
    """The alerts first seen in the range as an Atom feed of CAP 1.2 messages (one ``entry`` per
    alert, its current version as the ``content``), built by alerting's CAP writer."""
    lo, hi = _range(start, end)
    tz_name, tz = _timezone(request)
    config = request.app.state.config_view.current().alerting
    docs = _one(pool, *hq.cap_alerts(lo, hi, district, type_, limit + 1))
    if len(docs) > limit:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"more than {limit} alerts in the selection; narrow it or raise limit (at most {MAX_CAP_ALERTS})",
        )
    alerts = [Alert.model_validate(row[0]) for row in docs]
    sender = str(getattr(request.app.state.settings, "cap_sender", DEFAULT_CAP_SENDER))
    earlier: dict[str, list[tuple[int, datetime]]] = {}
    if alerts:
        params = {"ids": [a.id for a in alerts], "versions": [a.version for a in alerts]}
        for alert_id, version, at in _one(pool, hq.CAP_REFERENCES, params):
            earlier.setdefault(alert_id, []).append((version, at))
    base = str(request.base_url).rstrip("/")
    entries: list[str] = []
    for alert in alerts:
        references = [
            (sender, identifier(alert.model_copy(update={"version": v})), at) for v, at in earlier.get(alert.id, [])
        ]
        try:
            message = to_cap(
                alert,
                sender=sender,
                references=references,
                web=f"{base}/alerts/{alert.id}",
                event=config.alerting.type_name(alert.type),
                tz=tz,
            )
        except CapError as exc:
            raise HTTPException(500, f"alert {alert.id} cannot be written as CAP: {exc}") from exc
        entries.append(
            "<entry>"
            f"<id>urn:pantau:cap:{escape(identifier(alert))}</id>"
            f"<title>{escape(alert.title)}</title>"
            f"<updated>{alert.updated_at.isoformat()}</updated>"
            f'<content type="application/cap+xml">{message[len(XML_DECLARATION) :].decode()}</content>'
            "</entry>"
        )
    feed = (
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>urn:pantau:history:cap:{lo:%Y%m%dT%H%M%SZ}:{hi:%Y%m%dT%H%M%SZ}</id>"
        f"<title>Pantau alerts {escape(lo.astimezone(tz).isoformat())} to {escape(hi.astimezone(tz).isoformat())} "
        f"({escape(tz_name)})</title>"
        f"<updated>{datetime.now(UTC).isoformat()}</updated>"
        f"<author><name>{escape(sender)}</name></author>" + "".join(entries) + "</feed>"
    )
    name = f"pantau-cap-{lo:%Y%m%dT%H%MZ}-{hi:%Y%m%dT%H%MZ}.xml"
    return Response(
        XML_DECLARATION + feed.encode("utf-8"),
        media_type=ATOM_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
