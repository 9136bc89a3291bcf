"""``GET /api/v1/audit``: what people did in the console (logins, cases, handovers, zone edits),
newest first, for admins. Alert commands are in each alert's own audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from console import queries
from console.deps import Store
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1", tags=["audit"])
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]


class ConsoleAuditEntry(BaseModel):
    """One action of one person."""

    at: datetime
    user: str
    role: str
    action: str
    detail: dict[str, Any]


@router.get("/audit", response_model=list[ConsoleAuditEntry])
def audit_log(
    store: Store,
    _principal: Admin,
    user: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ConsoleAuditEntry]:
    rows = store.run(lambda conn: conn.execute(queries.AUDIT_LOG, {"user": user, "limit": limit}).fetchall(), "audit")
    return [ConsoleAuditEntry(at=r[0], user=r[1], role=r[2], action=r[3], detail=r[4]) for r in rows]
