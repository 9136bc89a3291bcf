"""Wire contract of alerts, owned by the alerting stage (the single writer of alert state).

Topic ``pantau.alerts.v1``, key: the alert id, value: the alert's full current state after a change.
The topic is compacted and has one partition, so its offsets order every change; consumers keep the
highest ``version`` they have seen per alert and ignore older or repeated messages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from detectors.schemas import Severity
from ingest.schemas import Location
from pantau.topics import TopicSpec

SCHEMA_VERSION = 1
TOPIC_ALERTS = f"pantau.alerts.v{SCHEMA_VERSION}"
# One partition orders every change (the console numbers them by offset); compaction keeps the
# latest state of each alert so a console replica can rebuild its board from the topic alone.
ALERTS_TOPIC = TopicSpec(
    TOPIC_ALERTS,
    partitions=1,
    configs={"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"},
)


class AlertStatus(StrEnum):
    """Lifecycle of an alert; the first three are *open*."""

    new = "new"
    acknowledged = "acknowledged"
    assigned = "assigned"
    resolved = "resolved"
    closed = "closed"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset({AlertStatus.new, AlertStatus.acknowledged, AlertStatus.assigned})

ChangeKind = Literal["opened", "repeated", "cleared", "reopened", "acknowledged", "assigned", "resolved", "closed"]


class Alert(BaseModel):
    """An alert's current state: what operators see and act on."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    schema_version: ClassVar[int] = SCHEMA_VERSION

    id: str
    status: AlertStatus
    priority: int = Field(ge=1, le=4, description="1 is the most urgent")
    priority_reason: str = Field(description="why this priority, in words an operator reads")
    severity: Severity
    type: str
    source: str
    source_kind: Literal["sensor", "camera"]
    zone: str | None = None
    title: str
    location: Location | None = None
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    count: int = Field(ge=1, description="incidents merged into this alert")
    condition_active: bool = Field(True, description="false once the rule reported the condition cleared")
    last_incident_id: str
    version: int = Field(ge=1, description="increases by one on every change")
    change: ChangeKind
    updated_at: AwareDatetime

    def key(self) -> bytes:
        return self.id.encode()

    @property
    def is_open(self) -> bool:
        return self.status.is_open
