"""The wire contracts: JSON schemas in docs/ match the models; readings, tokens and config validate as documented."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from detectors.schemas import Incident, Phase, Severity, incident_id
from ingest.schemas import SensorReading
from pantau.auth import Role, issue_token, verify_token
from pantau.config import parse_config_text, parse_section
from pantau.exceptions import AuthError, ConfigError
from pantau.schemas import render_schemas

pytestmark = pytest.mark.unit
SECRET = "a-test-secret-of-at-least-32-characters"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_committed_json_schemas_match_the_models() -> None:
    for name, text in render_schemas().items():
        assert (DOCS / name).read_text(encoding="utf-8") == text, f"run `pantau schemas` to refresh {name}"


def test_reading_ignores_extra_fields_normalises_units_and_rejects_bad_values() -> None:
    r = SensorReading.model_validate(
        {
            "sensor_id": "pm-1",
            "kind": "pm25",
            "value": 40,
            "unit": "ug/m3",
            "ts": "2026-11-27T10:00:00+07:00",
            "firmware": "x",
        }
    )
    assert r.unit == "µg/m³" and r.ts.utcoffset() is not None
    for bad in (
        {"ts": "2026-11-27T10:00:00"},
        {"unit": "cm", "kind": "water_level"},
        {"value": float("nan")},
        {"kind": "smoke", "unit": "ratio", "value": 1.5},
        {"sensor_id": ""},
    ):
        with pytest.raises(ValidationError):
            SensorReading.model_validate(
                {
                    "sensor_id": "pm-1",
                    "kind": "pm25",
                    "value": 40,
                    "unit": "µg/m³",
                    "ts": "2026-11-27T10:00:00+07:00",
                    **bad,
                }
            )


def test_tokens_carry_user_and_role_and_reject_tampering() -> None:
    token = issue_token(SECRET, Role.operator, "ani", ttl_s=60)
    principal = verify_token(SECRET, token)
    assert (principal.user, principal.role) == ("ani", Role.operator)
    assert verify_token(SECRET, issue_token(SECRET, Role.ingest)).user == "ingest"
    with pytest.raises(AuthError):
        verify_token("other" * 8, token)
    with pytest.raises(AuthError):
        issue_token(SECRET, Role.admin, ttl_s=0)


def test_no_token_lives_longer_than_a_year() -> None:
    import jwt

    from pantau.auth import MAX_TTL_S

    assert verify_token(SECRET, issue_token(SECRET, Role.ingest, ttl_s=MAX_TTL_S)).role is Role.ingest
    with pytest.raises(AuthError, match="at most"):
        issue_token(SECRET, Role.ingest, ttl_s=MAX_TTL_S + 1)
    now = int(time.time())
    forever = {"sub": "x", "role": "admin", "iss": "pantau", "iat": now, "exp": now + 10 * MAX_TTL_S}
    with pytest.raises(AuthError, match="live at most"):
        verify_token(SECRET, jwt.encode(forever, SECRET, algorithm="HS256"))
    undated = {"sub": "x", "role": "admin", "iss": "pantau", "exp": now + 60}
    with pytest.raises(AuthError, match="when it was issued"):
        verify_token(SECRET, jwt.encode(undated, SECRET, algorithm="HS256"))


def test_an_ingest_token_may_be_scoped_to_sensors() -> None:
    scoped = verify_token(SECRET, issue_token(SECRET, Role.ingest, "gauges", sensors=["wl-brantas-*", "pm-01"]))
    assert scoped.sensors == ("wl-brantas-*", "pm-01")
    assert scoped.may_send("wl-brantas-01") and scoped.may_send("pm-01")
    assert not scoped.may_send("pm-010") and not scoped.may_send("wl-sukun-01")
    assert verify_token(SECRET, issue_token(SECRET, Role.ingest)).may_send("anything")  # unscoped
    for bad in ([], ["*"], ["wl brantas"], ["a*b"]):
        with pytest.raises(AuthError, match="sensors must be"):
            issue_token(SECRET, Role.ingest, sensors=bad)


def test_config_unknown_section_and_unknown_key_are_named() -> None:
    from detectors.config import DetectorsConfig

    with pytest.raises(ConfigError, match=r"unknown section.*camerass"):
        parse_config_text("camerass: []\n")
    data = parse_config_text("sensor_rules:\n  - {name: r, kind: water_level, abov: 2.5}\n")
    with pytest.raises(ConfigError, match="abov"):
        parse_section(DetectorsConfig, data)


def _incident(phase: Phase, ts: datetime, severity: Severity = Severity.high) -> Incident:
    return Incident(
        id=incident_id("r", "wl-1", phase, ts),
        type="water_level_high",
        source="wl-1",
        source_kind="sensor",
        rule="r",
        phase=phase,
        ts=ts,
        detected_at=ts,
        severity=severity,
        title="t",
    )
