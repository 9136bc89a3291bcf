"""Wire contract of incidents, owned by the detectors stage.

Topic ``pantau.incidents.v1``, key: the source (camera or sensor id), value: one JSON incident.
An incident's ``id`` is derived from what caused it (rule, source, triggering timestamp), so a
detector that replays the same input after a crash emits the same id and every sink stays idempotent.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from ingest.schemas import Location
from pantau.contract import Contract, Line
from pantau.topics import TopicSpec

SCHEMA_VERSION = 1
TOPIC_INCIDENTS = f"pantau.incidents.v{SCHEMA_VERSION}"
INCIDENTS_TOPIC = TopicSpec(TOPIC_INCIDENTS, partitions=4)
# Every crossing of a counting line (both directions, whether or not the zone is armed or alerts on
# it): what the planners' vehicle and people counts are made of. Keyed by camera id.
TOPIC_LINE_CROSSINGS = f"pantau.line-crossings.v{SCHEMA_VERSION}"
LINE_CROSSINGS_TOPIC = TopicSpec(TOPIC_LINE_CROSSINGS, partitions=4)
# COCO class names as the object detectors give them ("person", "car", "traffic light").
OBJECT_CLASS_PATTERN = r"^[a-z][a-z ]{0,31}$"
# Internal to the detectors: the sensor rules' per-sensor state, one partition per readings partition,
# compacted so a worker that takes over a partition restores the state the last owner committed.
TOPIC_DETECTOR_STATE = f"pantau.detector-state.v{SCHEMA_VERSION}"

_INCIDENT_NAMESPACE = uuid.UUID("6f1c1d2e-8f0b-4d52-9b7e-2d1f3a0c9e11")


class Severity(StrEnum):
    """How bad an incident is; maps one-to-one onto alert priorities 1 (critical) to 4 (low)."""

    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"

    @property
    def priority(self) -> int:
        return _PRIORITY[self]


_PRIORITY = {Severity.critical: 1, Severity.high: 2, Severity.medium: 3, Severity.low: 4}


class Phase(StrEnum):
    """Whether the condition started (``raised``) or ended (``cleared``)."""

    raised = "raised"
    cleared = "cleared"


def incident_id(rule: str, source: str, phase: Phase, trigger_ts: AwareDatetime) -> str:
    """A deterministic id: the same cause always gives the same id."""
    return str(uuid.uuid5(_INCIDENT_NAMESPACE, f"{rule}|{source}|{phase.value}|{trigger_ts.isoformat()}"))


class Incident(Contract):
    """Something a detector or sensor rule saw that an operator may need to act on."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    schema_version: ClassVar[int] = SCHEMA_VERSION

    id: Line = Field(min_length=1, max_length=64)
    type: Line = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="e.g. water_level_high, intrusion")
    source: Line = Field(min_length=1, max_length=128, description="camera or sensor id")
    source_kind: Literal["sensor", "camera", "manual"] = Field(
        description="manual: raised by an operator from a phone call or a citizen's report"
    )
    rule: Line = Field(min_length=1, max_length=128, description="name of the rule or detector that fired")
    phase: Phase = Phase.raised
    ts: AwareDatetime = Field(description="when the condition was observed (reading or frame time)")
    detected_at: AwareDatetime = Field(description="when the detector emitted the incident")
    severity: Severity
    confidence: float | None = Field(
        1.0,
        ge=0,
        le=1,
        description=(
            "how sure the detector is: a sensor rule's reading is measured (1); a camera incident's is the "
            "object detector's score for the object; null: a camera without object confirmation (motion only, "
            "nobody computed one)"
        ),
    )
    object_class: Line | None = Field(
        None, pattern=OBJECT_CLASS_PATTERN, description="camera incidents: what the object detector saw (COCO class)"
    )
    zone: Line | None = Field(None, max_length=128)
    location: Location | None = None
    title: Line = Field(max_length=500)
    evidence: dict[str, Any] = Field(default_factory=dict)
    correlation_id: Line | None = Field(
        None,
        max_length=256,
        description=(
            "id of the reading (`<sensor id>@<UTC time>`) or frame (`<camera id>@<session>/<seq>`) that "
            "triggered it, to follow it through the logs; none when a timer raised it (silent sensor, "
            "video loss) or an operator did"
        ),
    )

    def key(self) -> bytes:
        return self.source.encode()


def crossing_id(camera: str, line: str, object_id: int, ts: AwareDatetime) -> str:
    """A deterministic id: a replayed frame gives the same crossing, which sinks store once."""
    return str(uuid.uuid5(_INCIDENT_NAMESPACE, f"crossing|{camera}|{line}|{object_id}|{ts.isoformat()}"))


class LineCrossing(Contract):
    """One object crossing a camera's counting line (``pantau.line-crossings.v1``, produced by the
    camera detectors, key: camera id).

    Every crossing is sent, in both directions, whether or not the zone is armed and whether or not
    the rule raises incidents for it (``line_crossing: {alert: false}`` counts only).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    schema_version: ClassVar[int] = SCHEMA_VERSION

    id: Line = Field(min_length=1, max_length=64)
    camera: Line = Field(min_length=1, max_length=128)
    line: Line = Field(min_length=1, max_length=64, description="the zone whose line_crossing rule counted it")
    direction: Literal["in", "out"] = Field(description="in: from the line's left side to its right")
    object_class: Line | None = Field(
        None, pattern=OBJECT_CLASS_PATTERN, description="COCO class; null: a camera without object confirmation"
    )
    score: float | None = Field(None, ge=0, le=1, description="the object detector's score; null as above")
    object_id: int = Field(ge=0, le=2**63 - 1, description="the tracked object's id on this camera")
    ts: AwareDatetime = Field(description="time of the frame on which the object crossed")
    location: Location | None = None

    def key(self) -> bytes:
        return self.camera.encode()
