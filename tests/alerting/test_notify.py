"""Which pushes alert changes and timers cause (no I/O): routing, quiet hours, escalation, reminders,
stand-downs, assignment, Web Push per browser, and stable delivery ids."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerting.notify import Notifier, RoutingState
from alerting.routing import RoutingConfig
from tests.alerting.conftest import T0, AlertFactory

pytestmark = pytest.mark.unit
JAKARTA = ZoneInfo("Asia/Jakarta")  # T0 is 21:00 WIB
SUBSCRIPTION = {"endpoint": "https://push.example/abc", "keys": {"p256dh": "x", "auth": "y"}}


@pytest.fixture
def notifier() -> Notifier:
    routing = RoutingConfig.model_validate(
        {
            "groups": [{"id": "rescue", "name": "Rescue"}, {"id": "duty", "name": "Duty"}],
            "responders": [
                {"id": "budi", "name": "Budi", "groups": ["rescue"], "channels": ["hook", "phones"]},
                {"id": "sari", "name": "Sari", "groups": ["duty"], "channels": ["hook"]},
            ],
            "routes": [
                {
                    "match": {},
                    "tiers": [{"groups": ["rescue"], "ack_deadline_s": 120}, {"groups": ["duty"]}],
                    "reminder_every_s": 300,
                    "quiet_hours": "22:00-06:00",
                }
            ],
        }
    )
    return Notifier(routing, {"hook": "webhook", "phones": "webpush"}, JAKARTA, "https://console.example/")


def _who(deliveries: Any) -> list[tuple[str, str, str]]:
    return sorted((d.kind, d.channel, d.recipient) for d in deliveries)


def test_a_new_alert_goes_to_the_first_tier_on_every_channel_and_browser(
    notifier: Notifier, alert_factory: AlertFactory
) -> None:
    alert = alert_factory(priority=2)
    outcome = notifier.on_change(
        alert, None, {"budi": [SUBSCRIPTION, {**SUBSCRIPTION, "endpoint": "https://p/2"}]}, [], T0
    )
    assert _who(outcome.deliveries) == [
        ("alert", "hook", "budi"),
        ("alert", "phones", "budi"),
        ("alert", "phones", "budi"),
    ]
    assert outcome.state == RoutingState(alert.id, 0, 0, T0, None, 2)
    note = outcome.deliveries[0].notification
    assert note.link == "https://console.example/alerts/alert-1" and note.priority == 2
    assert note.title.startswith("P2 water level high") and note.district == "Klojen"
    again = notifier.on_change(alert, None, {"budi": [SUBSCRIPTION]}, [], T0)
    assert {d.id for d in again.deliveries} <= {d.id for d in outcome.deliveries}  # same cause, same ids


def test_quiet_hours_hold_a_p3_until_they_end_and_never_a_p1(notifier: Notifier, alert_factory: AlertFactory) -> None:
    late = T0 + timedelta(hours=2)  # 23:00 WIB
    held = notifier.on_change(alert_factory(priority=3), None, {}, [], late)
    assert held.deliveries == [] and held.state is not None
    assert notifier.next_due(alert_factory(priority=3), held.state, late) == T0.replace(hour=23)  # 06:00 WIB
    released = notifier.on_tick(alert_factory(priority=3), held.state, {}, T0.replace(hour=23))
    assert _who(released.deliveries) == [("alert", "hook", "budi")]
    urgent = notifier.on_change(alert_factory(priority=1), None, {}, [], late)
    assert _who(urgent.deliveries) == [("alert", "hook", "budi")]


def test_unacknowledged_escalates_then_reminds_and_acknowledgement_stops_it(
    notifier: Notifier, alert_factory: AlertFactory
) -> None:
    alert = alert_factory(priority=1)
    state = notifier.on_change(alert, None, {}, [], T0).state
    assert state is not None
    assert notifier.on_tick(alert, state, {}, T0 + timedelta(seconds=60)).deliveries == []
    escalated = notifier.on_tick(alert, state, {}, T0 + timedelta(seconds=121))
    assert escalated.escalated_to == 1 and _who(escalated.deliveries) == [("escalation", "hook", "sari")]
    assert escalated.state is not None
    later = T0 + timedelta(seconds=121 + 300)
    reminded = notifier.on_tick(alert, escalated.state, {}, later)
    assert _who(reminded.deliveries) == [("reminder", "hook", "budi"), ("reminder", "hook", "sari")]
    acked = alert_factory(priority=1, status="acknowledged", acknowledged_by="ops", acknowledged_at=T0)
    assert reminded.state is not None
    assert notifier.on_tick(acked, reminded.state, {}, later + timedelta(hours=1)).deliveries == []
    assert notifier.next_due(acked, reminded.state, later) is None


def test_resolving_stands_down_everyone_notified_and_assigning_tells_the_assignee(
    notifier: Notifier, alert_factory: AlertFactory
) -> None:
    resolved = alert_factory(status="resolved", change="resolved", resolved_at=T0)
    notified = [("hook", "budi", None), ("phones", "budi", SUBSCRIPTION), ("hook", "sari", None)]
    outcome = notifier.on_change(resolved, RoutingState("alert-1", 0, 1, T0), {}, notified, T0)
    assert _who(outcome.deliveries) == [
        ("stand_down", "hook", "budi"),
        ("stand_down", "hook", "sari"),
        ("stand_down", "phones", "budi"),
    ]
    assert outcome.drop_state and "resolved" in outcome.deliveries[0].notification.body
    assigned = alert_factory(status="assigned", change="assigned", assignee="duty")
    assert _who(notifier.on_change(assigned, None, {}, [], T0).deliveries) == [("alert", "hook", "sari")]


def test_suppressed_and_flapping_repeats_push_nothing_but_a_more_urgent_repeat_does(
    notifier: Notifier, alert_factory: AlertFactory
) -> None:
    assert notifier.on_change(alert_factory(suppressed=True, suppressed_by=["s1"]), None, {}, [], T0).deliveries == []
    state = RoutingState("alert-1", 0, 0, T0, None, 3)
    flapping = alert_factory(change="repeated", flapping=True, priority=1)
    assert notifier.on_change(flapping, state, {}, [], T0).deliveries == []
    worse = notifier.on_change(alert_factory(change="repeated", priority=1), state, {}, [], T0)
    assert _who(worse.deliveries) == [("alert", "hook", "budi")] and worse.state is not None
    assert worse.state.priority == 1
    same = notifier.on_change(alert_factory(change="repeated", priority=3), state, {}, [], T0)
    assert same.deliveries == []
