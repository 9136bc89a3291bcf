"""Settings of the ingest HTTP API deployable."""

from __future__ import annotations

from pydantic import Field

from pantau.settings import CommonSettings


class Settings(CommonSettings):
    """Where the ingest API listens and how much one request may carry."""

    ingest_host: str = Field("127.0.0.1", description="Address the ingest API binds to")
    ingest_port: int = Field(8001, description="Port of the ingest API")
    ingest_max_batch: int = Field(10_000, ge=1, description="Most readings in one POST")
    ingest_max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest accepted request body")
    ingest_ack_timeout_s: float = Field(10.0, gt=0, description="How long to wait for Kafka to acknowledge")
