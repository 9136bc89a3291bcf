"""The alert book: turns incidents into alert changes (pure logic, no I/O).

One open alert per identity (source + type + zone): a repeat of the same condition counts on the
open alert instead of opening another; a ``cleared`` incident marks the condition inactive but
leaves the alert open for an operator to resolve. Priority 1 (most urgent) to 4 comes from the
incident's severity; a worse repeat raises the alert's priority, never lowers it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from alerting.schemas import Alert, AlertStatus
from detectors.schemas import Incident, Phase, Severity

Identity = tuple[str, str, str]


def identity_of(source: str, type_: str, zone: str | None) -> Identity:
    return (source, type_, zone or "")


def explain_priority(severity: Severity, incident: Incident, count: int) -> str:
    """Why an alert has its priority, in words an operator reads at a glance."""
    where = incident.source
    if incident.location is not None and incident.location.district:
        where += f" in {incident.location.district}"
    text = f"P{severity.priority}: {severity.value} {incident.type.replace('_', ' ')} at {where}"
    if incident.confidence < 1:
        text += f" (confidence {incident.confidence:.2f})"
    if count > 1:
        text += f"; repeated {count} times"
    return text


class AlertBook:
    """The open alerts, by identity; :meth:`apply` returns the new state of the alert an incident changed."""

    def __init__(self, clock: Callable[[], datetime], new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.clock = clock
        self.new_id = new_id
        self.open: dict[Identity, Alert] = {}

    def load(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            if alert.is_open:
                self.open[identity_of(alert.source, alert.type, alert.zone)] = alert

    def apply(self, incident: Incident) -> Alert | None:
        key = identity_of(incident.source, incident.type, incident.zone)
        current = self.open.get(key)
        now = self.clock()
        if incident.phase is Phase.cleared:
            if current is None or not current.condition_active:
                return None
            updated = current.model_copy(
                update={
                    "condition_active": False,
                    "version": current.version + 1,
                    "change": "cleared",
                    "last_incident_id": incident.id,
                    "updated_at": now,
                }
            )
        elif current is None:
            updated = Alert(
                id=self.new_id(),
                status=AlertStatus.new,
                priority=incident.severity.priority,
                priority_reason=explain_priority(incident.severity, incident, 1),
                severity=incident.severity,
                type=incident.type,
                source=incident.source,
                source_kind=incident.source_kind,
                zone=incident.zone,
                title=incident.title,
                location=incident.location,
                first_seen=incident.ts,
                last_seen=incident.ts,
                count=1,
                condition_active=True,
                last_incident_id=incident.id,
                version=1,
                change="opened",
                updated_at=now,
            )
        else:
            severity = min(current.severity, incident.severity, key=lambda s: s.priority)
            count = current.count + 1
            updated = current.model_copy(
                update={
                    "count": count,
                    "last_seen": max(current.last_seen, incident.ts),
                    "severity": severity,
                    "priority": severity.priority,
                    "priority_reason": explain_priority(severity, incident, count),
                    "title": incident.title,
                    "condition_active": True,
                    "last_incident_id": incident.id,
                    "location": incident.location or current.location,
                    "version": current.version + 1,
                    "change": "repeated",
                    "updated_at": now,
                }
            )
        self.open[key] = updated
        return updated
