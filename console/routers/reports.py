"""The leadership reports: list, download (HTML, PDF), build one now and mail one again (admin)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import AwareDatetime, BaseModel, Field

from console.configview import ConfigView, ConsoleView
from console.deps import Pool
from console.exceptions import MailNotPossible, ReportNotFound
from console.reports import queries as q
from console.reports.scheduler import Kind, build_report, ensure_schema, mail_report, period_for
from console.settings import Settings
from pantau.auth import Principal, Role
from pantau.exceptions import ConfigError
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Reader = Annotated[Principal, Depends(require_roles(Role.planner, Role.admin, Role.operator))]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
MAX_LIST = 200
HTML = "text/html; charset=utf-8"
PDF = "application/pdf"


class ReportRow(BaseModel):
    """One kept report."""

    id: int
    kind: Kind
    period_from: datetime
    period_to: datetime
    created_at: datetime
    html_url: str
    pdf_url: str
    mailed_to: list[str] = Field(description="Who the last mail went to (empty: not mailed)")
    mail_error: str | None = Field(description="Why the last mail failed; a failed mail is tried again")
    mail_attempts: int = Field(description="Mails tried so far")
    mail_tried_at: datetime | None = Field(description="When the last mail was tried")


class BuildRequest(BaseModel):
    """Build a report now: the last full period by default, or ``[from, to)``."""

    kind: Kind
    from_: AwareDatetime | None = Field(None, alias="from")
    to: AwareDatetime | None = None


class BuildAnswer(BaseModel):
    """The report's row; ``created`` is false when the period had one already."""

    created: bool
    report: ReportRow


def _config(request: Request) -> ConsoleView:
    view: ConfigView = request.app.state.config_view
    try:
        return view.current()
    except ConfigError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"configuration unreadable: {exc}") from exc


def _row(r: tuple[Any, ...]) -> ReportRow:
    return ReportRow(
        id=r[0],
        kind=r[1],
        period_from=r[2],
        period_to=r[3],
        created_at=r[4],
        html_url=f"/api/v1/reports/{r[0]}.html",
        pdf_url=f"/api/v1/reports/{r[0]}.pdf",
        mailed_to=list(r[7] or []),
        mail_error=r[8],
        mail_attempts=r[9],
        mail_tried_at=r[10],
    )


def _get(pool: Pool, report_id: int) -> tuple[Any, ...] | None:
    try:
        with pool.connection() as conn:
            return conn.execute(q.GET_REPORT, {"id": report_id}).fetchone()
    except psycopg.errors.UndefinedTable:
        return None


@router.get("")
def list_reports(pool: Pool, _: Reader) -> list[ReportRow]:
    """The kept reports, newest period first."""
    try:
        with pool.connection() as conn:
            rows = conn.execute(q.LIST_REPORTS, {"limit": MAX_LIST}).fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    return [_row(r) for r in rows]


def _content(pool: Pool, report_id: int, query: str, media_type: str) -> Response:
    try:
        with pool.connection() as conn:
            row = conn.execute(query, {"id": report_id}).fetchone()
    except psycopg.errors.UndefinedTable:
        row = None
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report")
    content, name = row
    path = FilePath(name)
    if content is None:  # a report kept before the table held them: only its file has it
        if not path.is_file():
            raise HTTPException(status.HTTP_410_GONE, "the report's file is no longer kept")
        return FileResponse(path, media_type=media_type, filename=path.name)
    # The HTML opens in the browser (a page with no script; the console's CSP allows its inline CSS),
    # the PDF is saved.
    disposition = "attachment" if media_type == PDF else "inline"
    headers = {"Content-Disposition": f'{disposition}; filename="{path.name}"'}
    return Response(bytes(content) if media_type == PDF else str(content), media_type=media_type, headers=headers)


@router.get("/{report_id}.html")
def report_html(pool: Pool, _: Reader, report_id: Annotated[int, Path(ge=1)]) -> Response:
    """The report as a self-contained HTML page."""
    return _content(pool, report_id, q.CONTENT_HTML, HTML)


@router.get("/{report_id}.pdf")
def report_pdf(pool: Pool, _: Reader, report_id: Annotated[int, Path(ge=1)]) -> Response:
    """The report as a PDF."""
    return _content(pool, report_id, q.CONTENT_PDF, PDF)


@router.post("")
async def build_now(request: Request, pool: Pool, _: Admin, body: BuildRequest) -> BuildAnswer:
    """Builds (and mails) the report of a period now; the last full period by default."""
    settings: Settings = request.app.state.settings
    current = _config(request)
    tz_name = current.alerting.timezone
    tz = ZoneInfo(tz_name)
    if body.from_ is None and body.to is None:
        start, end = period_for(body.kind, datetime.now(UTC), tz)
    else:
        end = body.to or datetime.now(UTC)
        start = body.from_ or end - timedelta(days=1 if body.kind == "daily" else 7)
    if start >= end or end - start > timedelta(days=31):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "from must be before to, at most 31 days apart")
    await asyncio.to_thread(ensure_schema, pool)
    result = await asyncio.to_thread(build_report, pool, settings, current.reports, tz_name, body.kind, start, end)
    if result is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "another console is building this report; try again")
    row = await asyncio.to_thread(_get, pool, result.id)
    assert row is not None
    return BuildAnswer(created=result.created, report=_row(row))


@router.post(
    "/{report_id}/mail",
    responses={
        404: {"description": "No such report"},
        409: {"description": "Another console is mailing it, or no SMTP server or recipient is configured"},
        502: {"description": "The SMTP server refused or could not be reached; the row records why"},
    },
)
async def mail_again(request: Request, pool: Pool, _: Admin, report_id: Annotated[int, Path(ge=1)]) -> ReportRow:
    """Mails a kept report again, now, to the recipients the configuration names (after a failed
    mail, or to a recipient added since)."""
    settings: Settings = request.app.state.settings
    current = _config(request)
    try:
        result = await asyncio.to_thread(
            mail_report, pool, settings, current.reports, current.alerting.timezone, report_id, resend=True
        )
    except ReportNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report") from exc
    except MailNotPossible as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if result is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "another console is mailing this report; try again")
    if result.mail_error is not None:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"not mailed: {result.mail_error}")
    row = await asyncio.to_thread(_get, pool, report_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report")
    return _row(row)
