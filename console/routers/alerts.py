"""``GET /api/v1/alerts``: the open alerts, most urgent first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from alerting.schemas import Alert
from console.deps import Feed
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts", response_model=list[Alert])
def list_open_alerts(
    feed: Feed, _principal: Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.responder))]
) -> list[Alert]:
    return feed.open_alerts()
