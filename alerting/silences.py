"""Silences, maintenance windows and inhibition: why an alert is stored and shown but pushed to nobody
(pure logic: no I/O; the clock is a parameter).

* A **silence** (also how a maintenance window is entered) matches alerts by camera, sensor, zone,
  type and district for a bounded time; operators create it with ``POST /api/v1/silences``
  (:class:`SilenceCreate`) and may end it early.
* An **inhibition rule** is data in the ``alerting:`` section: while an open alert matching
  ``source_match`` exists, alerts matching ``target_match`` that share its ``equal`` labels are
  inhibited (a power cut explains the dark cameras in its district)::

    inhibit_rules:
      - name: power-loss-darkens-cameras
        source_match: {types: [power_loss]}
        target_match: {types: [video_loss, camera_offline]}
        equal: [district]

:func:`suppression` combines both into the ids an alert's ``suppressed_by`` lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerting.exceptions import AlertingError
from alerting.schemas import Alert

MAX_SILENCE_S = 30 * 24 * 3600
MAX_SILENCE = timedelta(seconds=MAX_SILENCE_S)

Label = Literal["district", "source", "zone"]


class SilenceError(AlertingError, ValueError):
    """A silence or inhibition rule is invalid (empty matchers, bad times, blank reason).

    Also a :class:`ValueError`, so inside a pydantic validator it becomes an ordinary validation error
    with its key path (a 422 from the API, a :class:`~pantau.exceptions.ConfigError` from the config file).
    """


def _district(alert: Alert) -> str | None:
    return alert.location.district if alert.location is not None else None


class SilenceMatch(BaseModel):
    """Which alerts a silence (or one side of an inhibition rule) covers.

    Every given key must match; within a key any listed value matches. ``cameras`` and ``sensors`` are
    the alert's source of that kind, ``district`` is the alert location's. At least one key is required:
    a matcher that takes everything would mute the whole city.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cameras: list[str] = Field(default_factory=list)
    sensors: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    types: list[str] = Field(default_factory=list)
    districts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_key(self) -> Self:
        if not (self.cameras or self.sensors or self.zones or self.types or self.districts):
            raise SilenceError("matchers need at least one of cameras, sensors, zones, types, districts")
        return self

    def matches(self, alert: Alert) -> bool:
        """Whether ``alert`` satisfies every given key (an alert without a zone or district fails that key)."""
        if self.cameras and not (alert.source_kind == "camera" and alert.source in self.cameras):
            return False
        if self.sensors and not (alert.source_kind == "sensor" and alert.source in self.sensors):
            return False
        if self.zones and alert.zone not in self.zones:
            return False
        if self.types and alert.type not in self.types:
            return False
        return not (self.districts and _district(alert) not in self.districts)


def _check_span(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise SilenceError(f"ends_at ({ends_at.isoformat()}) must be after starts_at ({starts_at.isoformat()})")
    if ends_at - starts_at > MAX_SILENCE:
        # A forgotten silence hides real trouble indefinitely; long maintenance is renewed on purpose.
        raise SilenceError(f"a silence lasts at most {MAX_SILENCE.days} days; renew it if the work takes longer")


def _non_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise SilenceError("reason must not be empty: say why these alerts may be muted")
    return value


class Silence(BaseModel):
    """A stored silence: alerts its matchers take are not pushed between ``starts_at`` and ``ends_at``
    (or ``ended_at``, when someone ended it early)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    matchers: SilenceMatch
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str = Field(min_length=1, max_length=128)
    reason: str = Field(max_length=1000)
    created_at: AwareDatetime
    ended_at: AwareDatetime | None = Field(None, description="set when ended early (DELETE)")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _non_blank(value)

    @model_validator(mode="after")
    def _span(self) -> Self:
        _check_span(self.starts_at, self.ends_at)
        return self

    def active(self, now: datetime) -> bool:
        """Whether the silence mutes alerts at ``now``: started, not yet over, not ended early."""
        end = self.ends_at if self.ended_at is None else min(self.ends_at, self.ended_at)
        return self.starts_at <= now < end

    def matches(self, alert: Alert) -> bool:
        """Whether the matchers take ``alert`` (regardless of time; see :meth:`active`)."""
        return self.matchers.matches(alert)

    def end(self, now: datetime) -> Silence:
        """This silence ended early at ``now`` (what ``DELETE`` stores); an already ended one is unchanged."""
        if self.ended_at is not None:
            return self
        return self.model_copy(update={"ended_at": now})


class SilenceCreate(BaseModel):
    """The body of ``POST /api/v1/silences``: matchers, when (``starts_at`` defaults to now; exactly one
    of ``ends_at`` and ``duration_s``) and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    matchers: SilenceMatch
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    duration_s: float | None = Field(None, gt=0, le=MAX_SILENCE_S)
    reason: str = Field(max_length=1000)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _non_blank(value)

    @model_validator(mode="after")
    def _when(self) -> Self:
        if (self.ends_at is None) == (self.duration_s is None):
            raise SilenceError("give exactly one of ends_at and duration_s")
        if self.starts_at is not None and self.ends_at is not None:
            _check_span(self.starts_at, self.ends_at)
        return self

    def to_silence(self, id: str, author: str, now: datetime) -> Silence:
        """The silence to store, created by ``author`` at ``now``.

        Raises :class:`SilenceError` when it would be over already (``ends_at`` not after ``now``), end
        before it starts, or last longer than 30 days.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise SilenceError(f"now must be timezone-aware, got {now.isoformat()}")
        starts_at = self.starts_at or now
        if self.ends_at is not None:
            ends_at = self.ends_at
        elif self.duration_s is not None:
            ends_at = starts_at + timedelta(seconds=self.duration_s)
        else:  # the validator refuses this; kept so a model_construct()ed request fails clearly too
            raise SilenceError("give exactly one of ends_at and duration_s")
        if ends_at <= now:
            raise SilenceError(f"the silence would already be over: ends_at {ends_at.isoformat()} is not after now")
        _check_span(starts_at, ends_at)
        try:
            return Silence(
                id=id,
                matchers=self.matchers,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=author,
                reason=self.reason,
                created_at=now,
            )
        except ValidationError as exc:
            raise SilenceError(f"invalid silence: {exc.errors()[0]['msg']}") from exc


class InhibitRule(BaseModel):
    """While an open, unsuppressed alert matches ``source_match``, alerts matching ``target_match`` that
    share every ``equal`` label with it are inhibited.

    ``equal`` must be written out, ``[]`` included: an empty list lets one source alert anywhere inhibit
    matching targets city-wide, which should be a deliberate choice. A label one of the two alerts lacks
    (no district, no zone) is never equal: an unknown district proves nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    source_match: SilenceMatch
    target_match: SilenceMatch
    equal: list[Label]

    def inhibits(self, source: Alert, target: Alert) -> bool:
        """Whether ``source`` inhibits ``target`` by this rule (ignoring their states; see :func:`inhibited_by`)."""
        if source.id == target.id:
            return False
        if not (self.target_match.matches(target) and self.source_match.matches(source)):
            return False
        for label in self.equal:
            value = _label(source, label)
            if value is None or value != _label(target, label):
                return False
        return True


def _label(alert: Alert, label: Label) -> str | None:
    if label == "district":
        return _district(alert)
    if label == "zone":
        return alert.zone
    return alert.source


def inhibited_by(alert: Alert, open_alerts: Sequence[Alert], rules: Sequence[InhibitRule]) -> list[str]:
    """Ids of the open, non-suppressed alerts in ``open_alerts`` that inhibit ``alert`` by any rule, each once,
    in ``open_alerts`` order. An alert never inhibits itself.

    Only unsuppressed alerts inhibit, so of two alerts that would inhibit each other the one suppressed
    first stays suppressed and the other is pushed: one of them always reaches someone.
    """
    found: list[str] = []
    for other in open_alerts:
        if other.id == alert.id or not other.is_open or other.suppressed or other.id in found:
            continue
        if any(rule.inhibits(other, alert) for rule in rules):
            found.append(other.id)
    return found


def suppression(
    alert: Alert,
    silences: Sequence[Silence],
    open_alerts: Sequence[Alert],
    rules: Sequence[InhibitRule],
    now: datetime,
) -> list[str]:
    """Why ``alert`` is suppressed at ``now``: the ids of the active silences that match it, then the ids
    of the alerts that inhibit it (:func:`inhibited_by`). Empty: it is not suppressed."""
    silenced = [s.id for s in silences if s.active(now) and s.matches(alert)]
    return silenced + inhibited_by(alert, open_alerts, rules)
