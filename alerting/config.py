"""The ``alerting:`` section of the configuration file: identity, priority, correlation, flapping.

Everything here is data an operator edits, not code::

    alerting:
      identity: [source, type, zone]      # what makes two incidents the same alert
      reopen_window_s: 900                # a resolved alert firing again within this reopens
      flapping: {max_transitions: 4, window_s: 600}
      confidence_floor: 0.5               # below: one priority lower
      corroboration_window_s: 300         # another source in the same district within: one higher
      types:
        smoke: {severity: critical, name: Smoke}
      night: {hours: "22:00-05:00", types: [intrusion, loitering]}   # one higher at night
      inhibit_rules:                      # a power cut explains the dark cameras in its district
        - {name: power, source_match: {types: [power_loss]}, target_match: {types: [video_loss]}, equal: [district]}
      channels:                           # how responders are reached (see docs/alerting.md)
        - {type: webhook, name: rescue-hook, url: "https://rescue.example/hook", secret: "..."}
      routing:                            # who is notified, escalation, quiet hours
        groups: [{id: rescue-klojen, name: Rescue team Klojen}]
        responders: [{id: budi, name: Budi, groups: [rescue-klojen], channels: [rescue-hook]}]
        routes: [{match: {}, tiers: [{groups: [rescue-klojen], ack_deadline_s: 120}]}]
      sop:                                # checklists per alert type; required steps gate resolve
        water_level_high:
          - {id: call-river-post, text: {en: Call the river post, id: Hubungi pos pantau sungai}}
          - {id: notify-district, text: {en: Notify the district head, id: Kabari camat}, required: false}
      manual_types: [citizen_report, fire, flood, accident, crime, medical, other]
      correlations:
        - name: flood-risk
          when: [{types: [water_level]}, {types: [crowd]}]
          same: district
          within_s: 300
          then: {type: flood_risk, priority: 1, title: "Flood risk in {district}"}
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.channels.config import ChannelConfig
from alerting.routing import RoutingConfig
from alerting.silences import InhibitRule
from detectors.schemas import Severity
from detectors.zones.config import Schedule
from ingest.config import SensorConfig

IdentityField = Literal["source", "type", "zone", "district"]


def _default_identity() -> list[IdentityField]:
    return ["source", "type", "zone"]


class TypePolicy(BaseModel):
    """How alerting treats one incident type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    severity: Severity | None = Field(None, description="base severity: the more severe of this and the incident's")
    name: str | None = Field(None, description="human name, for explanations and CAP")


class SopStep(BaseModel):
    """One step of a standard operating procedure: ``{id: call-river-post, text: {en: ..., id: ...}}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    text: dict[str, str] = Field(description="the step in each language (en, id)")
    required: bool = Field(True, description="resolving the alert needs this step done (an admin may override)")

    @field_validator("text")
    @classmethod
    def _text(cls, value: dict[str, str]) -> dict[str, str]:
        if "en" not in value and "id" not in value:
            raise ValueError("a step needs its text in en or id")
        return value


DEFAULT_MANUAL_TYPES = ["citizen_report", "fire", "flood", "accident", "crime", "medical", "other"]


class FlappingConfig(BaseModel):
    """A condition raised again ``max_transitions`` times within ``window_s`` is flapping: its alert
    stays open and counts, but is not pushed again until it has been quiet for ``window_s``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_transitions: int = Field(4, ge=2)
    window_s: float = Field(600.0, gt=0)


class NightPolicy(BaseModel):
    """Types that are more urgent at night (an intrusion at 02:00 is not one at 14:00)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hours: Schedule
    types: list[str] = Field(min_length=1)

    @field_validator("hours", mode="before")
    @classmethod
    def _hours(cls, value: object) -> Schedule:
        return value if isinstance(value, Schedule) else Schedule.parse(str(value))

    def applies(self, type_: str, local: time) -> bool:
        return type_ in self.types and self.hours.armed_at(local)


class AlertMatch(BaseModel):
    """Which alerts a correlation rule's clause stands for; every given key must match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    types: list[str] = Field(default_factory=list)
    source_kinds: list[Literal["sensor", "camera", "manual"]] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    max_priority: int = Field(4, ge=1, le=4, description="only alerts of this priority or more urgent")

    @model_validator(mode="after")
    def _not_empty(self) -> AlertMatch:
        if not (self.types or self.source_kinds or self.sources or self.zones):
            raise ValueError("a correlation clause needs at least one of types, source_kinds, sources, zones")
        return self


class CorrelationAction(BaseModel):
    """The alert a correlation raises (or updates, while it is open)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    priority: int = Field(1, ge=1, le=4)
    title: str = Field("{type} in {district}", description="may use {type}, {district}, {zone}, {rule}")


class CorrelationRule(BaseModel):
    """Open alerts matching every clause, from different sources, sharing ``same`` and last seen within
    ``within_s`` of each other, raise the ``then`` alert (one per shared value while it is open)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    when: list[AlertMatch] = Field(min_length=2)
    same: Literal["district", "zone"] = "district"
    within_s: float = Field(300.0, gt=0)
    then: CorrelationAction


class AlertingConfig(BaseModel):
    """The alerting stage's view of the configuration file (the ``alerting:`` section)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: list[IdentityField] = Field(
        default_factory=_default_identity, min_length=1, description="fields that make an alert"
    )
    reopen_window_s: float = Field(900.0, ge=0, description="a resolved alert firing again within this reopens")
    flapping: FlappingConfig = Field(default_factory=FlappingConfig)
    confidence_floor: float = Field(0.5, ge=0, le=1, description="below this confidence: one priority lower")
    corroboration_window_s: float = Field(
        300.0, ge=0, description="another source alerting in the same district within this: one priority higher"
    )
    types: dict[str, TypePolicy] = Field(default_factory=dict)
    night: NightPolicy | None = None
    correlations: list[CorrelationRule] = Field(default_factory=list)
    inhibit_rules: list[InhibitRule] = Field(
        default_factory=list, description="open alerts of one kind suppress the alerts they explain"
    )
    channels: list[ChannelConfig] = Field(default_factory=list, description="how responders are reached")
    routing: RoutingConfig = Field(default_factory=RoutingConfig, description="who is notified, and escalation")
    sop: dict[str, list[SopStep]] = Field(
        default_factory=dict, description="alert type -> the checklist operators follow (standard operating procedure)"
    )
    manual_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MANUAL_TYPES), min_length=1, description="types of alerts raised by hand"
    )

    @field_validator("identity")
    @classmethod
    def _identity(cls, value: list[IdentityField]) -> list[IdentityField]:
        if "type" not in value:
            raise ValueError("identity must include type (different kinds of trouble are different alerts)")
        if len(set(value)) != len(value):
            raise ValueError("identity lists a field twice")
        return value

    @field_validator("sop")
    @classmethod
    def _sop(cls, value: dict[str, list[SopStep]]) -> dict[str, list[SopStep]]:
        for alert_type, steps in value.items():
            ids = [step.id for step in steps]
            twice = sorted({i for i in ids if ids.count(i) > 1})
            if twice:
                raise ValueError(f"sop of {alert_type}: step ids used twice: {', '.join(twice)}")
        return value

    @field_validator("manual_types")
    @classmethod
    def _manual_types(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", t)]
        if bad:
            raise ValueError(f"manual_types must be lower_snake_case type names, not {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _unique_rules(self) -> AlertingConfig:
        names = [rule.name for rule in self.correlations]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate correlation rule names: {', '.join(duplicates)}")
        channels = [channel.name for channel in self.channels]
        duplicates = sorted({n for n in channels if channels.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate channel names: {', '.join(duplicates)}")
        for responder in self.routing.responders:
            unknown = sorted(set(responder.channels) - set(channels))
            if unknown:
                raise ValueError(
                    f"responder {responder.id} uses unknown channels {', '.join(unknown)}; "
                    f"configured: {', '.join(channels) or 'none'}"
                )
        return self

    def type_name(self, type_: str) -> str:
        policy = self.types.get(type_)
        return policy.name if policy is not None and policy.name else type_.replace("_", " ")


class AlertingFile(BaseModel):
    """The sections of the configuration file the alerting deployable reads."""

    model_config = ConfigDict(frozen=True)

    timezone: str = "Asia/Jakarta"
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    sensors: list[SensorConfig] = Field(default_factory=list, description="for each sensor's criticality")

    def sensor_criticality(self) -> dict[str, str]:
        return {sensor.id: sensor.criticality for sensor in self.sensors if sensor.criticality != "medium"}

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value
