"""The sensor registry section of the configuration file (``sensors:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest.schemas import KIND_PATTERN, SENSOR_ID_PATTERN, Location


class SensorConfig(BaseModel):
    """One registered sensor: a reading that carries no location takes this one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=SENSOR_ID_PATTERN)
    kind: str = Field(pattern=KIND_PATTERN)
    location: Location | None = None
    owner: str | None = None
    interval_s: float = Field(60.0, gt=0, description="Expected seconds between readings")
    name: str | None = None
    criticality: Literal["critical", "high", "medium", "low"] = Field(
        "medium", description="how much its place matters (a school, a hospital): alerting weighs its alerts by it"
    )
