"""Which pushes an alert change (or the passing of time) causes: the deliveries to write.

Pure logic over the alert, the routing config and what was already sent; the engine writes the
deliveries it returns in the same transaction as the alert change (the delivery outbox), and the
dispatcher sends them.

* A new or reopened alert (and an open one whose priority became more urgent, or that a silence
  or an inhibition no longer holds back) goes to the first tier of the first matching route,
  unless it is suppressed or flapping, or the route's quiet hours hold a P2-P4 until they end.
* While nobody acknowledges, :func:`alerting.routing.plan` drives reminders and escalation to the
  next tiers (checked every second by the engine's timer).
* Assigning an alert notifies the assignee (a responder, or every member of a group).
* Resolving or closing it sends a stand-down to everyone who was notified.

Each responder is reached on each of their channels; on a Web Push channel, on each browser they
subscribed. A delivery's id (the receivers' idempotency key) derives from what caused it, so a
replay of the same change writes the same deliveries, which the table ignores.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerting.channels.base import Notification, NotificationKind
from alerting.routing import Responder, Route, RoutingConfig, hold_until, plan, recipients, route_for
from alerting.schemas import Alert

_DELIVERY_NAMESPACE = uuid.UUID("0b7a5a52-63a4-4f43-9c55-3c3b9d1d2a10")
_NOTIFY_CHANGES = frozenset({"opened", "reopened"})
_STAND_DOWN_CHANGES = frozenset({"resolved", "closed"})
_PREFIXES = {"alert": "", "reminder": "Reminder: ", "escalation": "Escalated: ", "stand_down": "Stand down: "}


@dataclass(frozen=True)
class RoutingState:
    """Where an alert's escalation chain stands (a row of ``alert_routing``)."""

    alert_id: str
    route: int  # index into the configured routes
    level: int  # last tier notified
    notified_at: datetime  # when that tier was notified (or fell due, if quiet hours held it)
    last_reminder_at: datetime | None = None
    priority: int = 4  # the alert's priority when it was last announced


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to write to ``alert_deliveries``."""

    id: str
    alert_id: str
    alert_version: int
    kind: str
    channel: str
    recipient: str
    target: dict[str, Any] | None
    priority: int
    notification: Notification


@dataclass(frozen=True)
class Outcome:
    """What one alert change or timer tick causes."""

    deliveries: list[NewDelivery]
    state: RoutingState | None  # the routing state to keep (None with ``drop_state``: delete it)
    drop_state: bool = False
    escalated_to: int | None = None  # the alert itself must record a new escalation level


class Notifier:
    """Turns alert changes and timer ticks into deliveries; see the module docstring."""

    def __init__(
        self,
        routing: RoutingConfig,
        channel_types: Mapping[str, str],
        tz: ZoneInfo,
        console_url: str,
        type_name: Any = None,
    ) -> None:
        self.routing = routing
        self.channel_types = dict(channel_types)  # channel name -> "webhook", "webpush", ...
        self.tz = tz
        self.console_url = console_url.rstrip("/")
        self.type_name = type_name or (lambda t: t.replace("_", " "))

    # -- alert changes -----------------------------------------------------------------------------
    def on_change(
        self,
        alert: Alert,
        state: RoutingState | None,
        subscriptions: Mapping[str, Sequence[dict[str, Any]]],
        notified: Sequence[tuple[str, str, dict[str, Any] | None]],
        now: datetime,
    ) -> Outcome:
        if alert.change in _STAND_DOWN_CHANGES:
            deliveries = [
                self._delivery(alert, "stand_down", channel, recipient, target, now, salt=alert.change)
                for channel, recipient, target in notified
            ]
            return Outcome(deliveries, None, drop_state=state is not None)
        if alert.change == "assigned" and alert.assignee:
            people = self._assignees(alert.assignee)
            return Outcome(self._to(people, alert, "alert", subscriptions, now, salt="assigned"), state)
        if alert.suppressed or (alert.flapping and alert.change != "opened"):
            return Outcome([], state)
        if state is not None and alert.change in ("repeated", "correlated") and alert.priority < state.priority:
            # It became more urgent: tell everyone notified so far.
            route = self.routing.routes[state.route] if state.route < len(self.routing.routes) else None
            if route is None:
                return Outcome([], state)
            people = _unique([p for t in range(state.level + 1) for p in recipients(route, t, self.routing)])
            deliveries = self._to(people, alert, "alert", subscriptions, now, salt=f"urgent|{alert.priority}")
            return Outcome(deliveries, replace(state, priority=alert.priority))
        if not (alert.change in _NOTIFY_CHANGES or (alert.change == "unsuppressed" and state is None)):
            return Outcome([], state)
        route_index = self._route_index(alert, now)
        if route_index is None:
            return Outcome([], state)
        route = self.routing.routes[route_index]
        new_state = RoutingState(alert.id, route_index, 0, now, None, alert.priority)
        if hold_until(alert, route, now, self.tz) is not None:
            return Outcome([], new_state)  # the timer releases it when the quiet hours end
        people = recipients(route, 0, self.routing)
        return Outcome(self._to(people, alert, "alert", subscriptions, now, salt=alert.change), new_state)

    # -- timers ------------------------------------------------------------------------------------
    def on_tick(
        self, alert: Alert, state: RoutingState, subscriptions: Mapping[str, Sequence[dict[str, Any]]], now: datetime
    ) -> Outcome:
        if not 0 <= state.route < len(self.routing.routes):
            return Outcome([], None, drop_state=True)  # the config changed under it
        route = self.routing.routes[state.route]
        level = min(state.level, len(route.tiers) - 1)
        steps = plan(
            alert,
            route,
            self.tz,
            notified_at=state.notified_at,
            level=level,
            last_reminder_at=state.last_reminder_at,
            now=now,
        )
        due = [step for step in steps if step.at <= now]
        if not due:
            return Outcome([], state)
        step = due[0]  # one step per tick: the next plan counts from what this one did
        stamp = now.isoformat()
        if step.kind == "release":
            people = recipients(route, step.tier, self.routing)
            deliveries = self._to(people, alert, "alert", subscriptions, now, salt=f"release|{stamp}")
            return Outcome(deliveries, replace(state, notified_at=now, last_reminder_at=None))
        if step.kind == "escalate":
            people = recipients(route, step.tier, self.routing)
            deliveries = self._to(people, alert, "escalation", subscriptions, now, salt=f"escalate|{step.tier}")
            return Outcome(deliveries, replace(state, level=step.tier, notified_at=now), escalated_to=step.tier)
        people = _unique([p for tier in range(step.tier + 1) for p in recipients(route, tier, self.routing)])
        deliveries = self._to(people, alert, "reminder", subscriptions, now, salt=f"remind|{stamp}")
        return Outcome(deliveries, replace(state, last_reminder_at=now))

    def next_due(self, alert: Alert, state: RoutingState, now: datetime) -> datetime | None:
        """When the escalation chain next has something to do (None: nothing, it has stopped)."""
        if not 0 <= state.route < len(self.routing.routes):
            return now  # the config changed under it: the timer drops it
        route = self.routing.routes[state.route]
        steps = plan(
            alert,
            route,
            self.tz,
            notified_at=state.notified_at,
            level=min(state.level, len(route.tiers) - 1),
            last_reminder_at=state.last_reminder_at,
            now=now,
        )
        return steps[0].at if steps else None

    # -- building deliveries -----------------------------------------------------------------------
    def _route_index(self, alert: Alert, now: datetime) -> int | None:
        route = route_for(alert, self.routing, now, self.tz)
        return None if route is None else _index_of(self.routing.routes, route)

    def _assignees(self, assignee: str) -> list[Responder]:
        people = [r for r in self.routing.responders if r.id == assignee]
        return people or [r for r in self.routing.responders if assignee in r.groups]

    def _to(
        self,
        people: Sequence[Responder],
        alert: Alert,
        kind: NotificationKind,
        subscriptions: Mapping[str, Sequence[dict[str, Any]]],
        now: datetime,
        *,
        salt: str,
    ) -> list[NewDelivery]:
        out = []
        for person in people:
            for channel in person.channels:
                if self.channel_types.get(channel) == "webpush":
                    for subscription in subscriptions.get(person.id, ()):
                        out.append(self._delivery(alert, kind, channel, person.id, subscription, now, salt=salt))
                elif channel in self.channel_types:
                    out.append(self._delivery(alert, kind, channel, person.id, None, now, salt=salt))
        return out

    def _delivery(
        self,
        alert: Alert,
        kind: NotificationKind,
        channel: str,
        recipient: str,
        target: dict[str, Any] | None,
        now: datetime,
        *,
        salt: str,
    ) -> NewDelivery:
        endpoint = str(target.get("endpoint", "")) if target else ""
        key = f"{alert.id}|{alert.version}|{kind}|{channel}|{recipient}|{endpoint}|{salt}"
        delivery_id = str(uuid.uuid5(_DELIVERY_NAMESPACE, key))
        return NewDelivery(
            delivery_id,
            alert.id,
            alert.version,
            kind,
            channel,
            recipient,
            target,
            alert.priority,
            self.notification(alert, kind, delivery_id, now),
        )

    def notification(self, alert: Alert, kind: NotificationKind, delivery_id: str, now: datetime) -> Notification:
        what = self.type_name(alert.type)
        prefix = {"alert": "", "reminder": "Reminder: ", "escalation": "Escalated: ", "stand_down": "Stand down: "}[
            kind
        ]
        where = alert.location.district if alert.location and alert.location.district else alert.source
        body = alert.priority_reason
        if kind == "stand_down":
            body = f"{alert.title} is {alert.status.value}" + (f" ({alert.close_reason})" if alert.close_reason else "")
        incident_id = alert.evidence.get("incident_id")
        snapshot = (
            f"{self.console_url}/api/v1/incidents/{incident_id}/snapshot"
            if incident_id and alert.source_kind == "camera"
            else None
        )
        return Notification(
            delivery_id=delivery_id,
            alert_id=alert.id,
            kind=kind,
            title=f"{prefix}P{alert.priority} {what} — {where}",
            body=body,
            priority=alert.priority,
            lat=alert.location.lat if alert.location else None,
            lon=alert.location.lon if alert.location else None,
            district=alert.location.district if alert.location else None,
            snapshot_url=snapshot,
            link=f"{self.console_url}/alerts/{alert.id}",
            alert=alert.model_dump(mode="json"),
            created_at=now,
        )


def _index_of(routes: Sequence[Route], route: Route) -> int:
    for index, candidate in enumerate(routes):
        if candidate is route:
            return index
    return routes.index(route)


def _unique(people: list[Responder]) -> list[Responder]:
    seen: dict[str, Responder] = {}
    for person in people:
        seen.setdefault(person.id, person)
    return list(seen.values())
