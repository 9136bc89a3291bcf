"""Settings of the alerting deployable (environment variables ``PANTAU_...``)."""

from __future__ import annotations

from pydantic import Field

from pantau.settings import CommonSettings


class Settings(CommonSettings):
    """Settings of the alerting deployable."""

    alerting_group: str = Field("pantau.alerting", description="Kafka consumer group of alerting")
    alerting_host: str = Field("127.0.0.1", description="Address the alerting API binds to")
    alerting_port: int = Field(8002, description="Port of the alerting API (commands, silences, CAP)")
    alerting_max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Largest request body the alerting API reads (413 beyond)"
    )
    console_url: str = Field("http://localhost:8000", description="Public URL of the console, for links in pushes")
    cap_sender: str = Field("pantau@localhost", description="CAP sender: who publishes the alerts")
    dispatch_threads: int = Field(4, ge=1, le=64, description="Threads sending pushes to responders")
