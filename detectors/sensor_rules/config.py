"""Configuration models of the sensor rules (the ``sensor_rules:`` section of the config file).

Each entry is one rule; its ``type`` picks the model (``threshold``, ``rate``, ``stuck``, ``silent``).
``type`` may be left out when ``above`` or ``below`` is given: that is a threshold rule, the most
common kind, and the shortest to write::

    sensor_rules:
      - {name: river-flood, kind: water_level, above: 2.5, severity: critical}
      - {name: river-rising, type: rate, kind: water_level, rise_per_min: 0.3, window_s: 600}

Keys of every rule: ``name`` (required, unique), ``kind`` (required), ``sensor_ids`` (default: every
sensor of the kind), ``severity`` (critical|high|medium|low), ``incident_type`` (alias ``type_name``;
default derived from the kind and rule) and ``title`` (a ``str.format`` template; its placeholders
are the keys of the model's ``title_samples``, checked at load time). Per type:

- ``threshold``: ``above`` | ``below`` (exactly one), ``for_s`` (0), ``clear_below`` / ``clear_above``
- ``rate``: ``rise_per_min`` | ``fall_per_min`` (exactly one), ``window_s`` (600), ``min_span_s``
  (window_s / 2), ``clear_per_min`` (the trigger rate)
- ``stuck``: ``window_s`` (3600), ``tolerance`` (0.0), ``min_readings`` (5)
- ``silent``: ``after_s`` (3 x the sensor's registered ``interval_s``, or 300)

All models are frozen and reject unknown keys, so a typo such as ``abov`` is an error naming the key.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from detectors.exceptions import RuleConfigError, UnknownRuleError
from detectors.schemas import Severity
from ingest.schemas import KIND_PATTERN, SENSOR_ID_PATTERN

INCIDENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_INCIDENT_TYPE_MAX_LEN = 64

SensorId = Annotated[str, Field(pattern=SENSOR_ID_PATTERN)]

# Placeholders every title template may use, with sample values of the right type: a template is
# rendered once against the samples at load time so a bad placeholder or format spec fails there,
# not at 3 a.m. when the rule first fires.
_COMMON_TITLE_SAMPLES: dict[str, Any] = {
    "rule": "rule",
    "sensor_id": "sensor-01",
    "sensor_name": "Sensor 01",
    "kind": "water_level",
    "kind_label": "Water level",
    "district": "Klojen",
    "where": "sensor-01 (Klojen)",
    "severity": "high",
}


class RuleConfigBase(BaseModel):
    """Keys every sensor rule accepts, whatever its type."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    title_samples: ClassVar[dict[str, Any]] = _COMMON_TITLE_SAMPLES

    name: str = Field(min_length=1, max_length=128, description="Unique rule name, the incident's ``rule``")
    kind: str = Field(pattern=KIND_PATTERN, description="Sensor kind the rule watches")
    sensor_ids: tuple[SensorId, ...] | None = Field(
        None, description="Only these sensors; default every sensor of the kind"
    )
    severity: Severity = Severity.high
    incident_type: str | None = Field(
        None,
        pattern=INCIDENT_TYPE_PATTERN,
        validation_alias=AliasChoices("incident_type", "type_name"),
        description="Incident ``type``; default derived from the kind and the rule",
    )
    title: str | None = Field(
        None, min_length=1, max_length=500, description="str.format template of the incident title"
    )

    def default_incident_type(self) -> str:
        raise NotImplementedError

    @property
    def effective_incident_type(self) -> str:
        """The incident ``type`` this rule emits."""
        return self.incident_type or self.default_incident_type()

    @model_validator(mode="after")
    def _check_common(self) -> Self:
        if self.sensor_ids is not None and not self.sensor_ids:
            raise RuleConfigError(
                f"rule {self.name!r}: sensor_ids is empty; leave it out to watch every {self.kind} sensor"
            )
        if self.incident_type is None and len(self.default_incident_type()) > _INCIDENT_TYPE_MAX_LEN:
            raise RuleConfigError(
                f"rule {self.name!r}: the derived incident type {self.default_incident_type()!r} is longer "
                f"than {_INCIDENT_TYPE_MAX_LEN} characters; set incident_type"
            )
        if self.title is not None:
            _check_title(self.name, self.title, self.title_samples)
        return self


def _check_title(rule: str, template: str, samples: Mapping[str, Any]) -> None:
    try:
        for _literal, field_name, _spec, _conversion in string.Formatter().parse(template):
            if field_name is None:
                continue
            base = field_name.split(".", 1)[0].split("[", 1)[0]
            if base not in samples:
                raise RuleConfigError(
                    f"rule {rule!r}: title uses unknown placeholder {{{base}}}; available: {', '.join(sorted(samples))}"
                )
        template.format_map(samples)
    except RuleConfigError:
        raise
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise RuleConfigError(f"rule {rule!r}: title is not a valid template: {exc}") from exc


class ThresholdRuleConfig(RuleConfigBase):
    """Fires when the value is above (or below) a level, optionally held for ``for_s`` seconds.

    Hysteresis: once raised, an ``above`` rule clears only when the value drops below ``clear_below``
    (default: ``above``); a ``below`` rule when it rises above ``clear_above`` (default: ``below``).
    """

    title_samples: ClassVar[dict[str, Any]] = {
        **_COMMON_TITLE_SAMPLES,
        "value": 2.71,
        "unit": "m",
        "threshold": 2.5,
        "direction": "above",
        "for_s": 0.0,
    }

    type: Literal["threshold"] = "threshold"
    above: float | None = None
    below: float | None = None
    for_s: float = Field(0.0, ge=0, description="Seconds the condition must hold (reading time)")
    clear_below: float | None = None
    clear_above: float | None = None

    @model_validator(mode="after")
    def _check_levels(self) -> Self:
        if (self.above is None) == (self.below is None):
            raise RuleConfigError(f"rule {self.name!r}: give exactly one of 'above' or 'below'")
        if self.above is not None:
            if self.clear_above is not None:
                raise RuleConfigError(
                    f"rule {self.name!r}: clear_above is for 'below' rules; an 'above' rule takes clear_below"
                )
            if self.clear_below is not None and self.clear_below > self.above:
                raise RuleConfigError(
                    f"rule {self.name!r}: clear_below ({self.clear_below}) must not exceed above ({self.above})"
                )
        else:
            if self.clear_below is not None:
                raise RuleConfigError(
                    f"rule {self.name!r}: clear_below is for 'above' rules; a 'below' rule takes clear_above"
                )
            if self.clear_above is not None and self.below is not None and self.clear_above < self.below:
                raise RuleConfigError(
                    f"rule {self.name!r}: clear_above ({self.clear_above}) must not be under below ({self.below})"
                )
        return self

    @property
    def is_above(self) -> bool:
        return self.above is not None

    @property
    def level(self) -> float:
        """The trigger level."""
        if self.above is not None:
            return self.above
        assert self.below is not None  # guaranteed by _check_levels
        return self.below

    @property
    def clear_level(self) -> float:
        """The level the value must cross back over before the rule clears."""
        if self.above is not None:
            return self.above if self.clear_below is None else self.clear_below
        return self.level if self.clear_above is None else self.clear_above

    def default_incident_type(self) -> str:
        return f"{self.kind}_{'low' if self.below is not None else 'high'}"


class RateRuleConfig(RuleConfigBase):
    """Fires when the value rises (or falls) faster than a rate, in units per minute.

    The rate is the change from the oldest to the newest reading within the last ``window_s``
    seconds; it is computed only when those readings span at least ``min_span_s`` (default half the
    window), so two readings a second apart cannot fake a steep slope. It clears when the rate drops
    below ``clear_per_min`` (default: the trigger rate).
    """

    title_samples: ClassVar[dict[str, Any]] = {
        **_COMMON_TITLE_SAMPLES,
        "value": 2.71,
        "unit": "m",
        "rate_per_min": 0.45,
        "threshold_per_min": 0.3,
        "direction": "rising",
        "window_s": 600.0,
    }

    type: Literal["rate"] = "rate"
    rise_per_min: float | None = Field(None, gt=0)
    fall_per_min: float | None = Field(None, gt=0)
    clear_per_min: float | None = Field(None, ge=0)
    window_s: float = Field(600.0, gt=0)
    min_span_s: float | None = Field(None, gt=0)
    severity: Severity = Severity.high

    @model_validator(mode="after")
    def _check_rates(self) -> Self:
        if (self.rise_per_min is None) == (self.fall_per_min is None):
            raise RuleConfigError(f"rule {self.name!r}: give exactly one of 'rise_per_min' or 'fall_per_min'")
        if self.clear_per_min is not None and self.clear_per_min > self.trigger_per_min:
            raise RuleConfigError(
                f"rule {self.name!r}: clear_per_min ({self.clear_per_min}) must not exceed "
                f"the trigger rate ({self.trigger_per_min})"
            )
        if self.min_span_s is not None and self.min_span_s > self.window_s:
            raise RuleConfigError(
                f"rule {self.name!r}: min_span_s ({self.min_span_s}) must not exceed window_s ({self.window_s})"
            )
        return self

    @property
    def is_rising(self) -> bool:
        return self.rise_per_min is not None

    @property
    def trigger_per_min(self) -> float:
        if self.rise_per_min is not None:
            return self.rise_per_min
        assert self.fall_per_min is not None  # guaranteed by _check_rates
        return self.fall_per_min

    @property
    def clear_level_per_min(self) -> float:
        return self.trigger_per_min if self.clear_per_min is None else self.clear_per_min

    @property
    def effective_min_span_s(self) -> float:
        return self.window_s / 2 if self.min_span_s is None else self.min_span_s

    def default_incident_type(self) -> str:
        return f"{self.kind}_{'falling' if self.fall_per_min is not None else 'rising'}"


class StuckRuleConfig(RuleConfigBase):
    """Fires when a sensor has flat-lined: every reading over the last ``window_s`` seconds lies
    within ``tolerance`` of every other, and there are at least ``min_readings`` of them.
    Clears as soon as a reading moves outside the tolerance."""

    title_samples: ClassVar[dict[str, Any]] = {
        **_COMMON_TITLE_SAMPLES,
        "value": 2.1,
        "unit": "m",
        "window_s": 3600.0,
        "tolerance": 0.0,
    }

    type: Literal["stuck"] = "stuck"
    window_s: float = Field(3600.0, gt=0)
    tolerance: float = Field(0.0, ge=0)
    min_readings: int = Field(5, ge=2)
    severity: Severity = Severity.medium

    def default_incident_type(self) -> str:
        return "sensor_stuck"


class SilentRuleConfig(RuleConfigBase):
    """Fires (on a timer, not on a reading) when a sensor has sent nothing for ``after_s`` seconds.

    ``after_s`` defaults to three times the sensor's registered ``interval_s``, or 300 s for a sensor
    not in the registry. The next reading clears it.
    """

    title_samples: ClassVar[dict[str, Any]] = {
        **_COMMON_TITLE_SAMPLES,
        "after_s": 300.0,
        "last_seen": "2024-01-01 08:10 WIB",
    }

    type: Literal["silent"] = "silent"
    after_s: float | None = Field(None, gt=0)
    severity: Severity = Severity.medium

    def default_incident_type(self) -> str:
        return "sensor_silent"


# The one place a rule type's name meets its config model; detectors.sensor_rules.registry maps the
# same names to the rule classes.
RULE_CONFIG_TYPES: dict[str, type[RuleConfigBase]] = {
    "threshold": ThresholdRuleConfig,
    "rate": RateRuleConfig,
    "stuck": StuckRuleConfig,
    "silent": SilentRuleConfig,
}


def _keys_of(model: type[RuleConfigBase]) -> set[str]:
    keys = set(model.model_fields)
    for info in model.model_fields.values():
        if isinstance(info.validation_alias, AliasChoices):
            keys.update(choice for choice in info.validation_alias.choices if isinstance(choice, str))
    return keys


# Every key some rule type accepts: a key outside it is a typo worth naming when `type` is missing.
_ALL_RULE_KEYS: frozenset[str] = frozenset().union(*(_keys_of(model) for model in RULE_CONFIG_TYPES.values()))


def valid_rule_types() -> str:
    return ", ".join(sorted(RULE_CONFIG_TYPES))


def rule_config_type(type_name: object) -> type[RuleConfigBase]:
    """The config model of a rule type; :class:`UnknownRuleError` listing the valid types otherwise."""
    if isinstance(type_name, str) and type_name in RULE_CONFIG_TYPES:
        return RULE_CONFIG_TYPES[type_name]
    raise UnknownRuleError(f"unknown sensor rule type {type_name!r}; valid types: {valid_rule_types()}")


def _resolve_rule_type(data: Any) -> Any:
    """Fill in ``type: threshold`` when left out, and reject unknown types with a readable message.

    Without this, pydantic's own discriminator error would neither explain the default nor, for
    a missing ``type``, list the choices.
    """
    if not isinstance(data, Mapping):
        return data  # a model instance, or garbage pydantic will report as the wrong type
    rule_type = data.get("type")
    if rule_type is None:
        if "above" in data or "below" in data:
            return {**data, "type": "threshold"}
        name = data.get("name")
        unknown = sorted(str(key) for key in data if key not in _ALL_RULE_KEYS)
        hint = f" (unknown key(s): {', '.join(unknown)})" if unknown else ""
        raise RuleConfigError(
            f"rule {name!r}: missing 'type' (or 'above'/'below' for a threshold rule){hint}; "
            f"valid types: {valid_rule_types()}"
        )
    rule_config_type(rule_type)
    return data


SensorRuleConfig = Annotated[
    ThresholdRuleConfig | RateRuleConfig | StuckRuleConfig | SilentRuleConfig,
    Field(discriminator="type"),
    BeforeValidator(_resolve_rule_type),
]
"""One entry of ``sensor_rules``: the model its ``type`` names (``threshold`` when omitted)."""
