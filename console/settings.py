"""Settings of the console deployable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from detectors.video.models import default_models_dir
from pantau.settings import CommonSettings

BlurFaces = Literal["off", "export", "always"]


class Settings(CommonSettings):
    """Where the console listens."""

    console_host: str = Field("127.0.0.1", description="Address the console binds to")
    console_port: int = Field(8000, description="Port of the console (web UI, REST, websocket)")
    heartbeat_interval_s: float = Field(15.0, gt=0, description="Seconds between websocket heartbeats")
    ws_max_pending: int = Field(1000, ge=10, description="Alerts a slow websocket client may have pending")
    console_max_body_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="Largest request body the console reads (413 beyond; a manual alert's photo is at most 5 MB)",
    )
    ws_access_check_s: float = Field(
        5.0,
        gt=0,
        description=(
            "How often open websocket feeds are checked against their sessions, accounts and token expiry; a feed "
            "whose access ended (logout, disabled account, expired session or token) is closed with code 4401"
        ),
    )
    db_pool_size: int = Field(8, ge=1, le=64, description="Database connections for history and alert detail")
    evidence_dir: Path = Field(
        Path("evidence"), description="Where camera-detectors keep evidence clips and full-size snapshots"
    )
    evidence_blur_faces: BlurFaces = Field(
        "off",
        description=(
            "Blur faces in evidence (CenterFace, `make models`; the console will not start without it): off; export "
            "(clip downloads and `?download=1` snapshots); always (also the snapshots and clip frames shown on screen)"
        ),
    )
    evidence_blur_min_score: float = Field(
        0.3, gt=0, lt=1, description="Face detector score from which a face is blurred (lower: more, and more false)"
    )
    evidence_blur_upscale: float = Field(
        1.0, ge=1, le=3, description="Enlarge pictures to find smaller faces (2: heads of 8-12 px, at 4x the time)"
    )
    models_dir: Path = Field(
        default_factory=default_models_dir,
        description="Folder of the network files (`make models`; default .pantau/models): the face detector",
    )
    session_ttl_s: float = Field(12 * 3600, gt=60, description="How long a login lasts (one shift by default)")
    cookie_secure: bool = Field(False, description="Mark the session cookie Secure (set it behind TLS)")
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins per user name and address before throttling (x10 per name, x4 per address)"
    )
    login_window_s: float = Field(300, gt=0, description="Window of the failed-login count")
    login_max_concurrent: int = Field(
        2, ge=1, le=64, description="Password checks run at once (64 MiB each, Argon2id); more logins wait for a slot"
    )
    alerting_url: str = Field("http://127.0.0.1:8002", description="Alerting service the console forwards commands to")
    alerting_timeout_s: float = Field(10.0, gt=0, description="Timeout of a forwarded command")
    reports_dir: Path = Field(Path("reports"), description="Where the daily and weekly reports are kept")
    reports_retention_days: int = Field(400, ge=0, description="Days reports are kept (0: forever)")
    reports_catch_up: int = Field(
        7, ge=1, le=60, description="Missed runs per kind a console builds on start (after an outage)"
    )
    reports_mail_retry_s: float = Field(
        300.0, ge=1, description="Seconds between tries to mail a report whose mail failed (SMTP server away)"
    )
    reports_mail_retry_h: float = Field(
        48.0, ge=0, description="Hours after a report is built that a failed mail is still retried (0: never)"
    )
    smtp_host: str | None = Field(None, description="SMTP server the reports are mailed through (unset: not mailed)")
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of the SMTP server (465 with smtp_ssl)")
    smtp_user: str | None = Field(None, description="SMTP login (unset: no login)")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_from: str = Field("pantau@localhost", description="Sender address of the reports")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS")
    smtp_ssl: bool = Field(False, description="Connect to the SMTP server over implicit TLS")
