"""Gathers a report's figures from TimescaleDB (see :mod:`console.reports.queries`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

from console.history_queries import STATEMENT_TIMEOUT
from console.reports import queries as q
from console.reports.scheduler import Kind

TOP_LIMIT = 10
NOTABLE_MAX_PRIORITY = 2
NOTABLE_LIMIT = 20


@dataclass(frozen=True)
class ResponseTime:
    """Acknowledge and resolve times of one priority over the whole city."""

    priority: int
    alerts: int
    ack_count: int
    ack_median_s: float | None
    ack_p90_s: float | None
    resolve_count: int
    resolve_median_s: float | None
    resolve_p90_s: float | None


@dataclass(frozen=True)
class TopIssue:
    """Incidents of one type from one source in one district."""

    type: str
    source: str
    district: str
    count: int
    title: str


@dataclass(frozen=True)
class NotableAlert:
    """An urgent alert raised in the period."""

    id: str
    priority: int
    type: str
    source: str
    district: str
    status: str
    first_seen: datetime
    count: int
    title: str


@dataclass
class ReportData:
    """Every figure of one report."""

    kind: Kind
    start: datetime
    end: datetime
    tz: str
    by_district_type: list[tuple[str, str, int]] = field(default_factory=list)
    response_times: list[ResponseTime] = field(default_factory=list)
    top_issues: list[TopIssue] = field(default_factory=list)
    notable_alerts: list[NotableAlert] = field(default_factory=list)

    @property
    def total_incidents(self) -> int:
        """Raised incidents in the period."""
        return sum(n for _, _, n in self.by_district_type)

    def totals(self, index: int) -> list[tuple[str, int]]:
        """Incidents per district (``index`` 0) or per type (1), largest first."""
        sums: dict[str, int] = {}
        for row in self.by_district_type:
            key = (row[0] if index == 0 else row[1]) or "(none)"
            sums[key] = sums.get(key, 0) + row[2]
        return sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))


def gather(pool: ConnectionPool, kind: Kind, start: datetime, end: datetime, tz: str) -> ReportData:
    """Reads the figures of ``[start, end)`` in one read-only transaction."""
    data = ReportData(kind=kind, start=start, end=end, tz=tz)
    window: dict[str, Any] = {"start": start, "end": end}
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(STATEMENT_TIMEOUT)
        cur.execute(q.INCIDENTS_BY_DISTRICT_TYPE, window)
        data.by_district_type = [(str(r[0]), str(r[1]), int(r[2])) for r in cur.fetchall()]
        cur.execute(q.RESPONSE_TIMES, {**window, "not_work": list(q.NOT_REAL_WORK)})
        data.response_times = [
            ResponseTime(int(r[0]), int(r[3]), int(r[4]), r[5], r[6], int(r[7]), r[8], r[9])
            for r in cur.fetchall()
            if r[2]  # the city-wide row of each priority
        ]
        cur.execute(q.TOP_ISSUES, {**window, "limit": TOP_LIMIT})
        data.top_issues = [TopIssue(r[0], r[1], r[2], int(r[3]), r[4]) for r in cur.fetchall()]
        cur.execute(q.NOTABLE_ALERTS, {**window, "max_priority": NOTABLE_MAX_PRIORITY, "limit": NOTABLE_LIMIT})
        data.notable_alerts = [
            NotableAlert(r[0], int(r[1]), r[2], r[3], r[4], r[5], r[6], int(r[7]), r[8]) for r in cur.fetchall()
        ]
    return data
