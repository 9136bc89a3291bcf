"""``pantau report daily|weekly``: build one report now, from the command line (a period from before
Pantau kept reports, or one older than the scheduler's catch-up reaches). A period that already has a
report is left as it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from console.configview import ConfigView
from console.db import make_pool
from console.reports import queries as q
from console.reports.scheduler import Kind, ReportsConfig, build_report, period_for, previous_run
from console.settings import Settings
from pantau.exceptions import PantauError


@dataclass(frozen=True)
class CommandResult:
    """What the command built (or found): the period and the files."""

    created: bool
    start: datetime
    end: datetime
    html_path: str
    pdf_path: str
    mailed_to: list[str]
    mail_error: str | None


def report_period(
    kind: Kind, day: date | None, now: datetime, tz_name: str, config: ReportsConfig
) -> tuple[datetime, datetime]:
    """``[from, to)``: the local ``day`` (daily) or the seven local days ending with it (weekly); without
    a day, the period of the last scheduled run."""
    tz = ZoneInfo(tz_name)
    if day is None:
        return period_for(kind, previous_run(kind, now, config, tz), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return end - timedelta(days=1 if kind == "daily" else 7), end


def run_report(settings: Settings, kind: Kind, day: date | None, send: bool) -> CommandResult:
    """Builds the report (mailing it only with ``send``); an existing report of the period is returned
    as it is."""
    view = ConfigView(settings.config)
    current = view.current()
    tz_name = current.alerting.timezone
    start, end = report_period(kind, day, datetime.now(UTC), tz_name, current.reports)
    if end > datetime.now(UTC):
        raise PantauError(f"the {kind} report of a period that has not ended yet ({end.isoformat()})")
    pool = make_pool(settings)
    pool.open(wait=True, timeout=30.0)
    try:
        result = build_report(pool, settings, current.reports, tz_name, kind, start, end, mail=send)
        if result is None:
            raise PantauError("another console is building this report right now; try again in a minute")
        with pool.connection() as conn:
            row = conn.execute(q.PATHS, {"id": result.id}).fetchone()
    finally:
        pool.close()
    if row is None:  # pragma: no cover - the row was just read under the same id
        raise PantauError(f"report {result.id} vanished")
    return CommandResult(result.created, start, end, row[0], row[1], list(row[2]), row[3])
