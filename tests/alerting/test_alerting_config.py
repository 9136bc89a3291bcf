"""The ``alerting:`` section: refused with a message that names the key and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantau.exceptions import ConfigError
from pantau.fullconfig import check_config

pytestmark = pytest.mark.unit
HOOK = '{type: webhook, name: hook, url: "http://127.0.0.1:9/x", secret: "0123456789abcdef"}'


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            f"channels: [{HOOK}]\n  routing:\n    groups: [{{id: g, name: G}}]\n"
            "    responders: [{id: budi, name: Budi, groups: [g], channels: [telegram]}]",
            "responder budi uses unknown channels telegram; configured: hook",
        ),
        (f"channels: [{HOOK}, {HOOK}]", "duplicate channel names: hook"),
        ("identity: [source, zone]", "identity must include type"),
        (
            "correlations: [{name: c, when: [{types: [a]}, {}], then: {type: x}}]",
            "a correlation clause needs at least one of",
        ),
        ("night: {hours: '25:00-05:00', types: [intrusion]}", "invalid time"),
        ("reopen_window_s: -1", "reopen_window_s"),
    ],
)
def test_bad_alerting_sections_are_refused_with_the_reason(tmp_path: Path, section: str, message: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"alerting:\n  {section}\n")
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_the_demo_config_is_valid() -> None:
    check_config(Path(__file__).parents[2] / "deploy" / "config" / "demo.yaml")
