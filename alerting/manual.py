"""Alerts raised by hand: an operator takes a phone call or a citizen's report and raises it, with
the place picked on the map, a description and, optionally, a photo.

A manual report becomes an ordinary :class:`~detectors.schemas.Incident` (``source_kind:
manual``), so it is deduplicated, prioritised, routed, archived and audited like any other. Each
report is its own source, so two callers reporting two fires make two alerts.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from alerting.lifecycle import MAX_PHOTO_BYTES, CommandError, decode_jpeg_b64
from detectors.schemas import Incident, Severity
from ingest.schemas import Location

__all__ = ["MAX_PHOTO_BYTES", "ManualAlertBody", "manual_incident"]


class ManualAlertBody(BaseModel):
    """``POST /api/v1/alerts``: what the operator was told."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    severity: Severity = Severity.high
    title: str = Field(min_length=3, max_length=200)
    description: str = Field("", max_length=4000)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    district: str | None = Field(None, max_length=128)
    reporter: str | None = Field(None, max_length=200, description="who called, if they gave a name or number")
    photo_jpeg_b64: str | None = Field(None, description="a JPEG photo from the caller, base64")


def manual_photo(body: ManualAlertBody) -> bytes | None:
    """The report's photo, checked as a scene photo is (:class:`CommandError`, 400, when unusable)."""
    return decode_jpeg_b64(body.photo_jpeg_b64) if body.photo_jpeg_b64 else None


def manual_incident(
    body: ManualAlertBody, actor: str, now: datetime, manual_types: list[str], photo_id: str | None = None
) -> Incident:
    """The incident of a manual report; :class:`CommandError` (400) for a type that cannot be raised
    by hand. A photo is not carried inside (up to 5 MB: more than a Kafka record holds): alerting
    stores it in ``alert_photos`` and the incident names it, ``evidence.photo_id``."""
    if body.type not in manual_types:
        raise CommandError(f"type {body.type!r} cannot be raised by hand; types: {', '.join(manual_types)}")
    evidence: dict[str, object] = {"description": body.description, "raised_by": actor}
    if body.reporter:
        evidence["reporter"] = body.reporter
    if photo_id is not None:
        evidence["photo_id"] = photo_id
    report_id = str(uuid.uuid4())
    return Incident(
        id=report_id,
        type=body.type,
        source=f"report-{report_id[:8]}",
        source_kind="manual",
        rule="manual",
        ts=now,
        detected_at=now,
        severity=body.severity,
        confidence=1.0,
        location=Location(lat=body.lat, lon=body.lon, district=body.district),
        title=body.title,
        evidence=evidence,
    )
