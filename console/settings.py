"""Settings of the console deployable."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from pantau.settings import CommonSettings


class Settings(CommonSettings):
    """Where the console listens."""

    console_host: str = Field("127.0.0.1", description="Address the console binds to")
    console_port: int = Field(8000, description="Port of the console (web UI, REST, websocket)")
    heartbeat_interval_s: float = Field(15.0, gt=0, description="Seconds between websocket heartbeats")
    ws_max_pending: int = Field(1000, ge=10, description="Alerts a slow websocket client may have pending")
    db_pool_size: int = Field(8, ge=1, le=64, description="Database connections for history and alert detail")
    evidence_dir: Path = Field(Path("evidence"), description="Where camera-detectors keep evidence clips")
