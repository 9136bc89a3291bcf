"""The sensor registry section of the configuration file (``sensors:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest.schemas import KIND_PATTERN, SENSOR_ID_PATTERN, Location

# What the stages do with a reading from a sensor id the registry (`sensors:`) does not list:
# evaluate it as any other; quarantine it (archived, never evaluated: no state, no alerts, one dead
# letter per id and hour saying so); refuse it (dead-lettered, not stored). "auto": quarantine when
# there is a registry, evaluate when there is none (a set-up without one cannot tell).
UnknownSensors = Literal["auto", "evaluate", "quarantine", "refuse"]


def unknown_sensor_policy(setting: UnknownSensors, sensors: list[SensorConfig]) -> UnknownSensors:
    """The policy in force: ``auto`` resolved against the registry."""
    if setting != "auto":
        return setting
    return "quarantine" if sensors else "evaluate"


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
