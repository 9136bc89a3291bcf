"""Cases: several alerts that are one story (a fire seen by two cameras and reported by a caller)
linked under one title. ``GET/POST /api/v1/cases``, ``GET /api/v1/cases/{id}``,
``POST /api/v1/cases/{id}/alerts``. Every link is recorded with who made it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from console import queries
from console.deps import Store
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
Reader = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.planner))]
Editor = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin))]
CaseId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
AlertIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]],
    Field(min_length=1, max_length=200),
]


class Case(BaseModel):
    """Alerts linked into one case."""

    id: str
    title: str
    created_by: str
    created_at: datetime
    alert_ids: list[str]


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=200)
    alert_ids: AlertIds


class CaseLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_ids: AlertIds


def _cases(
    conn: psycopg.Connection, case_id: str | None = None, alert: str | None = None, limit: int = 200
) -> list[Case]:
    rows = conn.execute(queries.CASES, {"id": case_id, "alert": alert, "limit": limit}).fetchall()
    return [Case(id=r[0], title=r[1], created_by=r[2], created_at=r[3], alert_ids=list(r[4])) for r in rows]


def _link(conn: psycopg.Connection, case_id: str, alert_ids: list[str], user: str) -> None:
    known = {row[0] for row in conn.execute(queries.EXISTING_ALERTS, {"ids": alert_ids})}
    unknown = sorted(set(alert_ids) - known)
    if unknown:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"no such alerts: {', '.join(unknown)}")
    for alert_id in dict.fromkeys(alert_ids):
        conn.execute(queries.LINK_CASE_ALERT, {"case": case_id, "alert": alert_id, "user": user})


@router.get("", response_model=list[Case])
def list_cases(
    store: Store,
    _principal: Reader,
    alert: Annotated[str | None, Query(max_length=64, description="only cases holding this alert")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Case]:
    """Cases, newest first."""
    return store.run(lambda conn: _cases(conn, alert=alert, limit=limit), "cases")


@router.post("", response_model=Case, status_code=status.HTTP_201_CREATED)
def create_case(body: CaseCreate, store: Store, principal: Editor) -> Case:
    """Link alerts into a new case."""
    case_id = str(uuid.uuid4())

    def work(conn: psycopg.Connection) -> Case:
        with conn.transaction():
            conn.execute(queries.INSERT_CASE, {"id": case_id, "title": body.title, "user": principal.user})
            _link(conn, case_id, body.alert_ids, principal.user)
        return _cases(conn, case_id)[0]

    case = store.run(work, "cases")
    store.audit_principal(principal, "case.created", {"case": case_id, "title": body.title, "alerts": body.alert_ids})
    return case


@router.get("/{case_id}", response_model=Case)
def get_case(case_id: CaseId, store: Store, _principal: Reader) -> Case:
    found = store.run(lambda conn: _cases(conn, case_id), "cases")
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id!r}")
    return found[0]


@router.post("/{case_id}/alerts", response_model=Case)
def link_alerts(case_id: CaseId, body: CaseLink, store: Store, principal: Editor) -> Case:
    """Add alerts to a case (alerts already in it stay once)."""

    def work(conn: psycopg.Connection) -> Case:
        with conn.transaction():
            if not _cases(conn, case_id):
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id!r}")
            _link(conn, case_id, body.alert_ids, principal.user)
        return _cases(conn, case_id)[0]

    case = store.run(work, "cases")
    detail: dict[str, Any] = {"case": case_id, "alerts": body.alert_ids}
    store.audit_principal(principal, "case.linked", detail)
    return case
