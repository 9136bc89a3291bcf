"""``GET /api/v1/ui/config``: what the operator page needs to draw the city and the procedures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from alerting.config import SopStep
from console.configview import ConfigView
from pantau.auth import Principal
from pantau.exceptions import ConfigError
from pantau.users import PEOPLE_ROLES
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/ui", tags=["ui"])
Person = Annotated[Principal, Depends(require_roles(*PEOPLE_ROLES))]


class Place(BaseModel):
    id: str
    name: str
    district: str | None
    lat: float | None
    lon: float | None


class SensorPlace(Place):
    type: str


class UiConfig(BaseModel):
    """The city's cameras and sensors, procedures per alert type, and display settings."""

    timezone: str
    cameras: list[Place]
    sensors: list[SensorPlace]
    districts: list[str]
    sop: dict[str, list[SopStep]]
    close_reasons: list[str]
    manual_types: list[str]


@router.get("/config", response_model=UiConfig)
def ui_config(request: Request, _principal: Person) -> UiConfig:
    view: ConfigView = request.app.state.config_view
    try:
        config = view.current()
    except ConfigError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"configuration unreadable: {exc}") from exc
    cameras = [
        Place(
            id=c.id,
            name=c.name or c.id,
            district=c.location.district if c.location else None,
            lat=c.location.lat if c.location else None,
            lon=c.location.lon if c.location else None,
        )
        for c in config.cameras
    ]
    sensors = [
        SensorPlace(
            id=s.id,
            name=s.name or s.id,
            type=s.kind,
            district=s.location.district if s.location else None,
            lat=s.location.lat if s.location else None,
            lon=s.location.lon if s.location else None,
        )
        for s in config.alerting.sensors
    ]
    districts = sorted({p.district for p in [*cameras, *sensors] if p.district})
    return UiConfig(
        timezone=config.alerting.timezone,
        cameras=cameras,
        sensors=sensors,
        districts=districts,
        sop=config.alerting.alerting.sop,
        close_reasons=["handled", "false_alarm", "duplicate", "test"],
        manual_types=config.alerting.alerting.manual_types,
    )
