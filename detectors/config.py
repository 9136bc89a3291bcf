"""The configuration sections the detectors stage reads: ``timezone``, ``sensors``, ``sensor_rules``.

Load with :func:`pantau.config.parse_section`::

    config = parse_section(DetectorsConfig, load_config_file(path), source=str(path))
"""

from __future__ import annotations

from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from detectors.exceptions import RuleConfigError
from detectors.sensor_rules.config import SensorRuleConfig
from ingest.config import SensorConfig, UnknownSensors


class DetectorsConfig(BaseModel):
    """Everything the sensor rule engine needs: the local time zone, the sensor registry and the rules.

    Rules may name sensors that are not in the registry (they are matched by id when they report),
    but a registered sensor named by a rule must be of the rule's kind: otherwise the rule could never
    fire for it, which is always a mistake.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = Field("Asia/Jakarta", description="IANA time zone for human-readable times in titles")
    sensors: list[SensorConfig] = Field(default_factory=list)
    unknown_sensors: UnknownSensors = Field(
        "auto",
        description=(
            "readings of ids not in `sensors`: evaluate, quarantine (archived, not evaluated) or refuse "
            "(dead-lettered); auto: quarantine when `sensors` lists any, else evaluate"
        ),
    )
    sensor_rules: list[SensorRuleConfig] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Asia/Jakarta)") from exc
        return value

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        registry: dict[str, SensorConfig] = {}
        for sensor in self.sensors:
            if sensor.id in registry:
                raise RuleConfigError(f"sensors: sensor id {sensor.id!r} is registered twice")
            registry[sensor.id] = sensor
        names: set[str] = set()
        for rule in self.sensor_rules:
            if rule.name in names:
                raise RuleConfigError(f"sensor_rules: rule name {rule.name!r} is used twice; names must be unique")
            names.add(rule.name)
            for sensor_id in rule.sensor_ids or ():
                registered = registry.get(sensor_id)
                if registered is not None and registered.kind != rule.kind:
                    raise RuleConfigError(
                        f"rule {rule.name!r}: sensor {sensor_id!r} is registered as kind {registered.kind!r}, "
                        f"not {rule.kind!r}, so the rule could never apply to it"
                    )
        return self

    def tzinfo(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)
