"""When the daily and weekly reports run, in the configuration's time zone (pure functions).

A daily report covers the previous local day ``[midnight, midnight)``; it runs every day at
``daily_at``. A weekly report covers the seven local days ending at the midnight of the run day; it
runs on ``weekly_on`` at ``weekly_at``.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from console.settings import Settings

Kind = Literal["daily", "weekly"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class ReportsConfig(BaseModel):
    """The ``reports:`` section of the configuration file: recipients and schedule."""

    model_config = ConfigDict(extra="forbid")

    recipients: list[str] = Field(default_factory=list, description="Addresses the reports are mailed to")
    daily_at: time = Field(time(7, 0), description="Local time the daily report is built")
    weekly_on: Weekday = Field("monday", description="Weekday the weekly report is built")
    weekly_at: time = Field(time(7, 30), description="Local time the weekly report is built")
    enabled: bool = Field(True, description="Build reports on schedule")

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            local, sep, domain = address.partition("@")
            if not sep or not local or "." not in domain or any(c.isspace() for c in address):
                raise ValueError(f"not an e-mail address: {address!r}")
        return value


def _at(day: datetime, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), at, tzinfo=tz)


def next_run(kind: Kind, now: datetime, config: ReportsConfig, tz: ZoneInfo) -> datetime:
    """The first scheduled run of ``kind`` strictly after ``now`` (aware, in ``tz``)."""
    local = now.astimezone(tz)
    if kind == "daily":
        candidate = _at(local, config.daily_at, tz)
        if candidate <= local:
            candidate = _at(local + timedelta(days=1), config.daily_at, tz)
        return candidate
    target = WEEKDAYS.index(config.weekly_on)
    days_ahead = (target - local.weekday()) % 7
    candidate = _at(local + timedelta(days=days_ahead), config.weekly_at, tz)
    if candidate <= local:
        candidate = _at(local + timedelta(days=days_ahead + 7), config.weekly_at, tz)
    return candidate


def period_for(kind: Kind, run_at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The ``[from, to)`` a run at ``run_at`` reports on: the previous local day or the previous seven."""
    local = run_at.astimezone(tz)
    end = datetime.combine(local.date(), time(0), tzinfo=tz)
    return end - timedelta(days=1 if kind == "daily" else 7), end


# -- building, keeping and mailing ------------------------------------------------------------------
from console.reports import queries as q  # noqa: E402
from console.reports import render  # noqa: E402
from console.reports.build import gather  # noqa: E402
from console.reports.mail import SmtpConfig, message, send  # noqa: E402

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    """The row of a report; ``created`` is false when the period had one already (nothing mailed)."""

    id: int
    created: bool
    mailed_to: list[str]
    mail_error: str | None


def smtp_config(settings: Settings) -> SmtpConfig | None:
    """The SMTP settings, or None when no server is configured."""
    if not settings.smtp_host:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        user=settings.smtp_user,
        password=password,
        starttls=settings.smtp_starttls,
        use_ssl=settings.smtp_ssl,
    )


def ensure_schema(pool: ConnectionPool) -> None:
    """Creates the ``reports`` table."""
    with pool.connection() as conn, conn.transaction():
        for statement in q.SCHEMA_STATEMENTS:
            conn.execute(statement)


def build_report(
    pool: ConnectionPool,
    settings: Settings,
    config: ReportsConfig,
    tz_name: str,
    kind: Kind,
    start: datetime,
    end: datetime,
) -> BuildResult | None:
    """Builds, keeps and mails the report of ``[start, end)`` once.

    Holds a PostgreSQL advisory lock on (kind, period) for the whole build, so two consoles never
    build or mail the same period; returns None when another one holds it. When the period already
    has a row, returns it untouched (``created`` false).
    """
    ensure_schema(pool)
    key = f"pantau-report:{kind}:{start.astimezone(UTC).isoformat()}"
    with pool.connection() as conn, conn.transaction():
        if not conn.execute(q.ADVISORY_LOCK, {"key": key}).fetchone()[0]:  # type: ignore[index]
            return None
        row = conn.execute(q.EXISTING, {"kind": kind, "start": start}).fetchone()
        if row is not None:
            return BuildResult(int(row[0]), False, [], None)
        data = gather(pool, kind, start, end, tz_name)
        page, document = render.html(data), render.pdf(data)
        stem = f"{kind}-{start.astimezone(ZoneInfo(tz_name)).date().isoformat()}"
        folder = settings.reports_dir
        folder.mkdir(parents=True, exist_ok=True)
        html_path, pdf_path = folder / f"{stem}.html", folder / f"{stem}.pdf"
        html_path.write_text(page, encoding="utf-8")
        pdf_path.write_bytes(document)
        mailed_to: list[str] = []
        error: str | None = None
        smtp = smtp_config(settings)
        if config.recipients and smtp is not None:
            try:
                send(smtp, message(smtp.sender, config.recipients, render.title(data), page, document, pdf_path.name))
                mailed_to = list(config.recipients)
            except (smtplib.SMTPException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("report %s not mailed: %s", stem, error)
        elif config.recipients:
            error = "no SMTP server configured (PANTAU_SMTP_HOST)"
        inserted = conn.execute(
            q.INSERT_REPORT,
            {
                "kind": kind,
                "start": start,
                "end": end,
                "html": str(html_path),
                "pdf": str(pdf_path),
                "mailed_to": mailed_to,
                "mail_error": error,
            },
        ).fetchone()
        if inserted is None:  # raced past the lock somehow: the unique (kind, period_from) keeps one row
            return None
        log.info("report %s built (mailed to %d)", stem, len(mailed_to))
        return BuildResult(int(inserted[0]), True, mailed_to, error)


async def run_schedule(
    pool: ConnectionPool, settings: Settings, current: Callable[[], tuple[ReportsConfig, str]]
) -> None:
    """Forever: sleeps until the next daily or weekly run and builds that report (the console's lifespan
    starts it as a task and cancels it on shutdown). ``current`` gives the schedule and time zone as the
    configuration says now."""
    kinds: tuple[Kind, Kind] = ("daily", "weekly")
    while True:
        try:
            config, tz_name = current()
        except Exception:
            log.exception("report schedule unreadable; retrying in a minute")
            await asyncio.sleep(60.0)
            continue
        tz = ZoneInfo(tz_name)
        now = datetime.now(UTC)
        runs = {k: next_run(k, now, config, tz) for k in kinds}
        due = min(runs.values())
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        if not config.enabled:
            continue
        for kind in kinds:
            if runs[kind] != due:
                continue
            start, end = period_for(kind, due, tz)
            try:
                await asyncio.to_thread(build_report, pool, settings, config, tz_name, kind, start, end)
            except Exception:
                log.exception("scheduled %s report failed", kind)
        await asyncio.sleep(1.0)
