"""``POST/GET/DELETE /api/v1/silences``: silences and maintenance windows.

A silence holds back pushes for the alerts it matches (camera, sensor, zone, type, district) from
its start to its end; the alerts are still stored and shown, marked suppressed. It expires by
itself; ``DELETE`` ends it early (kept, with ``ended_at``, for the record).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from alerting.api.deps import Engine
from alerting.lifecycle import CommandError
from alerting.silences import Silence, SilenceCreate, SilenceError
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])
Operator = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin))]
Reader = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.planner))]


@router.post("", response_model=Silence, status_code=status.HTTP_201_CREATED)
def create_silence(request: SilenceCreate, engine: Engine, principal: Operator) -> Silence:
    """Create a silence: matchers, ``starts_at`` (default now), ``ends_at`` or ``duration_s``, ``reason``."""
    try:
        return engine.create_silence(request, principal.user)
    except SilenceError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc


@router.get("", response_model=list[Silence])
def list_silences(
    engine: Engine,
    _principal: Reader,
    include_ended_s: Annotated[float, Query(ge=0, le=90 * 86400, description="also those over this recently")] = 0,
) -> list[Silence]:
    """Silences not over yet (newest first), and optionally those that ended recently."""
    return engine.silences(include_ended_s)


@router.delete("/{silence_id}", response_model=Silence)
def end_silence(
    silence_id: Annotated[str, Path(min_length=1, max_length=64)], engine: Engine, principal: Operator
) -> Silence:
    """End a silence now."""
    try:
        return engine.end_silence(silence_id, principal.user)
    except CommandError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc
