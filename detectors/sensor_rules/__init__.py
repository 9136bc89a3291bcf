"""Sensor rules: threshold, rate-of-change, stuck and silent checks on sensor readings.

Configured in the ``sensor_rules`` section (see :mod:`detectors.sensor_rules.config`) and run by
:class:`~detectors.sensor_rules.engine.SensorRuleEngine`.
"""

from __future__ import annotations

from detectors.sensor_rules.base import RuleContext, SensorRule
from detectors.sensor_rules.config import (
    RULE_CONFIG_TYPES,
    RateRuleConfig,
    RuleConfigBase,
    SensorRuleConfig,
    SilentRuleConfig,
    StuckRuleConfig,
    ThresholdRuleConfig,
)
from detectors.sensor_rules.engine import SensorRuleEngine
from detectors.sensor_rules.rate import RateRule, RateState
from detectors.sensor_rules.registry import RULE_TYPES, build_rule, rule_class
from detectors.sensor_rules.silent import SilentRule, SilentState
from detectors.sensor_rules.stuck import StuckRule, StuckState
from detectors.sensor_rules.threshold import ThresholdRule, ThresholdState

__all__ = [
    "RULE_CONFIG_TYPES",
    "RULE_TYPES",
    "RateRule",
    "RateRuleConfig",
    "RateState",
    "RuleConfigBase",
    "RuleContext",
    "SensorRule",
    "SensorRuleConfig",
    "SensorRuleEngine",
    "SilentRule",
    "SilentRuleConfig",
    "SilentState",
    "StuckRule",
    "StuckRuleConfig",
    "StuckState",
    "ThresholdRule",
    "ThresholdRuleConfig",
    "ThresholdState",
    "build_rule",
    "rule_class",
]
