"""The ``sensor_rules`` / ``sensors`` / ``timezone`` configuration of the detectors stage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from detectors.config import DetectorsConfig
from detectors.exceptions import DetectorError, RuleConfigError, UnknownRuleError
from detectors.schemas import Severity
from detectors.sensor_rules import (
    RULE_CONFIG_TYPES,
    RULE_TYPES,
    RateRuleConfig,
    SensorRuleConfig,
    SilentRuleConfig,
    StuckRuleConfig,
    ThresholdRuleConfig,
    rule_class,
)
from pantau.config import parse_config_text, parse_section
from pantau.exceptions import ConfigError, PantauError

pytestmark = pytest.mark.unit

RULE = TypeAdapter(SensorRuleConfig)
VALID_TYPES = "rate, silent, stuck, threshold"


def load(yaml_text: str) -> DetectorsConfig:
    return parse_section(DetectorsConfig, parse_config_text(yaml_text, source="test.yaml"), source="test.yaml")


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        RULE.validate_python(data)
    return str(info.value)


def test_a_yaml_file_loads_every_rule_type() -> None:
    config = load(
        """
timezone: Asia/Jakarta
sensors:
  - {id: river-01, kind: water_level, location: {lat: -7.98, lon: 112.63, district: Klojen}}
sensor_rules:
  - {name: river-flood, kind: water_level, above: 2.5, for_s: 0, severity: critical}
  - {name: river-rising, type: rate, kind: water_level, rise_per_min: 0.3, window_s: 600, severity: high}
  - {name: river-stuck, type: stuck, kind: water_level, window_s: 3600, tolerance: 0.0, min_readings: 5}
  - {name: river-silent, type: silent, kind: water_level}
"""
    )
    flood, rising, stuck, silent = config.sensor_rules
    assert isinstance(flood, ThresholdRuleConfig)
    assert (flood.type, flood.above, flood.severity) == ("threshold", 2.5, Severity.critical)
    assert isinstance(rising, RateRuleConfig) and rising.rise_per_min == 0.3
    assert isinstance(stuck, StuckRuleConfig) and stuck.min_readings == 5
    assert isinstance(silent, SilentRuleConfig) and silent.after_s is None
    assert config.tzinfo().key == "Asia/Jakarta"


def test_an_empty_config_has_no_sensors_and_no_rules() -> None:
    config = load("")
    assert (config.timezone, config.sensors, config.sensor_rules) == ("Asia/Jakarta", [], [])


@pytest.mark.parametrize(
    ("data", "incident_type", "severity"),
    [
        ({"kind": "water_level", "above": 2.5}, "water_level_high", Severity.high),
        ({"kind": "water_level", "below": 0.2}, "water_level_low", Severity.high),
        ({"type": "rate", "kind": "water_level", "rise_per_min": 0.3}, "water_level_rising", Severity.high),
        ({"type": "rate", "kind": "water_level", "fall_per_min": 0.3}, "water_level_falling", Severity.high),
        ({"type": "stuck", "kind": "pm25"}, "sensor_stuck", Severity.medium),
        ({"type": "silent", "kind": "pm25"}, "sensor_silent", Severity.medium),
    ],
)
def test_incident_type_and_severity_default_by_rule_type(
    data: dict[str, Any], incident_type: str, severity: Severity
) -> None:
    rule = RULE.validate_python({"name": "r", **data})
    assert rule.effective_incident_type == incident_type
    assert rule.severity is severity


@pytest.mark.parametrize("key", ["incident_type", "type_name"])
def test_incident_type_can_be_set_under_either_name(key: str) -> None:
    rule = RULE.validate_python({"name": "r", "kind": "smoke", "above": 0.5, key: "fire_suspected"})
    assert rule.effective_incident_type == "fire_suspected"


def test_threshold_is_the_default_type_only_when_a_level_is_given() -> None:
    assert RULE.validate_python({"name": "r", "kind": "water_level", "below": 1}).type == "threshold"
    message = error_of({"name": "r", "kind": "water_level"})
    assert "missing 'type'" in message
    assert VALID_TYPES in message


def test_unknown_rule_type_lists_the_valid_types() -> None:
    message = error_of({"name": "r", "type": "treshold", "kind": "water_level", "above": 1})
    assert "unknown sensor rule type 'treshold'" in message
    assert VALID_TYPES in message


def test_unknown_rule_type_in_a_file_is_a_config_error_naming_the_rule_path() -> None:
    with pytest.raises(ConfigError) as info:
        load("sensor_rules:\n  - {name: r, type: spike, kind: water_level}\n")
    assert "test.yaml: sensor_rules.0" in str(info.value)
    assert VALID_TYPES in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        {"name": "r", "kind": "water_level", "above": 1, "abov": 2},
        {"name": "r", "type": "stuck", "kind": "water_level", "abov": 2},
        {"name": "r", "type": "silent", "kind": "water_level", "abov": 2},
    ],
)
def test_an_unknown_key_is_an_error_naming_it(data: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_section(DetectorsConfig, {"sensor_rules": [data]}, source="test.yaml")
    assert "abov" in str(info.value)


def test_a_typo_of_the_level_key_is_named_even_though_the_type_cannot_be_told() -> None:
    assert "unknown key(s): abov" in error_of({"name": "r", "kind": "water_level", "abov": 2})


def test_unknown_top_level_key_of_the_section_model_is_rejected() -> None:
    with pytest.raises(ValidationError, match="sensor_rulez"):
        DetectorsConfig.model_validate({"sensor_rulez": []})


def test_duplicate_rule_names_are_rejected() -> None:
    with pytest.raises(ConfigError, match="rule name 'flood' is used twice"):
        load(
            """
sensor_rules:
  - {name: flood, kind: water_level, above: 2.5}
  - {name: flood, kind: water_level, above: 3.0, severity: critical}
"""
        )


def test_duplicate_sensor_ids_in_the_registry_are_rejected() -> None:
    with pytest.raises(ConfigError, match="sensor id 'river-01' is registered twice"):
        load("sensors:\n  - {id: river-01, kind: water_level}\n  - {id: river-01, kind: rainfall}\n")


def test_rules_may_name_unregistered_sensors_but_not_registered_sensors_of_another_kind(
    config_factory: Callable[..., DetectorsConfig],
) -> None:
    config = config_factory([{"name": "r", "kind": "water_level", "above": 1, "sensor_ids": ["river-99"]}])
    assert config.sensor_rules[0].sensor_ids == ("river-99",)
    with pytest.raises(ValidationError, match="'rain-01' is registered as kind 'rainfall'"):
        config_factory([{"name": "r", "kind": "water_level", "above": 1, "sensor_ids": ["rain-01"]}])


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"above": 1, "below": 0}, "exactly one of 'above' or 'below'"),
        ({"type": "threshold"}, "exactly one of 'above' or 'below'"),
        ({"above": 1, "clear_below": 2}, "clear_below (2.0) must not exceed above (1.0)"),
        ({"above": 1, "clear_above": 2}, "an 'above' rule takes clear_below"),
        ({"below": 1, "clear_above": 0.5}, "must not be under below"),
        ({"below": 1, "clear_below": 0.5}, "a 'below' rule takes clear_above"),
        ({"above": 1, "for_s": -1}, "for_s"),
        ({"above": float("inf")}, "above"),
        ({"above": 1, "sensor_ids": []}, "sensor_ids is empty"),
        ({"above": 1, "sensor_ids": ["bad id"]}, "sensor_ids"),
        ({"above": 1, "severity": "urgent"}, "severity"),
        ({"type": "rate", "rise_per_min": 1, "fall_per_min": 1}, "exactly one of 'rise_per_min' or 'fall_per_min'"),
        ({"type": "rate", "rise_per_min": 1, "window_s": 60, "min_span_s": 120}, "min_span_s (120.0)"),
        ({"type": "rate", "rise_per_min": 1, "clear_per_min": 2}, "clear_per_min (2.0) must not exceed"),
        ({"type": "rate", "rise_per_min": 0}, "rise_per_min"),
        ({"type": "stuck", "min_readings": 1}, "min_readings"),
        ({"type": "silent", "after_s": 0}, "after_s"),
    ],
)
def test_invalid_rule_settings_are_rejected_with_the_reason(data: dict[str, Any], fragment: str) -> None:
    assert fragment in error_of({"name": "r", "kind": "water_level", **data})


def test_a_title_template_with_an_unknown_placeholder_is_rejected_naming_it() -> None:
    message = error_of({"name": "r", "kind": "water_level", "above": 1, "title": "Flood {levle} at {where}"})
    assert "unknown placeholder {levle}" in message
    assert "value" in message  # the available names are listed


def test_a_title_template_with_a_bad_format_spec_is_rejected() -> None:
    message = error_of({"name": "r", "kind": "water_level", "above": 1, "title": "{sensor_id:.2f}"})
    assert "not a valid template" in message


def test_placeholders_are_per_rule_type() -> None:
    RULE.validate_python(
        {"name": "r", "type": "silent", "kind": "water_level", "title": "{where} quiet {after_s:.0f}s"}
    )
    assert "unknown placeholder {value}" in error_of(
        {"name": "r", "type": "silent", "kind": "water_level", "title": "{value}"}
    )


def test_an_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown time zone 'Asia/Malang'"):
        load("timezone: Asia/Malang\n")


def test_rule_configs_are_frozen() -> None:
    rule = RULE.validate_python({"name": "r", "kind": "water_level", "above": 1})
    assert isinstance(rule, ThresholdRuleConfig)
    with pytest.raises(ValidationError):
        rule.above = 2  # type: ignore[misc]


def test_every_config_type_has_a_rule_class_and_unknown_names_list_the_valid_ones() -> None:
    assert set(RULE_TYPES) == set(RULE_CONFIG_TYPES)
    for name, cls in RULE_TYPES.items():
        assert rule_class(name) is cls
    with pytest.raises(UnknownRuleError, match=f"valid types: {VALID_TYPES}"):
        rule_class("spike")


def test_rule_config_errors_belong_to_the_pantau_hierarchy() -> None:
    assert issubclass(UnknownRuleError, RuleConfigError)
    assert issubclass(RuleConfigError, DetectorError)
    assert issubclass(DetectorError, PantauError)
