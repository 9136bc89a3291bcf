"""Response models of the alerting API that the console serves too (the audit, the delivery log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEntry(BaseModel):
    """One change of an alert: who, when, what and why."""

    version: int
    change: str
    actor: str
    at: datetime
    detail: dict[str, Any]


class DeliverySummary(BaseModel):
    """One push about an alert and where it stands."""

    id: str
    kind: str
    channel: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class Attempt(BaseModel):
    """One try of one push."""

    attempt: int
    at: datetime
    outcome: str
    status_code: int | None
    detail: str | None


class DeliveryLog(DeliverySummary):
    """A push with the alert version that caused it and every attempt."""

    alert_version: int
    log: list[Attempt]
