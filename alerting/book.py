"""The alert book: turns incidents into alert changes (pure logic, no I/O).

* **Identity and dedup.** One open alert per identity (by default source + type + zone; see
  :class:`~alerting.config.AlertingConfig`): a repeat counts on the open alert (count, last seen,
  latest evidence) instead of opening another. A ``cleared`` incident marks the condition inactive
  but leaves the alert open for an operator to resolve.
* **Reopen.** A *resolved* alert that fires again within ``reopen_window_s`` reopens (status
  ``new`` again) instead of opening a duplicate; a *closed* alert is final.
* **Flapping.** A condition raised again ``max_transitions`` times within ``window_s`` (after
  clears or resolutions) marks its alert ``flapping``: it keeps counting, but notifications are
  damped until it has been quiet for ``window_s``.
* **Priority** 1 (most urgent) to 4, explained in words: the incident's severity (the more severe
  of it and the type's configured base severity; the zone's or sensor's criticality is already in
  it), one lower for low detector confidence or for a camera detection no classifier checked, one
  higher for corroboration (another source in the same district within the window) and for the
  type's night hours. A worse repeat raises an open alert's priority, never lowers it.
* **Correlation** rules (data in the config) raise an alert of their own when open alerts from
  different sources match every clause in the same district (or zone) within a time window.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerting.config import AlertingConfig, AlertMatch, CorrelationRule
from alerting.schemas import Alert, AlertStatus
from alerting.silences import Silence, suppression
from detectors.schemas import Incident, Phase, Severity

Identity = tuple[str, ...]

_SEVERITY_OF_PRIORITY = {1: Severity.critical, 2: Severity.high, 3: Severity.medium, 4: Severity.low}
_RECENT_PER_DISTRICT = 4096
_CORROBORATION_SCAN = 256  # entries looked at per incident, newest first
# Evidence kept on the alert: what an operator needs to find the evidence, not the inline JPEG.
_EVIDENCE_DROPPED = frozenset({"snapshot_jpeg_b64"})


def district_of(alert: Alert | Incident) -> str | None:
    return alert.location.district if alert.location is not None else None


class AlertBook:
    """Open (and recently resolved) alerts by identity; :meth:`apply` returns the alerts an incident changed."""

    def __init__(
        self,
        config: AlertingConfig,
        tz: ZoneInfo,
        clock: Callable[[], datetime],
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        sensor_criticality: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        # Cameras carry their zone's criticality in the incident's severity; sensors get theirs here.
        self.sensor_criticality = dict(sensor_criticality or {})
        self.tz = tz
        self.clock = clock
        self.new_id = new_id
        self.open: dict[Identity, Alert] = {}
        self.resolved: dict[Identity, Alert] = {}  # resolved alerts that may still reopen
        self.silences: dict[str, Silence] = {}  # current and future silences (expired ones are dropped)
        self._raises: dict[Identity, deque[datetime]] = {}  # when each condition was raised again
        # Per district, the alerts that changed most recently (newest last), for corroboration
        # without scanning every open alert on every incident.
        self._recent: dict[str, deque[tuple[datetime, str, Identity]]] = {}
        self._keys: dict[str, Identity] = {}  # alert id -> identity, filled by find()

    # -- identity ----------------------------------------------------------------------------------
    def identity(self, item: Alert | Incident) -> Identity:
        if isinstance(item, Alert) and item.source_kind == "correlation":
            return ("correlation", item.source, item.type)
        values = {"source": item.source, "type": item.type, "zone": item.zone or "", "district": district_of(item)}
        return tuple(str(values[field] or "") for field in self.config.identity)

    def load(self, alerts: Sequence[Alert]) -> None:
        """Start from the stored alerts (open ones, and resolved ones still inside the reopen window)."""
        for alert in alerts:
            self.put(alert)

    def put(self, alert: Alert) -> None:
        """Keep the book in step with a change made elsewhere (an operator's command)."""
        key = self.identity(alert)
        if alert.is_open:
            self.open[key] = alert
            self.resolved.pop(key, None)
            return
        if self.open.get(key, alert).id == alert.id:
            self.open.pop(key, None)
        if alert.status is AlertStatus.resolved:
            self.resolved[key] = alert
        elif key in self.resolved and self.resolved[key].id == alert.id:
            del self.resolved[key]

    def find(self, alert_id: str) -> Alert | None:
        """An open or recently resolved alert by id."""
        key = self._keys.get(alert_id)  # an alert's identity never changes, so this cache stays true
        if key is not None:
            for alert in (self.open.get(key), self.resolved.get(key)):
                if alert is not None and alert.id == alert_id:
                    return alert
        for alert in (*self.open.values(), *self.resolved.values()):
            if alert.id == alert_id:
                self._keys[alert_id] = self.identity(alert)
                return alert
        return None

    # -- incidents ---------------------------------------------------------------------------------
    def apply(self, incident: Incident) -> list[Alert]:
        """The alerts this incident changed (its own first, then any correlation it completed)."""
        key = self.identity(incident)
        current = self.open.get(key)
        now = self.clock()
        if incident.phase is Phase.cleared:
            if current is None or not current.condition_active:
                return []
            updated = self._bump(
                current,
                now,
                "cleared",
                condition_active=False,
                last_incident_id=incident.id,
                last_correlation_id=incident.correlation_id,
            )
            self.open[key] = updated
            return [updated]

        if current is None:
            resolved = self.resolved.get(key)
            window = timedelta(seconds=self.config.reopen_window_s)
            if resolved is not None and resolved.resolved_at is not None and now - resolved.resolved_at <= window:
                updated = self._reopen(resolved, incident, key, now)
                del self.resolved[key]
            else:
                updated = self._open(incident, now)
        else:
            if not current.condition_active:
                self._note_raise(key, now)
            updated = self._repeat(current, incident, key, now)
        updated = self._with_suppression(updated, now)
        self.open[key] = updated
        self._remember(key, updated)
        return [updated, *self._correlate(updated, now)]

    # -- suppression -------------------------------------------------------------------------------
    def _with_suppression(self, alert: Alert, now: datetime) -> Alert:
        """The alert with ``suppressed``/``suppressed_by`` as silences and inhibition say now."""
        rules = self.config.inhibit_rules
        if not (self.silences or rules or alert.suppressed):
            return alert  # the common case, and the hot path under load: nothing can suppress it
        by = suppression(alert, list(self.silences.values()), list(self.open.values()) if rules else [], rules, now)
        if by == alert.suppressed_by:
            return alert
        return alert.model_copy(update={"suppressed": bool(by), "suppressed_by": by})

    def resuppress(self) -> list[Alert]:
        """Re-evaluate every open alert after silences or inhibiting alerts changed; returns the changed ones."""
        now = self.clock()
        for silence_id in [s.id for s in self.silences.values() if s.ended_at or s.ends_at <= now]:
            del self.silences[silence_id]
        changed = []
        for key, alert in list(self.open.items()):
            updated = self._with_suppression(alert, now)
            if updated is alert:
                continue
            change = "suppressed" if updated.suppressed else "unsuppressed"
            if updated.suppressed and alert.suppressed:
                change = "suppressed"  # suppressed for other reasons than before
            updated = self._bump(updated, now, change)
            self.open[key] = updated
            changed.append(updated)
        return changed

    def _open(self, incident: Incident, now: datetime) -> Alert:
        priority, reason = self.priority(incident, 1)
        return Alert(
            id=self.new_id(),
            status=AlertStatus.new,
            priority=priority,
            priority_reason=reason,
            severity=_SEVERITY_OF_PRIORITY[priority],
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
            last_correlation_id=incident.correlation_id,
            version=1,
            change="opened",
            updated_at=now,
            confidence=incident.confidence,
            object_class=incident.object_class,
            evidence=_evidence(incident),
        )

    def _repeat(self, current: Alert, incident: Incident, key: Identity, now: datetime) -> Alert:
        fields = self._raised_again(current, incident, key, now)
        if current.priority < fields["priority"]:  # never lower an open alert's priority
            fields.update(
                priority=current.priority,
                priority_reason=current.priority_reason,
                severity=_SEVERITY_OF_PRIORITY[current.priority],
            )
        return self._bump(current, now, "repeated", **fields)

    def _reopen(self, resolved: Alert, incident: Incident, key: Identity, now: datetime) -> Alert:
        self._note_raise(key, now)
        fields = self._raised_again(resolved, incident, key, now)
        return self._bump(
            resolved,
            now,
            "reopened",
            **fields,
            status=AlertStatus.new,
            acknowledged_by=None,
            acknowledged_at=None,
            resolved_at=None,
            escalation_level=0,
        )

    def _raised_again(self, alert: Alert, incident: Incident, key: Identity, now: datetime) -> dict[str, Any]:
        """What a new incident of the same condition changes on its alert."""
        count = alert.count + 1
        priority, reason = self.priority(incident, count)
        return {
            "count": count,
            "last_seen": max(alert.last_seen, incident.ts),
            "priority": priority,
            "priority_reason": reason,
            "severity": _SEVERITY_OF_PRIORITY[priority],
            "title": incident.title,
            "condition_active": True,
            "last_incident_id": incident.id,
            "last_correlation_id": incident.correlation_id,
            "location": incident.location or alert.location,
            "confidence": incident.confidence,
            "object_class": incident.object_class,
            "evidence": _evidence(incident),
            "flapping": self._flapping(key, now),
        }

    @staticmethod
    def _bump(alert: Alert, now: datetime, change: str, **fields: Any) -> Alert:
        return alert.model_copy(update={**fields, "version": alert.version + 1, "change": change, "updated_at": now})

    def _note_raise(self, key: Identity, now: datetime) -> None:
        self._raises.setdefault(key, deque()).append(now)

    def _flapping(self, key: Identity, now: datetime) -> bool:
        raises = self._raises.get(key)
        if not raises:
            return False
        window = timedelta(seconds=self.config.flapping.window_s)
        while raises and now - raises[0] > window:
            raises.popleft()
        return len(raises) >= self.config.flapping.max_transitions

    # -- priority ----------------------------------------------------------------------------------
    def priority(self, incident: Incident, count: int) -> tuple[int, str]:
        """Priority 1..4 of an incident and the words that explain it."""
        config = self.config
        policy = config.types.get(incident.type)
        severity = incident.severity
        if policy is not None and policy.severity is not None and policy.severity.priority < severity.priority:
            severity = policy.severity
        priority = severity.priority
        what = config.type_name(incident.type)
        if incident.object_class:
            what += f" ({incident.object_class})"
        if incident.confidence is not None and incident.confidence < 1:
            what += f" {incident.confidence:.2f}"
        where = incident.source + (f" in {district_of(incident)}" if district_of(incident) else "")
        if incident.zone:
            where += f" ({incident.zone})"
        raised: list[str] = []
        lowered: list[str] = []
        if incident.confidence is None:
            priority += 1
            lowered.append("motion only, no object check: one lower")
        elif incident.confidence < config.confidence_floor:
            priority += 1
            lowered.append(f"confidence under {config.confidence_floor:.2f}: one lower")
        criticality = self.sensor_criticality.get(incident.source) if incident.source_kind == "sensor" else None
        if criticality == "critical":
            priority -= 1
            raised.append("critical site")
        elif criticality == "low":
            priority += 1
            lowered.append("low-criticality site: one lower")
        corroborating = self._corroborating(incident)
        if corroborating is not None:
            priority -= 1
            minutes = config.corroboration_window_s / 60
            raised.append(
                f"{config.type_name(corroborating.type)} on {corroborating.source} in the same district "
                f"within {minutes:.0f} min"
            )
        local = incident.ts.astimezone(self.tz).time()
        if config.night is not None and config.night.applies(incident.type, local):
            priority -= 1
            raised.append(f"night hours ({local:%H:%M})")
        priority = min(max(priority, 1), 4)
        text = f"P{priority}: {severity.value} {what} at {where}"
        if raised:
            text += " + " + " + ".join(raised)
        if lowered:
            text += "; " + "; ".join(lowered)
        if count > 1:
            text += f"; repeated {count} times"
        return priority, text

    def _remember(self, key: Identity, alert: Alert) -> None:
        district = district_of(alert)
        if district is None or alert.source_kind == "correlation":
            return
        recent = self._recent.setdefault(district, deque(maxlen=_RECENT_PER_DISTRICT))
        if not recent or recent[-1][2] != key:  # a run of repeats is one entry
            recent.append((alert.last_seen, alert.source, key))

    def _corroborating(self, incident: Incident) -> Alert | None:
        """The most recent active alert from another source in the incident's district, within the window."""
        district = district_of(incident)
        window = timedelta(seconds=self.config.corroboration_window_s)
        recent = self._recent.get(district) if district is not None else None
        if not recent or window <= timedelta(0):
            return None
        checked: set[Identity] = set()
        for index, (last_seen, source, key) in enumerate(reversed(recent)):
            if incident.ts - last_seen > window or index >= _CORROBORATION_SCAN:
                break
            if source == incident.source or key in checked:
                continue
            checked.add(key)
            other = self.open.get(key)
            if (
                other is not None
                and other.condition_active
                and not other.suppressed  # a silenced source (maintenance) corroborates nothing
                and district_of(other) == district
                and abs(incident.ts - other.last_seen) <= window
            ):
                return other
        return None

    # -- correlation -------------------------------------------------------------------------------
    def _correlate(self, trigger: Alert, now: datetime) -> list[Alert]:
        if trigger.source_kind == "correlation":
            return []
        out = []
        for rule in self.config.correlations:
            alert = self._correlate_rule(rule, trigger, now)
            if alert is not None:
                alert = self._with_suppression(alert, now)
                self.open[self.identity(alert)] = alert
                out.append(alert)
        return out

    def _correlate_rule(self, rule: CorrelationRule, trigger: Alert, now: datetime) -> Alert | None:
        if not any(_matches(clause, trigger) for clause in rule.when):
            return None
        value = _group_value(rule, trigger)
        if value is None:
            return None
        window = timedelta(seconds=rule.within_s)
        candidates = sorted(
            (
                a
                for a in self.open.values()
                if a.source_kind != "correlation"
                and a.condition_active
                and _group_value(rule, a) == value
                and abs(a.last_seen - trigger.last_seen) <= window
            ),
            key=lambda a: (a.id != trigger.id, -a.last_seen.timestamp()),  # the trigger first, then the newest
        )
        members: list[Alert] = []
        for clause in rule.when:
            used_sources = {m.source for m in members}
            pick = next((a for a in candidates if a.source not in used_sources and _matches(clause, a)), None)
            if pick is None:
                return None
            members.append(pick)
        action = rule.then
        source = f"{rule.name}@{value}"
        current = self.open.get(("correlation", source, action.type))
        related = sorted({m.id for m in members} | set(current.related if current else ()))
        reason = f"P{action.priority}: {self.config.type_name(action.type)} ({rule.name}): " + " + ".join(
            f"{self.config.type_name(m.type)} on {m.source}" for m in members
        )
        reason += f" in the same {rule.same} within {rule.within_s / 60:.0f} min"
        if current is not None:
            if set(related) == set(current.related):
                return None  # nothing new joined: the correlation alert stays as it is
            return self._bump(
                current,
                now,
                "correlated",
                related=related,
                count=current.count + 1,
                last_seen=max(m.last_seen for m in members),
                priority_reason=reason,
                last_incident_id=trigger.last_incident_id,
                last_correlation_id=trigger.last_correlation_id,
            )
        title = action.title.format(
            type=self.config.type_name(action.type), district=value, zone=trigger.zone or "", rule=rule.name
        )
        return Alert(
            id=self.new_id(),
            status=AlertStatus.new,
            priority=action.priority,
            priority_reason=reason,
            severity=_SEVERITY_OF_PRIORITY[action.priority],
            type=action.type,
            source=source,
            source_kind="correlation",
            zone=trigger.zone if rule.same == "zone" else None,
            title=title,
            location=trigger.location,
            first_seen=min(m.first_seen for m in members),
            last_seen=max(m.last_seen for m in members),
            count=1,
            condition_active=True,
            last_incident_id=trigger.last_incident_id,
            last_correlation_id=trigger.last_correlation_id,
            version=1,
            change="opened",
            updated_at=now,
            correlation_rule=rule.name,
            related=related,
        )


def _matches(clause: AlertMatch, alert: Alert) -> bool:
    return (
        (not clause.types or alert.type in clause.types)
        and (not clause.source_kinds or alert.source_kind in clause.source_kinds)
        and (not clause.sources or alert.source in clause.sources)
        and (not clause.zones or (alert.zone or "") in clause.zones)
        and alert.priority <= clause.max_priority
    )


def _group_value(rule: CorrelationRule, alert: Alert) -> str | None:
    return district_of(alert) if rule.same == "district" else alert.zone


def _evidence(incident: Incident) -> dict[str, Any]:
    return {k: v for k, v in incident.evidence.items() if k not in _EVIDENCE_DROPPED} | {"incident_id": incident.id}
