"""Settings shared by every deployable.

Each deployable (ingest API, detector worker, alerting, archiver, console) has one ``Settings`` class
deriving from :class:`CommonSettings`, built once in its ``main()`` (or FastAPI lifespan) and passed
down. Nothing else reads the environment. Every field is an environment variable ``PANTAU_<NAME>``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pantau.topics import topic_partitions_problem

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_DATABASE_URL = "postgresql://pantau@127.0.0.1:5433/pantau"
log = logging.getLogger(__name__)

MIN_TOKEN_SECRET_CHARS = 32  # HS256 wants a key of at least 256 bits

# What example files and tutorials put where a secret goes. A deployment that kept one would sign
# tokens anyone can forge, so outside dev mode the services refuse to start with it.
_PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace-me", "replaceme", "placeholder", "example")
_PLACEHOLDER_VALUES = {"secret", "password", "passw0rd", "pantau", "admin", "test", "default", "xxx", "12345678"}


def is_placeholder_secret(value: str) -> bool:
    """True for values that are obviously not a real secret (example-file text, one repeated character)."""
    lowered = value.strip().lower()
    if lowered in _PLACEHOLDER_VALUES or any(word in lowered for word in _PLACEHOLDER_WORDS):
        return True
    return len(lowered) >= 4 and len(set(lowered)) == 1


class CommonSettings(BaseSettings):
    """Connection settings every Pantau service reads (env prefix ``PANTAU_``)."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(DEFAULT_KAFKA_BOOTSTRAP, description="Kafka bootstrap servers, comma-separated")
    database_url: str = Field(DEFAULT_DATABASE_URL, description="PostgreSQL/TimescaleDB connection URL")
    db_schema: str = Field("public", pattern=r"^[a-z_][a-z0-9_]*$", description="Schema holding Pantau's tables")
    topic_prefix: str = Field(
        "", pattern=r"^[A-Za-z0-9._-]*$", description="Prefix added to every topic and consumer group name"
    )
    token_secret: SecretStr | None = Field(None, description="HMAC secret that signs bearer tokens")
    config: Path | None = Field(None, description="Path of the YAML configuration file")
    max_clock_skew_s: float = Field(
        300.0,
        gt=0,
        description=(
            "Readings and frames stamped more than this ahead of the server's clock are refused (HTTP 422, or the "
            "dead-letter queue) and change no state: one reading from a wrong clock would otherwise blind its "
            "sensor's rules"
        ),
    )
    ready_file: Path | None = Field(None, description="File the service creates once it is ready")
    log_level: str = Field("INFO", description="Python logging level")
    log_format: Literal["text", "json"] = Field(
        "text",
        description=(
            "`text`: one readable line per record; `json`: one JSON object per line (`ts`, `level`, `service`, "
            "`logger`, `msg`, correlation ids, `exc`) for log collectors"
        ),
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz (unset: not served; 0: any free port)"
    )
    metrics_host: str = Field("127.0.0.1", description="Address the metrics port binds to (0.0.0.0 in containers)")
    dev_mode: bool = Field(
        False,
        description=(
            "A throwaway local set-up: placeholder secrets (example-file values such as `change-me…`) are "
            "accepted with a warning instead of refusing to start"
        ),
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to Kafka: `SSL` for TLS, `SASL_SSL` for TLS plus a user name"
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CA that signed the brokers' certificates (unset: the system's CAs)"
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="Client certificate (PEM) when brokers require mutual TLS"
    )
    kafka_ssl_keyfile: Path | None = Field(None, description="Private key (PEM) of the client certificate")
    kafka_ssl_check_hostname: bool = Field(True, description="Check that a broker's certificate names its host")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism with `SASL_SSL`/`SASL_PLAINTEXT`"
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password")
    consumer_instance_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description=(
            "Stable id of this worker in its consumer groups (Kafka static membership): a restarted worker "
            "takes its partitions back at once instead of after the session timeout. Unique per worker; "
            "`pantau up` sets it per service, on Kubernetes use a StatefulSet's pod name"
        ),
    )

    topic_partitions: Annotated[dict[str, int], NoDecode] = Field(
        {},
        description=(
            "Partitions of topics the services create, as JSON by contract name without the prefix, e.g. "
            '`{"pantau.sensor-readings.v1": 16, "pantau.incidents.v1": 8}` (unlisted topics: the built-in '
            "count). Only applies when a topic is created: an existing topic is never altered. The detector-state "
            "topic follows the readings topic; alerts and camera status stay at 1"
        ),
    )

    @field_validator("topic_partitions", mode="before")
    @classmethod
    def _parse_topic_partitions(cls, value: Any) -> Any:
        """The environment's JSON text, parsed here so a syntax error is a validation error like any other."""
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ValueError(
                f'PANTAU_TOPIC_PARTITIONS is not JSON ({exc}): write it like {{"pantau.sensor-readings.v1": 16}}'
            ) from None

    @model_validator(mode="after")
    def _check_topic_partitions(self) -> Self:
        """A partition count that cannot work stops the service at start-up, naming the topic."""
        for name, count in self.topic_partitions.items():
            problem = topic_partitions_problem(name, count)
            if problem is not None:
                raise ValueError(f"PANTAU_TOPIC_PARTITIONS[{name!r}]: {problem}")
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        """Outside dev mode, a secret left at an example value stops the service before it starts."""
        for name, value in self._secrets():
            if not is_placeholder_secret(value):
                continue
            if self.dev_mode:
                log.warning("PANTAU_%s is a placeholder: accepted in dev mode only", name.upper())
                continue
            raise ValueError(
                f"PANTAU_{name.upper()} is a placeholder, not a secret: set a random value "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
                "or PANTAU_DEV_MODE=true for a throwaway local set-up"
            )
        return self

    def _secrets(self) -> list[tuple[str, str]]:
        """(setting name, value) of every secret this deployable's settings hold: each ``SecretStr``
        field (its own and its subclass's) and the database URL's password."""
        found: list[tuple[str, str]] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                found.append((name, value.get_secret_value()))
        password = urlsplit(self.database_url).password
        if password:
            found.append(("database_url", password))
        return found

    def topic(self, name: str) -> str:
        """The full name of a topic: the configured prefix plus the contract's name."""
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        """The full name of a consumer group: the same prefix, so prefixed pipelines never share a group."""
        return f"{self.topic_prefix}{name}"

    def require_token_secret(self) -> str:
        from pantau.exceptions import ConfigError

        if self.token_secret is None or not self.token_secret.get_secret_value():
            raise ConfigError("PANTAU_TOKEN_SECRET is not set: tokens cannot be signed or checked")
        secret = self.token_secret.get_secret_value()
        if len(secret) < MIN_TOKEN_SECRET_CHARS:
            raise ConfigError(f"PANTAU_TOKEN_SECRET is too short: use at least {MIN_TOKEN_SECRET_CHARS} characters")
        return secret
