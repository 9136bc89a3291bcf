"""Evidence: ``GET /api/v1/incidents/{id}/snapshot`` (JPEG) and ``/clip`` (Motion-JPEG AVI), and
``GET /api/v1/evidence-access``, the record of who looked at which evidence and when.

Evidence shows people, so it is personal data (Indonesia's UU 27/2022): operators, admins and
responders may view it, planners may not, and every view or download is recorded before the bytes
go out; admins read the record.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from console import queries
from console.deps import Pool
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1", tags=["evidence"])
Viewer = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.responder))]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
IncidentId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


class EvidenceAccess(BaseModel):
    """One view or download of evidence."""

    at: datetime
    user: str
    role: str
    incident_id: str
    kind: str
    source: str | None


def _evidence(pool: Pool, incident_id: str) -> tuple[str | None, str | None, str]:
    try:
        with pool.connection() as conn:
            row = conn.execute(queries.EVIDENCE_OF_INCIDENT, {"id": incident_id}).fetchone()
    except psycopg.errors.UndefinedTable:
        row = None
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"evidence unavailable: {exc}") from exc
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id!r}")
    return row[0], row[1], row[2]


def _record(request: Request, pool: Pool, principal: Principal, incident_id: str, kind: str, source: str) -> None:
    """Write the access record first: evidence that cannot be recorded is not shown."""
    state = request.app.state
    create = not getattr(state, "evidence_log_ready", False)  # the table, once per console process
    try:
        with pool.connection() as conn:
            if create:
                conn.execute(queries.EVIDENCE_ACCESS_SCHEMA)
                conn.execute(queries.EVIDENCE_ACCESS_INDEX)
            conn.execute(
                queries.RECORD_EVIDENCE_ACCESS,
                {"user": principal.user, "role": principal.role.value, "incident": incident_id, "kind": kind,
                 "source": source},
            )  # fmt: skip
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"cannot record the access: {exc}") from exc
    state.evidence_log_ready = True  # only once committed: a rolled-back creation is tried again


@router.get(
    "/incidents/{incident_id}/snapshot", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
)
def snapshot(incident_id: IncidentId, pool: Pool, principal: Viewer, request: Request) -> Response:
    """The incident's snapshot, with the detected box drawn."""
    encoded, _clip, source = _evidence(pool, incident_id)
    if not encoded:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} has no snapshot")
    try:
        jpeg = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "the stored snapshot is corrupt") from exc
    _record(request, pool, principal, incident_id, "snapshot", source)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.get("/incidents/{incident_id}/clip", responses={200: {"content": {"video/x-msvideo": {}}}})
def clip(incident_id: IncidentId, pool: Pool, principal: Viewer, request: Request) -> FileResponse:
    """The incident's evidence clip (seconds before to seconds after), once it has been written."""
    _snapshot, relative, source = _evidence(pool, incident_id)
    if not relative:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} has no clip")
    root = Path(request.app.state.settings.evidence_dir).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):  # a stored path must never lead outside the evidence folder
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} has no clip")
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the clip of incident {incident_id} is not written yet")
    _record(request, pool, principal, incident_id, "clip", source)
    return FileResponse(path, media_type="video/x-msvideo", filename=f"{incident_id}.avi",
                        headers={"Cache-Control": "private, no-store"})  # fmt: skip


@router.get("/evidence-access", response_model=list[EvidenceAccess])
def evidence_access(
    pool: Pool,
    _principal: Admin,
    user: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[EvidenceAccess]:
    """Who viewed or downloaded which evidence, newest first (admins only)."""
    params: dict[str, Any] = {"user": user, "limit": limit}
    try:
        with pool.connection() as conn:
            rows = conn.execute(queries.EVIDENCE_ACCESS_LOG, params).fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"access log unavailable: {exc}") from exc
    return [EvidenceAccess(at=r[0], user=r[1], role=r[2], incident_id=r[3], kind=r[4], source=r[5]) for r in rows]
