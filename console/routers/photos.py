"""``GET /api/v1/alerts/{alert_id}/photos/{photo_id}``: a photo from the scene that came with a note.

A responder's note may carry a JPEG (alerting stores it in ``alert_photos`` and names its id in the
note's audit detail, ``photo_id``). Like every evidence it may show people (UU 27/2022): operators,
admins and responders may view it (a responder only on an alert that is theirs), planners may not,
and each view is recorded in ``evidence_access`` first (kind ``scene_photo``, the photo id as the
evidence id, the alert id as its source).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from psycopg_pool import PoolTimeout

from console import queries
from console.deps import Pool
from console.responders import responder_scope
from console.routers.evidence import _record, blurred, face_blur_for
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1", tags=["evidence"])
Viewer = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.responder))]
AlertId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
SCENE_PHOTO_KIND = "scene_photo"


def _one(pool: Pool, statement: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    try:
        with pool.connection() as conn:
            return conn.execute(statement, params).fetchone()
    except psycopg.errors.UndefinedTable:
        return None  # alerting has not created its tables yet: no photos
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"photos unavailable: {exc}") from exc


@router.get(
    "/alerts/{alert_id}/photos/{photo_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def scene_photo(alert_id: AlertId, photo_id: uuid.UUID, pool: Pool, principal: Viewer, request: Request) -> Response:
    """The JPEG a note of this alert carried; 404 for another alert's photo, or not the responder's alert."""
    responder, groups = responder_scope(request, principal)
    if responder is not None:
        params = {"id": alert_id, "user": responder, "groups": sorted(groups)}
        if _one(pool, queries.ALERT_ROUTED, params) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    row = _one(pool, queries.SCENE_PHOTO, {"photo": photo_id, "alert": alert_id})
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} has no photo {photo_id}")
    jpeg = blurred(face_blur_for(request, exported=False), bytes(row[0]))  # PANTAU_EVIDENCE_BLUR_FACES=always
    _record(request, pool, principal, str(photo_id), SCENE_PHOTO_KIND, alert_id)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
