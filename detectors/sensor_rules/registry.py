"""The rule classes by type name: how a validated rule config becomes a rule."""

from __future__ import annotations

from typing import Any

from detectors.exceptions import UnknownRuleError
from detectors.sensor_rules.base import RuleContext, SensorRule
from detectors.sensor_rules.config import RuleConfigBase
from detectors.sensor_rules.rate import RateRule
from detectors.sensor_rules.silent import SilentRule
from detectors.sensor_rules.stuck import StuckRule
from detectors.sensor_rules.threshold import ThresholdRule

AnyRule = SensorRule[Any, Any]

# Keys match detectors.sensor_rules.config.RULE_CONFIG_TYPES; a new rule type is added to both.
RULE_TYPES: dict[str, type[AnyRule]] = {
    ThresholdRule.type_name: ThresholdRule,
    RateRule.type_name: RateRule,
    StuckRule.type_name: StuckRule,
    SilentRule.type_name: SilentRule,
}


def rule_class(type_name: str) -> type[AnyRule]:
    """The rule class registered under ``type_name``; :class:`UnknownRuleError` listing the valid ones."""
    try:
        return RULE_TYPES[type_name]
    except KeyError:
        raise UnknownRuleError(
            f"unknown sensor rule type {type_name!r}; valid types: {', '.join(sorted(RULE_TYPES))}"
        ) from None


def build_rule(config: RuleConfigBase, context: RuleContext | None = None) -> AnyRule:
    """The rule a validated config describes."""
    type_name: str = getattr(config, "type", "")
    return rule_class(type_name)(config, context)
