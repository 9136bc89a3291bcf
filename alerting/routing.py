"""Who is notified of an alert, and when it escalates (pure logic: no I/O; the clock and the time zone
are parameters).

Routes are data in the ``alerting:`` section of the configuration file::

    responders:                   # people and the channels that reach them
      - {id: budi, name: Budi Santoso, groups: [rescue-klojen], channels: [webhook-rescue, telegram-rescue]}
    groups:
      - {id: rescue-klojen, name: Rescue team Klojen}
    routes:                       # the first matching route wins (like Alertmanager)
      - name: floods-klojen       # optional, for logs and the audit
        match: {priority_max: 2, types: [flood_risk, water_level_high], districts: [Klojen]}
        hours: always             # or "18:00-06:00" in the config's time zone: the route applies only then
        tiers:                    # notified in turn while nobody acknowledges
          - {groups: [rescue-klojen], ack_deadline_s: 120}
          - {groups: [duty-officers]}                  # no deadline: default_ack_deadline_s by priority
        reminder_every_s: 300     # repeat to every tier notified so far until acknowledged or resolved
        quiet_hours: "22:00-06:00"   # nothing for P2-P4 goes out then; P1 never waits
      - match: {}                 # catch-all
        tiers: [{groups: [duty-officers], ack_deadline_s: 600}]
    default_ack_deadline_s: {1: 60, 2: 300, 3: 900, 4: 3600}   # per priority, when a tier gives none

The escalation chain of one alert is driven by :func:`plan`: it answers with the next step of each
kind (release, escalate, remind); the caller carries out the steps that are due, records what it did
(``escalation_level``, when the tier was notified, when it last reminded) and plans again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.exceptions import AlertingError
from alerting.schemas import Alert, AlertStatus
from detectors.zones.config import Schedule

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DEFAULT_ACK_DEADLINE_S: Mapping[int, int] = {1: 60, 2: 300, 3: 900, 4: 3600}

Priority = Annotated[int, Field(ge=1, le=4)]
Seconds = Annotated[int, Field(gt=0)]


class RoutingError(AlertingError):
    """Routing was asked something it cannot answer (a tier that does not exist, a naive time)."""


class RoutingConfigError(RoutingError, ValueError):
    """The routing configuration is invalid; the message names the route, tier or responder and the key.

    Also a :class:`ValueError` so that, raised inside a pydantic validator, it becomes an ordinary
    validation error with the key path (turned into a :class:`~pantau.exceptions.ConfigError` by
    :mod:`pantau.config`).
    """


def _parse_schedule(value: Any) -> Any:
    # Strings are the config file's form; a Schedule or its dump (a mapping) passes through as is.
    return Schedule.parse(value) if isinstance(value, str) else value


def _is_always(schedule: Schedule) -> bool:
    return schedule.start is None or schedule.end is None


def _require_aware(name: str, moment: datetime) -> None:
    # A naive time would be read in the host's zone, which silently shifts every window.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RoutingError(f"{name} must be timezone-aware, got {moment.isoformat()}")


def _district(alert: Alert) -> str | None:
    return alert.location.district if alert.location is not None else None


class Group(BaseModel):
    """A team that routes notify as a whole (members are the responders listing the group)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)


class Responder(BaseModel):
    """A person, the groups they belong to and the channel ids (see the channels config) that reach them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    groups: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list, description="channel ids, in the order to try them")


class RouteMatch(BaseModel):
    """Which alerts a route takes: every given key must match, within a list any value matches.

    An empty match (``{}``) takes every alert: the catch-all, usually last.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    priority_max: int | None = Field(None, ge=1, le=4, description="only alerts this urgent or more (1 is most)")
    types: list[str] = Field(default_factory=list)
    districts: list[str] = Field(default_factory=list, description="the alert location's district")
    zones: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list, description="camera, sensor or correlation rule ids")

    def matches(self, alert: Alert) -> bool:
        """Whether ``alert`` satisfies every given key (an alert without a district fails ``districts``)."""
        if self.priority_max is not None and alert.priority > self.priority_max:
            return False
        if self.types and alert.type not in self.types:
            return False
        if self.districts and _district(alert) not in self.districts:
            return False
        if self.zones and alert.zone not in self.zones:
            return False
        return not (self.sources and alert.source not in self.sources)


class Tier(BaseModel):
    """One escalation tier: the groups notified together and how long they have to acknowledge."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    groups: list[str] = Field(min_length=1)
    ack_deadline_s: int | None = Field(
        None, gt=0, description="escalate to the next tier this long after notifying this one (null: by priority)"
    )


class Route(BaseModel):
    """Where the alerts it matches go (tier by tier), during which hours, and how insistently."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(None, pattern=ID_PATTERN)
    match: RouteMatch = Field(default_factory=RouteMatch)
    hours: Schedule = Field(default_factory=Schedule, description="'always' or 'HH:MM-HH:MM' in the config zone")
    tiers: list[Tier]
    reminder_every_s: int | None = Field(None, gt=0, description="repeat until acknowledged (null: never)")
    quiet_hours: Schedule | None = Field(None, description="'HH:MM-HH:MM': P2-P4 wait until it ends; P1 never")
    default_ack_deadline_s: dict[Priority, Seconds] | None = Field(
        None,
        description="per priority, for tiers without ack_deadline_s; filled in from the section's by RoutingConfig",
    )

    @field_validator("hours", "quiet_hours", mode="before")
    @classmethod
    def _schedules(cls, value: Any) -> Any:
        return _parse_schedule(value)

    @field_validator("tiers")
    @classmethod
    def _some_tier(cls, value: list[Tier]) -> list[Tier]:
        if not value:
            raise RoutingConfigError("a route needs at least one tier (the groups notified first)")
        return value

    @model_validator(mode="after")
    def _windows(self) -> Self:
        # Schedule reads "06:00-06:00" as never armed; here that is surely a typo, so refuse it.
        for key, window in (("hours", self.hours), ("quiet_hours", self.quiet_hours)):
            if window is not None and window.start is not None and window.start == window.end:
                raise RoutingConfigError(f"{key} starts and ends at the same time; use 'always' or a real window")
        if self.quiet_hours is not None and _is_always(self.quiet_hours):
            raise RoutingConfigError("quiet_hours 'always' would hold every P2-P4 alert forever; give 'HH:MM-HH:MM'")
        return self

    def ack_deadline_s(self, tier_index: int, priority: int) -> int:
        """Seconds tier ``tier_index`` has to acknowledge an alert of ``priority`` before the next tier is notified."""
        tier = self.tiers[tier_index]
        if tier.ack_deadline_s is not None:
            return tier.ack_deadline_s
        defaults = self.default_ack_deadline_s or {}
        return defaults.get(priority, DEFAULT_ACK_DEADLINE_S[priority])


class RoutingConfig(BaseModel):
    """Responders, groups, routes and default acknowledgement deadlines (keys of the ``alerting:`` section).

    Checked as a whole: ids are unique, every group a responder or a tier names exists, and every tier
    reaches at least one responder (a tier that pages nobody is a hole nobody notices until it matters).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    responders: list[Responder] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    default_ack_deadline_s: dict[Priority, Seconds] = Field(
        default_factory=lambda: dict(DEFAULT_ACK_DEADLINE_S),
        description="per priority 1-4, for tiers without their own; priorities left out keep the built-in value",
    )

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        group_ids = _unique_ids("groups", [g.id for g in self.groups])
        _unique_ids("responders", [r.id for r in self.responders])
        _unique_ids("routes", [r.name for r in self.routes if r.name is not None])
        valid = ", ".join(sorted(group_ids)) or "(none defined)"
        for responder in self.responders:
            unknown = [g for g in responder.groups if g not in group_ids]
            if unknown:
                raise RoutingConfigError(
                    f"responder {responder.id!r}: unknown group(s) {', '.join(unknown)}; valid groups: {valid}"
                )
        staffed = {g for r in self.responders for g in r.groups}
        for index, route in enumerate(self.routes):
            label = f"route {route.name!r}" if route.name else f"route #{index + 1}"
            for tier_index, tier in enumerate(route.tiers):
                unknown = [g for g in tier.groups if g not in group_ids]
                if unknown:
                    raise RoutingConfigError(
                        f"{label}, tier {tier_index + 1}: unknown group(s) {', '.join(unknown)}; valid groups: {valid}"
                    )
                if not staffed.intersection(tier.groups):
                    raise RoutingConfigError(
                        f"{label}, tier {tier_index + 1}: no responder belongs to {', '.join(tier.groups)}, "
                        "so it would notify nobody"
                    )
        # Resolve each route's defaults once here, so plan() needs only the route.
        merged = {**DEFAULT_ACK_DEADLINE_S, **self.default_ack_deadline_s}
        object.__setattr__(self, "default_ack_deadline_s", merged)
        routes = [
            route.model_copy(update={"default_ack_deadline_s": {**merged, **(route.default_ack_deadline_s or {})}})
            for route in self.routes
        ]
        object.__setattr__(self, "routes", routes)
        return self


def _unique_ids(what: str, ids: list[str]) -> set[str]:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RoutingConfigError(f"{what}: duplicate id(s) {', '.join(duplicates)}; ids must be unique")
    return set(ids)


def route_for(alert: Alert, config: RoutingConfig, now: datetime, tz: ZoneInfo) -> Route | None:
    """The first route whose match takes ``alert`` and whose hours contain ``now`` (local time in ``tz``).

    None when no route applies: the alert is shown on the console but pushed to nobody.
    """
    _require_aware("now", now)
    local = now.astimezone(tz).time()
    for route in config.routes:
        if route.match.matches(alert) and route.hours.armed_at(local):
            return route
    return None


def recipients(route: Route, tier_index: int, config: RoutingConfig) -> list[Responder]:
    """The responders of tier ``tier_index``'s groups, each once, in the order of the tier's groups and
    then of the ``responders`` list. Raises :class:`RoutingError` for a tier the route does not have."""
    if not 0 <= tier_index < len(route.tiers):
        raise RoutingError(f"tier {tier_index} does not exist; the route has tiers 0-{len(route.tiers) - 1}")
    chosen: dict[str, Responder] = {}
    for group in route.tiers[tier_index].groups:
        for responder in config.responders:
            if group in responder.groups and responder.id not in chosen:
                chosen[responder.id] = responder
    return list(chosen.values())


def hold_until(alert: Alert, route: Route, now: datetime, tz: ZoneInfo) -> datetime | None:
    """When a notification due at ``now`` may go out, if the route's quiet hours hold it; None: send now.

    P1 alerts are never held. A P2-P4 alert inside the quiet hours waits for their end: the first
    local wall-clock end time after ``now`` (so "22:00-06:00" at 23:00 gives 06:00 the next day, and at
    02:00 the same day's 06:00). The end itself is outside the window. The result is in ``tz``.
    """
    _require_aware("now", now)
    quiet = route.quiet_hours
    if alert.priority == 1 or quiet is None or quiet.end is None:
        return None
    local = now.astimezone(tz)
    if not quiet.armed_at(local.time()):
        return None
    end = datetime.combine(local.date(), quiet.end, tzinfo=tz)
    if end <= local:
        # Build the next day from the date, not by adding 24 h, so a DST change keeps the wall-clock time.
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=tz)
    return end


StepKind = Literal["escalate", "remind", "release"]
_KIND_ORDER: dict[StepKind, int] = {"release": 0, "escalate": 1, "remind": 2}


@dataclass(frozen=True)
class Step:
    """One thing the escalation chain will do: at ``at``, ``release`` (send the notification quiet hours
    held to tier ``tier``), ``escalate`` (notify tier ``tier``) or ``remind`` (repeat to tiers 0..``tier``)."""

    at: datetime
    kind: StepKind
    tier: int


def awaiting_ack(alert: Alert) -> bool:
    """Whether the escalation chain runs: the alert is ``new`` (nobody acknowledged, took or closed it)
    and not suppressed (a silenced or inhibited alert is shown, never pushed)."""
    return alert.status is AlertStatus.new and alert.acknowledged_at is None and not alert.suppressed


def plan(
    alert: Alert,
    route: Route,
    tz: ZoneInfo,
    *,
    notified_at: datetime,
    level: int,
    last_reminder_at: datetime | None,
    now: datetime,
) -> list[Step]:
    """The next step of each kind in ``alert``'s escalation chain, in time order (empty: the chain has stopped).

    Arguments: ``level`` is the last tier notified (the alert's ``escalation_level``); ``notified_at`` is
    when that tier was notified, or, for a first notification the quiet hours held, when it fell due
    (the alert's raise time); ``last_reminder_at`` is when the last reminder went out (None: none yet).

    Semantics:

    * The chain runs only while :func:`awaiting_ack` holds: acknowledging, assigning, resolving or
      closing the alert stops all of it, and so does a silence or inhibition.
    * ``release``: ``notified_at`` lies inside the quiet hours of a P2-P4 alert, so the notification
      of tier ``level`` has not gone out; it goes at the end of the quiet hours, and every later step
      counts from then (no reminders before the first message).
    * ``escalate`` to tier ``level + 1`` (if the route has one) at the notification time plus tier
      ``level``'s acknowledgement deadline (its own ``ack_deadline_s`` or the default for the alert's
      priority).
    * ``remind`` tiers 0..``level`` every ``reminder_every_s`` (if set), counted from the later of the
      notification and the last reminder.
    * No step is earlier than ``now`` (an overdue step is due at ``now``, once, so a restart does not
      send a burst), and no step of a P2-P4 alert falls inside the quiet hours: it moves to their end.

    The caller carries out the steps whose ``at`` is not after its clock, records them (after an
    escalation: ``level + 1`` and its time as ``notified_at``; after a release: the release time as
    ``notified_at``; after a reminder: ``last_reminder_at``) and plans again.
    """
    for name, moment in (("notified_at", notified_at), ("now", now), ("last_reminder_at", last_reminder_at)):
        if moment is not None:
            _require_aware(name, moment)
    if not 0 <= level < len(route.tiers):
        raise RoutingError(f"level {level} does not exist; the route has tiers 0-{len(route.tiers) - 1}")
    if not awaiting_ack(alert):
        return []

    def deliverable(at: datetime) -> datetime:
        at = max(at, now)
        return hold_until(alert, route, at, tz) or at

    steps: list[Step] = []
    sent_at = notified_at
    if hold_until(alert, route, notified_at, tz) is not None:
        sent_at = deliverable(notified_at)
        steps.append(Step(sent_at, "release", level))
        last_reminder_at = None  # nothing was sent yet, so nothing was reminded either
    if level + 1 < len(route.tiers):
        deadline = timedelta(seconds=route.ack_deadline_s(level, alert.priority))
        steps.append(Step(deliverable(sent_at + deadline), "escalate", level + 1))
    if route.reminder_every_s is not None:
        since = sent_at if last_reminder_at is None else max(sent_at, last_reminder_at)
        steps.append(Step(deliverable(since + timedelta(seconds=route.reminder_every_s)), "remind", level))
    return sorted(steps, key=lambda step: (step.at, _KIND_ORDER[step.kind]))
