"""Settings shared by every deployable.

Each deployable (ingest API, detector worker, alerting, archiver, console) has one ``Settings`` class
deriving from :class:`CommonSettings`, built once in its ``main()`` (or FastAPI lifespan) and passed
down. Nothing else reads the environment. Every field is an environment variable ``PANTAU_<NAME>``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_DATABASE_URL = "postgresql://pantau@127.0.0.1:5433/pantau"
MIN_TOKEN_SECRET_CHARS = 32  # HS256 wants a key of at least 256 bits


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
    ready_file: Path | None = Field(None, description="File the service creates once it is ready")
    log_level: str = Field("INFO", description="Python logging level")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz (unset: not served; 0: any free port)"
    )
    metrics_host: str = Field("127.0.0.1", description="Address the metrics port binds to (0.0.0.0 in containers)")
    consumer_instance_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description=(
            "Stable id of this worker in its consumer groups (Kafka static membership): a restarted worker "
            "takes its partitions back at once instead of after the session timeout. Unique per worker; "
            "`pantau up` sets it per service, on Kubernetes use a StatefulSet's pod name"
        ),
    )

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
