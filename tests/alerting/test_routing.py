"""Routing: first matching route, hours and quiet hours (across midnight), recipients, escalation and
reminders, and refusal of inconsistent configs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from alerting.routing import (
    DEFAULT_ACK_DEADLINE_S,
    Route,
    RoutingConfig,
    RoutingConfigError,
    RoutingError,
    Step,
    hold_until,
    plan,
    recipients,
    route_for,
)
from alerting.schemas import Alert

pytestmark = pytest.mark.unit

AlertFactory = Callable[..., Alert]
WIB = ZoneInfo("Asia/Jakarta")  # UTC+7, no DST

CONFIG_YAML = """
responders:
  - {id: budi, name: Budi Santoso, groups: [rescue-klojen], channels: [webhook-rescue, telegram-rescue]}
  - {id: sari, name: Sari Dewi, groups: [rescue-klojen, duty-officers], channels: [telegram-duty]}
  - {id: agus, name: Agus Salim, groups: [duty-officers], channels: [webhook-duty]}
  - {id: night, name: Night Desk, groups: [night-desk]}
groups:
  - {id: rescue-klojen, name: Rescue team Klojen}
  - {id: duty-officers, name: Duty officers}
  - {id: night-desk, name: Night desk}
routes:
  - name: floods-klojen
    match: {priority_max: 2, types: [flood_risk, water_level_high], districts: [Klojen]}
    hours: always
    tiers:
      - {groups: [rescue-klojen], ack_deadline_s: 120}
      - {groups: [duty-officers], ack_deadline_s: 300}
    reminder_every_s: 300
  - name: night-security
    match: {types: [intrusion]}
    hours: "18:00-06:00"
    tiers: [{groups: [night-desk]}]
  - name: catch-all
    match: {}
    tiers:
      - {groups: [duty-officers, rescue-klojen]}
      - {groups: [night-desk]}
    reminder_every_s: 600
    quiet_hours: "22:00-06:00"
default_ack_deadline_s: {3: 1200}
"""


def local(hour: int, minute: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=WIB)


@pytest.fixture
def config() -> RoutingConfig:
    return RoutingConfig.model_validate(yaml.safe_load(CONFIG_YAML))


def route_named(config: RoutingConfig, name: str) -> Route:
    return next(r for r in config.routes if r.name == name)


def config_with(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CONFIG_YAML)
    data.update(changes)
    return data


# -- route_for -----------------------------------------------------------------------------------------


def test_first_matching_route_wins(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    flood = alert_factory(priority=2, severity="high")
    route = route_for(flood, config, local(12), WIB)
    assert route is not None and route.name == "floods-klojen"


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"priority": 3}, "priority above priority_max"),
        ({"priority": 2, "type": "rainfall_high"}, "type not listed"),
        ({"priority": 2, "district": "Lowokwaru"}, "other district"),
        ({"priority": 2, "location": None}, "no location, so no district"),
    ],
)
def test_a_route_needs_every_key_to_match(
    config: RoutingConfig, alert_factory: AlertFactory, overrides: dict[str, Any], why: str
) -> None:
    route = route_for(alert_factory(**overrides), config, local(12), WIB)
    assert route is not None and route.name == "catch-all", why


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(17, 59), "catch-all"),
        (local(18, 0), "night-security"),
        (local(23, 30), "night-security"),
        (local(0, 0, day=28), "night-security"),
        (local(5, 59, day=28), "night-security"),
        (local(6, 0, day=28), "catch-all"),
        (local(12, 0), "catch-all"),
    ],
)
def test_route_hours_wrap_midnight(
    config: RoutingConfig, alert_factory: AlertFactory, at: datetime, expected: str
) -> None:
    intrusion = alert_factory(type="intrusion", source="gate-cam", source_kind="camera", zone="gate")
    route = route_for(intrusion, config, at, WIB)
    assert route is not None and route.name == expected


def test_hours_are_read_in_the_config_time_zone(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    intrusion = alert_factory(type="intrusion")
    at_19_wib = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    route = route_for(intrusion, config, at_19_wib, WIB)
    assert route is not None and route.name == "night-security"
    route = route_for(intrusion, config, at_19_wib, ZoneInfo("UTC"))  # 12:00 there: outside the hours
    assert route is not None and route.name == "catch-all"


def test_no_route_when_nothing_matches(alert_factory: AlertFactory) -> None:
    config = RoutingConfig.model_validate(config_with(routes=yaml.safe_load(CONFIG_YAML)["routes"][:1]))
    assert route_for(alert_factory(priority=4, severity="low"), config, local(12), WIB) is None
    assert route_for(alert_factory(), RoutingConfig(), local(12), WIB) is None


def test_naive_now_is_refused(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    with pytest.raises(RoutingError, match="timezone-aware"):
        route_for(alert_factory(), config, datetime(2026, 11, 27, 12, 0), WIB)


# -- recipients ----------------------------------------------------------------------------------------


def test_recipients_are_deduplicated_in_stable_order(config: RoutingConfig) -> None:
    catch_all = route_named(config, "catch-all")
    # Tier groups in order (duty-officers, then rescue-klojen), responders in config order inside each;
    # sari is in both groups and listed once.
    assert [r.id for r in recipients(catch_all, 0, config)] == ["sari", "agus", "budi"]
    assert [r.id for r in recipients(catch_all, 1, config)] == ["night"]
    flood = route_named(config, "floods-klojen")
    assert [r.id for r in recipients(flood, 0, config)] == ["budi", "sari"]
    assert recipients(flood, 0, config)[0].channels == ["webhook-rescue", "telegram-rescue"]


def test_recipients_of_a_missing_tier_fail(config: RoutingConfig) -> None:
    with pytest.raises(RoutingError, match="tier 2 does not exist"):
        recipients(route_named(config, "floods-klojen"), 2, config)


# -- config validation ---------------------------------------------------------------------------------


def test_unknown_group_in_a_tier_lists_the_valid_ones() -> None:
    data = config_with(routes=[{"name": "r", "tiers": [{"groups": ["rescue-klojen", "firemen"]}]}])
    with pytest.raises(ValidationError, match="tier 1: unknown group") as info:
        RoutingConfig.model_validate(data)
    assert "firemen" in str(info.value)
    assert "valid groups: duty-officers, night-desk, rescue-klojen" in str(info.value)


def test_unknown_group_of_a_responder_fails() -> None:
    data = config_with(responders=[{"id": "x", "name": "X", "groups": ["ghosts"]}], routes=[])
    with pytest.raises(ValidationError, match=r"responder 'x': unknown group\(s\) ghosts; valid groups"):
        RoutingConfig.model_validate(data)


@pytest.mark.parametrize(
    ("key", "items"),
    [
        ("groups", [{"id": "g", "name": "G"}, {"id": "g", "name": "G again"}]),
        ("responders", [{"id": "budi", "name": "B"}, {"id": "budi", "name": "B2"}]),
    ],
)
def test_duplicate_ids_fail(key: str, items: list[dict[str, Any]]) -> None:
    data = config_with(**{key: items})
    data["routes"] = []
    if key == "responders":
        data["groups"] = []
    with pytest.raises(ValidationError, match=f"{key}: duplicate id"):
        RoutingConfig.model_validate(data)


def test_a_route_without_tiers_fails() -> None:
    with pytest.raises(ValidationError, match="at least one tier"):
        RoutingConfig.model_validate(config_with(routes=[{"match": {}, "tiers": []}]))
    with pytest.raises(ValidationError, match="Field required"):
        RoutingConfig.model_validate(config_with(routes=[{"match": {}}]))


def test_a_tier_that_reaches_nobody_fails() -> None:
    data = config_with(groups=[*yaml.safe_load(CONFIG_YAML)["groups"], {"id": "empty", "name": "Empty"}])
    data["routes"] = [{"tiers": [{"groups": ["empty"]}]}]
    with pytest.raises(ValidationError, match="notify nobody"):
        RoutingConfig.model_validate(data)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"hours": "25:00-06:00"}, "invalid time"),
        ({"hours": "evenings"}, "'always' or 'HH:MM-HH:MM'"),
        ({"hours": "06:00-06:00"}, "same time"),
        ({"quiet_hours": "always"}, "hold every P2-P4 alert forever"),
        ({"match": {"colour": ["red"]}}, "Extra inputs"),
        ({"tiers": [{"groups": ["duty-officers"], "ack_deadline_s": 0}]}, "greater than 0"),
        ({"default_ack_deadline_s": {5: 10}}, "less than or equal to 4"),
    ],
)
def test_bad_routes_fail(route: dict[str, Any], message: str) -> None:
    data = config_with(routes=[{"tiers": [{"groups": ["duty-officers"]}], **route}])
    with pytest.raises(ValidationError, match=message):
        RoutingConfig.model_validate(data)


def test_routing_config_errors_are_pantau_errors() -> None:
    assert issubclass(RoutingConfigError, ValueError)
    from pantau.exceptions import PantauError

    assert issubclass(RoutingConfigError, PantauError)


def test_ack_deadlines_fall_back_by_priority(config: RoutingConfig) -> None:
    catch_all = route_named(config, "catch-all")
    assert catch_all.ack_deadline_s(0, 3) == 1200  # the section's default for P3
    assert catch_all.ack_deadline_s(0, 1) == DEFAULT_ACK_DEADLINE_S[1]  # built-in for priorities left out
    assert route_named(config, "floods-klojen").ack_deadline_s(0, 1) == 120  # the tier's own wins
    assert config.default_ack_deadline_s == {1: 60, 2: 300, 3: 1200, 4: 3600}


# -- quiet hours ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(21, 59), None),
        (local(22, 0), local(6, 0, day=28)),
        (local(23, 0), local(6, 0, day=28)),
        (local(2, 0, day=28), local(6, 0, day=28)),
        (local(6, 0, day=28), None),
    ],
)
def test_quiet_hours_hold_p3_until_they_end(
    config: RoutingConfig, alert_factory: AlertFactory, now: datetime, expected: datetime | None
) -> None:
    assert hold_until(alert_factory(priority=3), route_named(config, "catch-all"), now, WIB) == expected


def test_quiet_hours_never_hold_p1(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    p1 = alert_factory(priority=1, severity="critical")
    assert hold_until(p1, route_named(config, "catch-all"), local(23, 0), WIB) is None


def test_no_quiet_hours_no_hold(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    assert hold_until(alert_factory(priority=4), route_named(config, "floods-klojen"), local(23), WIB) is None


# -- plan ----------------------------------------------------------------------------------------------


def test_plan_escalates_after_the_tier_deadline_and_reminds(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    flood = route_named(config, "floods-klojen")
    alert = alert_factory(priority=2, severity="high")
    t = local(12)
    steps = plan(alert, flood, WIB, notified_at=t, level=0, last_reminder_at=None, now=t)
    assert steps == [
        Step(t + timedelta(seconds=120), "escalate", 1),
        Step(t + timedelta(seconds=300), "remind", 0),
    ]


def test_plan_after_escalation_only_reminds(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    flood = route_named(config, "floods-klojen")
    alert = alert_factory(priority=2, severity="high", escalation_level=1)
    t = local(12, 2)
    steps = plan(alert, flood, WIB, notified_at=t, level=1, last_reminder_at=None, now=t)
    assert steps == [Step(t + timedelta(seconds=300), "remind", 1)]  # the last tier: nowhere to escalate


def test_reminders_repeat_from_the_last_one(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    flood = route_named(config, "floods-klojen")
    alert = alert_factory(priority=2, severity="high")
    t = local(12)
    reminded = t + timedelta(seconds=300)
    steps = plan(alert, flood, WIB, notified_at=t, level=1, last_reminder_at=reminded, now=reminded)
    assert steps == [Step(t + timedelta(seconds=600), "remind", 1)]


def test_overdue_steps_are_due_now_once(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    flood = route_named(config, "floods-klojen")
    alert = alert_factory(priority=2, severity="high")
    t = local(12)
    late = t + timedelta(hours=1)  # e.g. after a restart
    steps = plan(alert, flood, WIB, notified_at=t, level=0, last_reminder_at=None, now=late)
    assert steps == [Step(late, "escalate", 1), Step(late, "remind", 0)]


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "acknowledged", "acknowledged_by": "op", "acknowledged_at": datetime(2026, 11, 27, 5, tzinfo=UTC)},
        {"status": "assigned", "assignee": "budi"},
        {"status": "resolved", "resolved_at": datetime(2026, 11, 27, 5, tzinfo=UTC)},
        {"status": "closed", "close_reason": "false_alarm"},
        {"suppressed": True, "suppressed_by": ["silence-1"]},
    ],
)
def test_acknowledgement_resolution_or_suppression_stop_the_chain(
    config: RoutingConfig, alert_factory: AlertFactory, overrides: dict[str, Any]
) -> None:
    alert = alert_factory(priority=2, severity="high", **overrides)
    t = local(12)
    assert (
        plan(alert, route_named(config, "floods-klojen"), WIB, notified_at=t, level=0, last_reminder_at=None, now=t)
        == []
    )


def test_p3_raised_in_quiet_hours_is_released_at_their_end(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    catch_all = route_named(config, "catch-all")
    raised = local(23, 0)
    six = local(6, 0, day=28)
    steps = plan(
        alert_factory(priority=3), catch_all, WIB, notified_at=raised, level=0, last_reminder_at=None, now=raised
    )
    # Everything counts from the release: escalation after the P3 default deadline (1200 s), reminders every 600 s.
    assert steps == [
        Step(six, "release", 0),
        Step(six + timedelta(seconds=600), "remind", 0),
        Step(six + timedelta(seconds=1200), "escalate", 1),
    ]
    # Once released at 06:00 the chain continues normally.
    after = plan(alert_factory(priority=3), catch_all, WIB, notified_at=six, level=0, last_reminder_at=None, now=six)
    assert [s.kind for s in after] == ["remind", "escalate"]


def test_p1_in_quiet_hours_is_neither_held_nor_deferred(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    catch_all = route_named(config, "catch-all")
    raised = local(23, 0)
    p1 = alert_factory(priority=1, severity="critical")
    steps = plan(p1, catch_all, WIB, notified_at=raised, level=0, last_reminder_at=None, now=raised)
    assert steps == [
        Step(raised + timedelta(seconds=DEFAULT_ACK_DEADLINE_S[1]), "escalate", 1),
        Step(raised + timedelta(seconds=600), "remind", 0),
    ]


def test_steps_of_p2_to_p4_falling_in_quiet_hours_wait(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    catch_all = route_named(config, "catch-all")
    notified = local(21, 50)  # before the quiet hours: sent at once
    steps = plan(
        alert_factory(priority=3), catch_all, WIB, notified_at=notified, level=0, last_reminder_at=None, now=notified
    )
    six = local(6, 0, day=28)
    # The reminder (22:00) and the escalation (22:10) would fall inside 22:00-06:00.
    assert steps == [Step(six, "escalate", 1), Step(six, "remind", 0)]


def test_plan_refuses_a_level_the_route_lacks(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    t = local(12)
    with pytest.raises(RoutingError, match="level 2 does not exist"):
        plan(
            alert_factory(),
            route_named(config, "floods-klojen"),
            WIB,
            notified_at=t,
            level=2,
            last_reminder_at=None,
            now=t,
        )


def test_no_reminders_without_reminder_every_s(config: RoutingConfig, alert_factory: AlertFactory) -> None:
    night = route_named(config, "night-security")
    t = local(20)
    assert plan(alert_factory(type="intrusion"), night, WIB, notified_at=t, level=0, last_reminder_at=None, now=t) == []
