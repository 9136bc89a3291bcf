"""The leadership reports: list, download (HTML, PDF) and build one now (admin)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import FileResponse
from pydantic import AwareDatetime, BaseModel, Field

from console.configview import ConfigView
from console.deps import Pool
from console.reports import queries as q
from console.reports.scheduler import Kind, build_report, ensure_schema, period_for
from console.settings import Settings
from pantau.auth import Principal, Role
from pantau.exceptions import ConfigError
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Reader = Annotated[Principal, Depends(require_roles(Role.planner, Role.admin, Role.operator))]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
MAX_LIST = 200


class ReportRow(BaseModel):
    """One kept report."""

    id: int
    kind: Kind
    period_from: datetime
    period_to: datetime
    created_at: datetime
    html_url: str
    pdf_url: str
    mailed_to: list[str]
    mail_error: str | None


class BuildRequest(BaseModel):
    """Build a report now: the last full period by default, or ``[from, to)``."""

    kind: Kind
    from_: AwareDatetime | None = Field(None, alias="from")
    to: AwareDatetime | None = None


class BuildAnswer(BaseModel):
    """The report's row; ``created`` is false when the period had one already."""

    created: bool
    report: ReportRow


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


def _file(pool: Pool, report_id: int, column: int, media_type: str) -> FileResponse:
    row = _get(pool, report_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report")
    path = FilePath(row[column])
    if not path.is_file():
        raise HTTPException(status.HTTP_410_GONE, "the report's file is no longer kept")
    return FileResponse(path, media_type=media_type, filename=path.name)


@router.get("/{report_id}.html")
def report_html(pool: Pool, _: Reader, report_id: Annotated[int, Path(ge=1)]) -> FileResponse:
    """The report as a self-contained HTML page."""
    return _file(pool, report_id, 5, "text/html; charset=utf-8")


@router.get("/{report_id}.pdf")
def report_pdf(pool: Pool, _: Reader, report_id: Annotated[int, Path(ge=1)]) -> FileResponse:
    """The report as a PDF."""
    return _file(pool, report_id, 6, "application/pdf")


@router.post("")
async def build_now(request: Request, pool: Pool, _: Admin, body: BuildRequest) -> BuildAnswer:
    """Builds (and mails) the report of a period now; the last full period by default."""
    view: ConfigView = request.app.state.config_view
    settings: Settings = request.app.state.settings
    try:
        current = view.current()
    except ConfigError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"configuration unreadable: {exc}") from exc
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
