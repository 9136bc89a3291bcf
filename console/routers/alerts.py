"""``GET /api/v1/alerts`` (filtered, paginated history) and ``GET /api/v1/alerts/{id}`` (everything
about one alert: its incidents, audit trail with notes, and delivery log).

Read from TimescaleDB, newest first, with a keyset cursor (stable while alerts keep changing).
Operators, admins and planners see every alert; a responder sees only the alerts assigned or pushed
to them or to their groups (``console.responders``), or that they acknowledged. ``GET
/api/v1/alerts/open`` is the live board from the alerts topic, most urgent first.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from psycopg_pool import PoolTimeout
from pydantic import AwareDatetime, BaseModel, Field

from alerting.api.models import AuditEntry, DeliverySummary
from alerting.schemas import Alert
from console import queries
from console.deps import Feed, Pool
from console.feed import ClientFilter
from console.responders import responder_scope
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1", tags=["alerts"])
Reader = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.planner, Role.responder))]
StatusFilter = Literal["open", "new", "acknowledged", "assigned", "resolved", "closed"]


class AlertPage(BaseModel):
    """One page of alerts, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    alerts: list[Alert]
    next_cursor: str | None


class IncidentSummary(BaseModel):
    id: str
    ts: datetime
    type: str
    source: str
    phase: str
    severity: str
    confidence: float | None = Field(description="the object detector's score; null: motion only, nobody computed one")
    object_class: str | None = None
    zone: str | None
    title: str
    evidence: dict[str, Any]
    snapshot_url: str | None
    clip_url: str | None = Field(None, description="the evidence clip (MJPEG AVI), once the camera wrote one")


class AlertDetail(BaseModel):
    """An alert with everything an operator needs to act on it."""

    alert: Alert
    incidents: list[IncidentSummary]
    audit: list[AuditEntry]
    notes: list[AuditEntry]
    deliveries: list[DeliverySummary]
    related: list[Alert]


def _encode_cursor(alert: Alert) -> str:
    return base64.urlsafe_b64encode(f"{alert.last_seen.isoformat()}|{alert.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        ts, alert_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        moment = datetime.fromisoformat(ts)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "cursor is not one this API gave out") from exc
    if moment.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "cursor is not one this API gave out")
    return moment, alert_id


def _fetch(pool: Pool, statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    try:
        with pool.connection() as conn:
            return conn.execute(statement, params).fetchall()
    except psycopg.errors.UndefinedTable:
        return []  # alerting has not created its tables yet: no history
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"history unavailable: {exc}") from exc


@router.get("/alerts/open", response_model=list[Alert])
def list_open_alerts(feed: Feed, principal: Reader, request: Request) -> list[Alert]:
    """The live board (from the alerts topic), most urgent first (a responder's: theirs and their groups')."""
    responder, groups = responder_scope(request, principal)
    return feed.open_alerts(ClientFilter(responder=responder, groups=groups) if responder is not None else None)


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    pool: Pool,
    principal: Reader,
    request: Request,
    status_: Annotated[list[StatusFilter], Query(alias="status")] = [],  # noqa: B006 - FastAPI query lists
    priority: Annotated[list[Annotated[int, Field(ge=1, le=4)]], Query()] = [],  # noqa: B006
    type_: Annotated[list[Annotated[str, Field(max_length=64)]], Query(alias="type")] = [],  # noqa: B006
    district: Annotated[list[Annotated[str, Field(max_length=128)]], Query()] = [],  # noqa: B006
    since: Annotated[AwareDatetime | None, Query(description="last seen at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="first seen before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AlertPage:
    statuses = sorted({s for f in status_ for s in (queries.OPEN_STATUSES if f == "open" else (f,))})
    responder, groups = responder_scope(request, principal)
    filters = queries.AlertFilters(
        statuses=statuses,
        priorities=priority,
        types=type_,
        districts=district,
        since=since,
        until=until,
        routed_to=responder,
        routed_groups=sorted(groups),
        after=_decode_cursor(cursor) if cursor else None,
        limit=limit + 1,  # one more tells whether there is a next page
    )
    rows = _fetch(pool, *queries.list_alerts(filters))
    alerts = [Alert.model_validate(row[0]) for row in rows]
    more = len(alerts) > limit
    alerts = alerts[:limit]
    return AlertPage(alerts=alerts, next_cursor=_encode_cursor(alerts[-1]) if more and alerts else None)


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
def alert_detail(
    alert_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")],
    pool: Pool,
    principal: Reader,
    request: Request,
) -> AlertDetail:
    params: dict[str, Any] = {"id": alert_id}
    statement = queries.ALERT
    responder, groups = responder_scope(request, principal)
    if responder is not None:
        statement, params["user"], params["groups"] = queries.ALERT_ROUTED, responder, sorted(groups)
    rows = _fetch(pool, statement, params)
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    alert = Alert.model_validate(rows[0][0])
    incidents = [
        IncidentSummary(
            id=r[0],
            ts=r[1],
            type=r[2],
            source=r[3],
            phase=r[4],
            severity=r[5],
            confidence=r[6],
            object_class=r[11],
            zone=r[7],
            title=r[8],
            evidence=r[9],
            snapshot_url=f"/api/v1/incidents/{r[0]}/snapshot" if r[10] else None,
            clip_url=f"/api/v1/incidents/{r[0]}/clip" if isinstance(r[9], dict) and r[9].get("clip") else None,
        )
        for r in _fetch(pool, queries.INCIDENTS_OF_ALERT, {"id": alert_id})
    ]
    audit = [
        AuditEntry(version=r[0], change=r[1], actor=r[2], at=r[3], detail=r[4])
        for r in _fetch(pool, queries.AUDIT, {"id": alert_id})
    ]
    deliveries = [
        DeliverySummary(
            id=r[0],
            kind=r[1],
            channel=r[2],
            recipient=r[3],
            status=r[4],
            attempts=r[5],
            last_error=r[6],
            created_at=r[7],
            sent_at=r[8],
        )
        for r in _fetch(pool, queries.DELIVERIES, {"id": alert_id})
    ]
    related = [Alert.model_validate(r[0]) for r in _fetch(pool, queries.RELATED, {"ids": alert.related})]
    return AlertDetail(
        alert=alert,
        incidents=incidents,
        audit=audit,
        notes=[entry for entry in audit if entry.change == "noted"],
        deliveries=deliveries,
        related=related,
    )
