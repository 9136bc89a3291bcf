"""Wire contract of alerts, owned by the alerting stage (the single writer of alert state).

Topic ``pantau.alerts.v1``, key: the alert id, value: the alert's full current state after a change.
The topic is compacted and has one partition, so its offsets order every change; consumers keep the
highest ``version`` they have seen per alert and ignore older or repeated messages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from detectors.schemas import Severity
from ingest.schemas import Location
from pantau.contract import Contract, Line
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

ChangeKind = Literal[
    "opened",
    "repeated",
    "cleared",
    "reopened",
    "acknowledged",
    "assigned",
    "resolved",
    "closed",
    "noted",
    "responder",
    "suppressed",
    "unsuppressed",
    "escalated",
    "correlated",
    "sop",
    "restored",  # set again from the database after a restore left the topic ahead of it (alerting/reconcile.py)
]
CloseReason = Literal["handled", "false_alarm", "duplicate", "test"]
ResponderStatus = Literal["notified", "en_route", "on_scene", "done", "stood_down"]


class Alert(Contract):
    """An alert's current state: what operators see and act on."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    schema_version: ClassVar[int] = SCHEMA_VERSION

    id: Line
    status: AlertStatus
    priority: int = Field(ge=1, le=4, description="1 is the most urgent")
    priority_reason: Line = Field(description="why this priority, in words an operator reads")
    severity: Severity
    type: Line
    source: Line
    source_kind: Literal["sensor", "camera", "manual", "correlation"]
    zone: Line | None = None
    title: Line
    location: Location | None = None
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    count: int = Field(ge=1, description="incidents merged into this alert")
    condition_active: bool = Field(True, description="false once the rule reported the condition cleared")
    last_incident_id: Line
    last_correlation_id: Line | None = Field(
        None, description="the latest incident's correlation id: the reading or frame that triggered it"
    )
    version: int = Field(ge=1, description="increases by one on every change")
    change: ChangeKind
    updated_at: AwareDatetime
    # Lifecycle (commands from operators and responders).
    acknowledged_by: Line | None = None
    acknowledged_at: AwareDatetime | None = None
    assignee: Line | None = Field(None, description="responder or team the alert is assigned to")
    responders: dict[Line, ResponderStatus] = Field(
        default_factory=dict, description="each notified or assigned responder's last reported status"
    )
    resolved_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    close_reason: CloseReason | None = None
    notes: int = Field(0, ge=0, description="how many notes operators added (texts are in the audit)")
    sop_done: dict[Line, Line] = Field(
        default_factory=dict, description="standard operating procedure steps checked: step id -> who checked it"
    )
    # Why it is (not) being pushed to anyone.
    suppressed: bool = Field(False, description="matched by a silence or inhibited: stored and shown, not pushed")
    suppressed_by: list[Line] = Field(default_factory=list, description="silence ids and inhibiting alert ids")
    flapping: bool = Field(False, description="cleared and raised again too often: notifications are damped")
    escalation_level: int = Field(0, ge=0, description="escalation tiers notified so far (0: first responders)")
    # Correlation: an alert raised by a correlation rule lists the alerts it was made from.
    correlation_rule: Line | None = None
    related: list[Line] = Field(default_factory=list, description="ids of the alerts this one correlates")
    confidence: float | None = Field(
        1.0,
        ge=0,
        le=1,
        description="the detector's confidence in the latest incident; null: a camera detection no classifier checked",
    )
    object_class: Line | None = Field(None, description="what the object detector saw in the latest incident")
    evidence: dict[str, Any] = Field(
        default_factory=dict, description="latest incident's evidence, without the inline snapshot"
    )

    def key(self) -> bytes:
        return self.id.encode()

    @property
    def is_open(self) -> bool:
        return self.status.is_open
