"""``GET /api/v1/cameras/health`` (each camera's feed state, frame rate, last frame and tamper state)
and ``GET /api/v1/sensors/latest`` (each sensor's latest value and a downsampled recent series)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from console import queries
from console.camera_status import CameraStatusWatch
from console.configview import ConfigView
from console.deps import Feed, Pool
from ingest.cameras.schemas import FeedState
from pantau.auth import Principal, Role
from pantau.redact import redact_credentials
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1", tags=["devices"])
Watcher = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.planner))]
SPARKLINE_POINTS = 60
STALLED_AFTER_S = 15.0  # as the detectors' video-loss watch


class CameraHealth(BaseModel):
    """One camera as the health page shows it."""

    camera: str
    name: str
    district: str | None
    state: Literal["online", "stalled", "reconnecting", "offline", "unknown"]
    fps: float | None
    last_frame_at: datetime | None
    reconnects: int
    error: str | None
    tamper: str | None
    open_alerts: int


class SensorLatest(BaseModel):
    """A sensor's newest value and its recent series, ``[[ts, value], ...]``, at most 60 points."""

    sensor: str
    type: str
    unit: str
    district: str | None
    value: float
    ts: datetime
    series: list[tuple[datetime, float]]


@router.get("/cameras/health", response_model=list[CameraHealth])
def cameras_health(request: Request, feed: Feed, _principal: Watcher) -> list[CameraHealth]:
    view: ConfigView = request.app.state.config_view
    watch: CameraStatusWatch = request.app.state.camera_status
    statuses = watch.snapshot()
    now = datetime.now(UTC)
    open_alerts = [a for a in feed.alerts.values() if a.is_open and a.source_kind == "camera"]
    answer = []
    for camera in view.current().cameras:
        status_ = statuses.get(camera.id)
        mine = [a for a in open_alerts if a.source == camera.id]
        tampers = [a for a in mine if a.type == "tamper" and a.condition_active]
        tamper = str(tampers[0].evidence.get("tamper_kind") or "tampered") if tampers else None
        state: Literal["online", "stalled", "reconnecting", "offline", "unknown"]
        if status_ is None:
            state = "unknown"
        elif status_.state is FeedState.connected:
            last = status_.last_frame_ts
            state = "online" if last and (now - last).total_seconds() < STALLED_AFTER_S else "stalled"
        elif status_.state is FeedState.reconnecting:
            state = "reconnecting"
        else:
            state = "offline"
        answer.append(
            CameraHealth(
                camera=camera.id,
                name=camera.name or camera.id,
                district=camera.location.district if camera.location else None,
                state=state,
                fps=status_.fps_measured if status_ else None,
                last_frame_at=status_.last_frame_ts if status_ else None,
                reconnects=status_.reconnects if status_ else 0,
                error=redact_credentials(status_.error) if status_ and status_.error else None,
                tamper=tamper,
                open_alerts=len(mine),
            )
        )
    return answer


@router.get("/sensors/latest", response_model=list[SensorLatest])
def sensors_latest(
    pool: Pool, _principal: Watcher, minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60
) -> list[SensorLatest]:
    params = {"minutes": minutes, "bucket_s": max(1.0, minutes * 60 / SPARKLINE_POINTS)}
    try:
        with pool.connection() as conn:
            latest = conn.execute(queries.SENSOR_LATEST, params).fetchall()
            points = conn.execute(queries.SENSOR_SERIES, params).fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"sensor history unavailable: {exc}") from exc
    series: dict[str, list[tuple[datetime, float]]] = {}
    for sensor_id, bucket, value in points:
        series.setdefault(sensor_id, []).append((bucket, float(value)))
    return [
        SensorLatest(
            sensor=sensor_id, type=kind, unit=unit, district=district, value=value, ts=ts,
            series=series.get(sensor_id, []),
        )
        for sensor_id, kind, unit, value, ts, district in latest
    ]  # fmt: skip
