"""When the daily and weekly reports run, in the configuration's time zone (pure functions).

A daily report covers the previous local day ``[midnight, midnight)``; it runs every day at
``daily_at``. A weekly report covers the seven local days ending at the midnight of the run day; it
runs on ``weekly_on`` at ``weekly_at``. A console that starts builds the runs missed while no console
was up (since the newest kept report of each kind, at most ``PANTAU_REPORTS_CATCH_UP``; only the last
one on a deployment that has none yet), and deletes reports older than ``PANTAU_REPORTS_RETENTION_DAYS``.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import psycopg
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from console.settings import Settings

Kind = Literal["daily", "weekly"]
KINDS: tuple[Kind, Kind] = ("daily", "weekly")
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


def previous_run(kind: Kind, now: datetime, config: ReportsConfig, tz: ZoneInfo) -> datetime:
    """The last scheduled run of ``kind`` at or before ``now`` (aware, in ``tz``)."""
    local = now.astimezone(tz)
    if kind == "daily":
        candidate = _at(local, config.daily_at, tz)
        return candidate if candidate <= local else _at(local - timedelta(days=1), config.daily_at, tz)
    target = WEEKDAYS.index(config.weekly_on)
    days_back = (local.weekday() - target) % 7
    candidate = _at(local - timedelta(days=days_back), config.weekly_at, tz)
    return candidate if candidate <= local else _at(local - timedelta(days=days_back + 7), config.weekly_at, tz)


def missed_runs(
    kind: Kind, now: datetime, config: ReportsConfig, tz: ZoneInfo, latest_built: datetime | None, limit: int
) -> list[datetime]:
    """The scheduled runs at or before ``now`` whose period starts after ``latest_built`` (the newest
    period this kind has a report for), oldest first and at most ``limit``. With no report yet, only the
    last run: a new deployment does not mail a backlog of empty reports."""
    runs: list[datetime] = []
    run = previous_run(kind, now, config, tz)
    while len(runs) < (limit if latest_built is not None else 1):
        if latest_built is not None and period_for(kind, run, tz)[0] <= latest_built:
            break
        runs.append(run)
        run = previous_run(kind, run - timedelta(seconds=1), config, tz)
    return runs[::-1]


def period_for(kind: Kind, run_at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The ``[from, to)`` a run at ``run_at`` reports on: the previous local day or the previous seven."""
    local = run_at.astimezone(tz)
    end = datetime.combine(local.date(), time(0), tzinfo=tz)
    return end - timedelta(days=1 if kind == "daily" else 7), end


# -- building, keeping and mailing ------------------------------------------------------------------
from console.exceptions import MailNotPossible, ReportNotFound  # noqa: E402
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


_schema_ready: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()


def ensure_schema(pool: ConnectionPool) -> None:
    """Creates (or completes) the ``reports`` table, once per pool: its ``ALTER TABLE`` takes a lock
    that would queue behind a report being built."""
    if pool in _schema_ready:
        return
    with pool.connection() as conn, conn.transaction():
        for statement in q.SCHEMA_STATEMENTS:
            conn.execute(statement)
    _schema_ready.add(pool)


def build_report(
    pool: ConnectionPool,
    settings: Settings,
    config: ReportsConfig,
    tz_name: str,
    kind: Kind,
    start: datetime,
    end: datetime,
    *,
    mail: bool = True,
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
        tried_at: datetime | None = None
        smtp = smtp_config(settings)
        if mail and config.recipients and smtp is not None:
            tried_at = datetime.now(UTC)
            error = _send(smtp, config.recipients, render.title(data), page, document, pdf_path.name)
            if error is None:
                mailed_to = list(config.recipients)
            else:
                retry_s = settings.reports_mail_retry_s
                log.warning("report %s not mailed (tried again every %.0f s): %s", stem, retry_s, error)
        elif mail and config.recipients:
            error = NO_SMTP
        inserted = conn.execute(
            q.INSERT_REPORT,
            {
                "kind": kind,
                "start": start,
                "end": end,
                "html_path": str(html_path),
                "pdf_path": str(pdf_path),
                "html": page,
                "pdf": document,
                "mailed_to": mailed_to,
                "mail_error": error,
                "attempts": 0 if tried_at is None else 1,
                "tried_at": tried_at,
            },
        ).fetchone()
        if inserted is None:  # raced past the lock somehow: the unique (kind, period_from) keeps one row
            return None
        log.info("report %s built (mailed to %d)", stem, len(mailed_to))
        return BuildResult(int(inserted[0]), True, mailed_to, error)


NO_SMTP = "no SMTP server configured (PANTAU_SMTP_HOST)"


def _send(
    smtp: SmtpConfig, recipients: list[str], subject: str, page: str, document: bytes, pdf_name: str
) -> str | None:
    """Mails the report; the error as text, or None when the server took it."""
    try:
        send(smtp, message(smtp.sender, recipients, subject, page, document, pdf_name))
    except (smtplib.SMTPException, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class MailResult:
    """One mailing of a kept report: to whom, or why not."""

    mailed_to: list[str]
    mail_error: str | None


def mail_report(
    pool: ConnectionPool, settings: Settings, config: ReportsConfig, tz_name: str, report_id: int, *, resend: bool
) -> MailResult | None:
    """Mails kept report ``report_id`` to the recipients the configuration names now, recording the
    outcome in its row. Without ``resend``, a report whose last mail went out is left alone (the retry
    of a failed mail). None when another console is mailing it right now.

    Raises :class:`ReportNotFound` for an unknown id and :class:`MailNotPossible` when there is no
    SMTP server or no recipient to mail to.
    """
    smtp = smtp_config(settings)
    if smtp is None:
        raise MailNotPossible(NO_SMTP)
    if not config.recipients:
        raise MailNotPossible("no recipients configured (reports.recipients)")
    ensure_schema(pool)
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(q.LOCK_FOR_MAIL, {"id": report_id}).fetchone()
        if row is None:
            if conn.execute(q.EXISTS, {"id": report_id}).fetchone() is None:
                raise ReportNotFound(f"no report {report_id}")
            return None
        kind, start, end, html_name, pdf_name, last_error, page, document = row
        if not resend and last_error is None:
            return MailResult([], None)
        pdf_path = Path(pdf_name)
        error: str | None = None
        if page is None or document is None:  # a row from before reports were kept in the table
            try:
                page, document = Path(html_name).read_text(encoding="utf-8"), pdf_path.read_bytes()
            except OSError as exc:
                error = f"the report's files are no longer kept: {exc}"
        if error is None:
            subject = render.subject(kind, start, end, tz_name)
            error = _send(smtp, config.recipients, subject, page, document, pdf_path.name)
        mailed_to = list(config.recipients) if error is None else []
        conn.execute(
            q.RECORD_MAIL,
            {"id": report_id, "mailed_to": mailed_to, "mail_error": error, "tried_at": datetime.now(UTC)},
        )
    if error is None:
        log.info("report %d (%s %s) mailed to %d", report_id, kind, start.date(), len(mailed_to))
    else:
        log.warning("report %d (%s %s) still not mailed: %s", report_id, kind, start.date(), error)
    return MailResult(mailed_to, error)


def retry_mail(pool: ConnectionPool, settings: Settings, config: ReportsConfig, tz_name: str, now: datetime) -> int:
    """Mails again the reports whose mail failed (an SMTP server that was away), each at most every
    ``reports_mail_retry_s`` and for ``reports_mail_retry_h`` after it was built; returns how many
    went out."""
    if settings.reports_mail_retry_h <= 0 or smtp_config(settings) is None or not config.recipients:
        return 0
    ensure_schema(pool)
    with pool.connection() as conn:
        rows = conn.execute(
            q.MAIL_PENDING,
            {
                "since": now - timedelta(hours=settings.reports_mail_retry_h),
                # a little slack, so a try due at this wake-up is not put off by a whole interval
                "tried_before": now - timedelta(seconds=settings.reports_mail_retry_s * 0.9),
            },
        ).fetchall()
    sent = 0
    for (report_id,) in rows:
        try:
            result = mail_report(pool, settings, config, tz_name, int(report_id), resend=False)
        except ReportNotFound:  # swept meanwhile
            continue
        if result is not None and result.mailed_to:
            sent += 1
    return sent


def latest_period(pool: ConnectionPool, kind: Kind) -> datetime | None:
    """The start of the newest period ``kind`` has a report for."""
    ensure_schema(pool)
    with pool.connection() as conn:
        row = conn.execute(q.LATEST_PERIOD, {"kind": kind}).fetchone()
    return row[0] if row is not None else None


def catch_up(pool: ConnectionPool, settings: Settings, config: ReportsConfig, tz_name: str, now: datetime) -> int:
    """Builds (and mails) the reports of runs missed while no console was up, oldest first, at most
    ``settings.reports_catch_up`` per kind; returns how many were built."""
    tz = ZoneInfo(tz_name)
    built = 0
    for kind in KINDS:
        for run in missed_runs(kind, now, config, tz, latest_period(pool, kind), settings.reports_catch_up):
            start, end = period_for(kind, run, tz)
            result = build_report(pool, settings, config, tz_name, kind, start, end)
            if result is not None and result.created:
                log.info("caught up the %s report of %s, missed at %s", kind, start.date(), run.isoformat())
                built += 1
    return built


def sweep(pool: ConnectionPool, settings: Settings, now: datetime) -> int:
    """Deletes the reports (rows and files) whose period ended more than ``reports_retention_days`` ago;
    returns how many. Zero days keeps every report."""
    if settings.reports_retention_days <= 0:
        return 0
    ensure_schema(pool)
    cutoff = now - timedelta(days=settings.reports_retention_days)
    with pool.connection() as conn, conn.transaction():
        rows = conn.execute(q.DELETE_OLD, {"cutoff": cutoff}).fetchall()
    for html_path, pdf_path in rows:
        for name in (html_path, pdf_path):
            try:
                Path(name).unlink(missing_ok=True)
            except OSError as exc:  # a file someone moved or locked: the row is gone, say so and go on
                log.warning("old report file %s not deleted: %s", name, exc)
    if rows:
        log.info("deleted %d reports older than %d days", len(rows), settings.reports_retention_days)
    return len(rows)


async def run_schedule(
    pool: ConnectionPool, settings: Settings, current: Callable[[], tuple[ReportsConfig, str]]
) -> None:
    """Forever: catches up missed runs, then sleeps until the next daily or weekly run and builds that
    report, sweeping old reports after each (the console's lifespan starts it as a task and cancels it
    on shutdown). ``current`` gives the schedule and time zone as the configuration says now."""
    checked_missed = False
    while True:
        try:
            config, tz_name = current()
        except Exception:
            log.exception("report schedule unreadable; retrying in a minute")
            await asyncio.sleep(60.0)
            continue
        if config.enabled and not checked_missed:
            try:
                await asyncio.to_thread(catch_up, pool, settings, config, tz_name, datetime.now(UTC))
                await asyncio.to_thread(sweep, pool, settings, datetime.now(UTC))
                checked_missed = True
            except (psycopg.Error, PoolTimeout) as exc:
                # The database may be away, or the archive's tables not created yet (a console started
                # before the archiver): try again in a minute rather than skip the catch-up.
                log.warning("report catch-up waits for the database (retrying in a minute): %s", exc)
                await asyncio.sleep(60.0)
                continue
            except Exception:
                log.exception("report catch-up failed; retrying in a minute")
                await asyncio.sleep(60.0)
                continue
        tz = ZoneInfo(tz_name)
        now = datetime.now(UTC)
        runs = {k: next_run(k, now, config, tz) for k in KINDS}
        due = min(runs.values())
        # Wake at least every mail retry interval (failed mails) and every hour (a changed schedule).
        nap_s = min(3600.0, settings.reports_mail_retry_s, max(0.0, (due - datetime.now(UTC)).total_seconds()))
        await asyncio.sleep(nap_s)
        try:
            await asyncio.to_thread(retry_mail, pool, settings, config, tz_name, datetime.now(UTC))
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("retrying failed report mails waits for the database: %s", exc)
        except Exception:
            log.exception("retrying failed report mails failed")
        if datetime.now(UTC) < due or not config.enabled:
            continue
        for kind in KINDS:
            if runs[kind] != due:
                continue
            start, end = period_for(kind, due, tz)
            try:
                await asyncio.to_thread(build_report, pool, settings, config, tz_name, kind, start, end)
            except (psycopg.Error, PoolTimeout) as exc:
                log.warning("scheduled %s report failed (the database is away?): %s", kind, exc)
            except Exception:
                log.exception("scheduled %s report failed", kind)
        try:
            await asyncio.to_thread(sweep, pool, settings, datetime.now(UTC))
        except Exception:
            log.exception("report retention sweep failed")
        await asyncio.sleep(1.0)
