"""The shift handover log: the outgoing shift writes what the next one must know (open alerts,
what is in progress), and the incoming operator reads and signs it. ``GET/POST
/api/v1/handovers``, ``POST /api/v1/handovers/{id}/sign``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from console import queries
from console.deps import Feed, Store
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/handovers", tags=["handovers"])
Reader = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.planner))]
Writer = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin))]
HandoverId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


class Handover(BaseModel):
    """One shift's handover note, and who of the next shift read and signed it."""

    id: str
    author: str
    text: str
    open_alerts: int
    created_at: datetime
    signed_by: str | None
    signed_at: datetime | None


class HandoverCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=3, max_length=20_000)


def _handover(row: tuple[object, ...]) -> Handover:
    fields = ("id", "author", "text", "open_alerts", "created_at", "signed_by", "signed_at")
    return Handover.model_validate(dict(zip(fields, row, strict=True)))


@router.get("", response_model=list[Handover])
def list_handovers(store: Store, _principal: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[Handover]:
    """Handovers, newest first."""
    rows = store.run(lambda conn: conn.execute(queries.HANDOVERS, {"limit": limit}).fetchall(), "handovers")
    return [_handover(r) for r in rows]


@router.post("", response_model=Handover, status_code=status.HTTP_201_CREATED)
def write_handover(body: HandoverCreate, store: Store, feed: Feed, principal: Writer) -> Handover:
    """Write the handover of the shift that is ending; it records how many alerts were open."""
    open_alerts = sum(1 for alert in list(feed.alerts.values()) if alert.is_open)
    params = {"id": str(uuid.uuid4()), "user": principal.user, "text": body.text, "open": open_alerts}
    row = store.run(lambda conn: conn.execute(queries.INSERT_HANDOVER, params).fetchone(), "handovers")
    assert row is not None
    handover = _handover(row)
    store.audit_principal(principal, "handover.written", {"handover": handover.id, "open_alerts": open_alerts})
    return handover


@router.post("/{handover_id}/sign", response_model=Handover)
def sign_handover(handover_id: HandoverId, store: Store, principal: Writer) -> Handover:
    """The incoming operator has read the handover."""

    def work(conn: psycopg.Connection) -> Handover:
        row = conn.execute(queries.SIGN_HANDOVER, {"id": handover_id, "user": principal.user}).fetchone()
        if row is not None:
            return _handover(row)
        current = conn.execute(queries.HANDOVER, {"id": handover_id}).fetchone()
        if current is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no handover {handover_id!r}")
        existing = _handover(current)
        if existing.signed_by is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"already signed by {existing.signed_by}")
        raise HTTPException(status.HTTP_409_CONFLICT, "the next shift signs a handover, not its author")

    handover = store.run(work, "handovers")
    store.audit_principal(principal, "handover.signed", {"handover": handover_id})
    return handover
