"""Secure defaults: a secret left at an example value stops a service before it starts (outside dev
mode), with the reason and without echoing the secret; Kafka's TLS/SASL settings reach every client."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from console.settings import Settings as ConsoleSettings
from ingest.api.settings import Settings as IngestSettings
from pantau.exceptions import ConfigError
from pantau.kafka import security_options
from pantau.settings import CommonSettings, is_placeholder_secret

pytestmark = pytest.mark.unit

EXAMPLE_SECRET = "change-me-to-at-least-32-random-characters"  # deploy/k8s/secret.example.yaml


@pytest.mark.parametrize(
    "value", [EXAMPLE_SECRET, "CHANGEME", "your-secret-placeholder", "secret", "password", "x" * 40, "example-key"]
)
def test_example_values_are_placeholders(value: str) -> None:
    assert is_placeholder_secret(value)


@pytest.mark.parametrize("value", [secrets.token_urlsafe(32), "Tr0ub4dor&3-horse-battery-staple-42"])
def test_real_looking_values_are_not(value: str) -> None:
    assert not is_placeholder_secret(value)


def test_a_placeholder_token_secret_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="PANTAU_TOKEN_SECRET is a placeholder") as caught:
        IngestSettings(token_secret=EXAMPLE_SECRET)
    assert "PANTAU_DEV_MODE" in str(caught.value)


def test_every_secret_setting_is_checked(caplog: pytest.LogCaptureFixture) -> None:
    real = secrets.token_urlsafe(32)
    with pytest.raises(ValidationError, match="PANTAU_SMTP_PASSWORD is a placeholder"):
        ConsoleSettings(token_secret=real, smtp_password="changeme")
    with pytest.raises(ValidationError, match="PANTAU_DATABASE_URL is a placeholder"):
        CommonSettings(database_url="postgresql://pantau:change-me@db:5432/pantau")
    with pytest.raises(ValidationError, match="PANTAU_KAFKA_SASL_PASSWORD is a placeholder"):
        CommonSettings(kafka_sasl_password="password")
    assert CommonSettings(database_url=f"postgresql://pantau:{real}@db:5432/pantau").database_url.endswith("/pantau")
    with caplog.at_level(logging.WARNING, logger="pantau.settings"):
        assert IngestSettings(token_secret=EXAMPLE_SECRET, dev_mode=True).dev_mode
    assert "placeholder: accepted in dev mode only" in caplog.text
    assert EXAMPLE_SECRET not in caplog.text


def test_a_service_started_with_a_placeholder_exits_with_the_reason_not_the_secret(tmp_path: Path) -> None:
    password = "change-me-db-password"
    env = dict(
        os.environ,
        PANTAU_TOKEN_SECRET=secrets.token_urlsafe(32),
        PANTAU_DATABASE_URL=f"postgresql://pantau:{password}@127.0.0.1:1/pantau",
        PANTAU_READY_FILE=str(tmp_path / "ready"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "run", "archiver"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "PANTAU_DATABASE_URL is a placeholder" in done.stderr
    assert password not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "ready").exists()


def test_kafka_tls_and_sasl_options_reach_the_clients(tmp_path: Path) -> None:
    assert security_options(CommonSettings()) == {"security_protocol": "PLAINTEXT"}
    ca = tmp_path / "ca.crt"
    tls = security_options(CommonSettings(kafka_security_protocol="SSL", kafka_ssl_cafile=ca))
    assert tls == {"security_protocol": "SSL", "ssl_check_hostname": True, "ssl_cafile": str(ca)}
    sasl_password = secrets.token_urlsafe(16)
    sasl = security_options(
        CommonSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="pantau",
            kafka_sasl_password=sasl_password,
        )
    )
    assert sasl["sasl_mechanism"] == "SCRAM-SHA-512" and sasl["sasl_plain_password"] == sasl_password
    with pytest.raises(ConfigError, match="PANTAU_KAFKA_SASL_MECHANISM"):
        security_options(CommonSettings(kafka_security_protocol="SASL_PLAINTEXT"))
