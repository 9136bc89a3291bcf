"""The console feed's per-client logic (no I/O): filters, resume from a seq, bounded coalescing queues."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from alerting.schemas import Alert
from console.feed import AlertFeed, ClientFilter, Subscriber
from console.settings import Settings

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


@pytest.fixture
def alert_factory() -> Callable[..., Alert]:
    def make(alert_id: str, priority: int = 3, version: int = 1, district: str = "Klojen", **extra: Any) -> Alert:
        return Alert.model_validate(
            {
                "id": alert_id,
                "status": "new",
                "priority": priority,
                "priority_reason": f"P{priority}",
                "severity": {1: "critical", 2: "high", 3: "medium", 4: "low"}[priority],
                "type": extra.pop("type", "water_level_high"),
                "source": f"src-{alert_id}",
                "source_kind": "sensor",
                "title": alert_id,
                "location": {"lat": -7.98, "lon": 112.63, "district": district},
                "first_seen": T0,
                "last_seen": T0,
                "count": 1,
                "last_incident_id": "i",
                "version": version,
                "change": "opened",
                "updated_at": T0,
                **extra,
            }
        )

    return make


def test_filters_by_district_type_and_priority(alert_factory: Callable[..., Alert]) -> None:
    wanted = ClientFilter(districts=frozenset({"Sukun"}), types=frozenset({"crowd"}), max_priority=2)
    assert wanted.matches(alert_factory("a", priority=1, district="Sukun", type="crowd"))
    assert not wanted.matches(alert_factory("b", priority=3, district="Sukun", type="crowd"))
    assert not wanted.matches(alert_factory("c", priority=1, district="Klojen", type="crowd"))
    assert not wanted.matches(alert_factory("d", priority=1, district="Sukun", type="smoke_high"))
    assert ClientFilter().matches(alert_factory("e", priority=4))
    budi = ClientFilter(responder="budi")
    assert budi.matches(alert_factory("f", assignee="budi"))
    assert budi.matches(alert_factory("g", responders={"budi": "en_route"}))
    assert not budi.matches(alert_factory("h", assignee="sari"))


def test_a_slow_client_sheds_the_least_urgent_first_and_never_a_p1(alert_factory: Callable[..., Alert]) -> None:
    sub = Subscriber(max_pending=3)
    sub.push(1, alert_factory("p1", priority=1))
    sub.push(2, alert_factory("p4", priority=4))
    sub.push(3, alert_factory("p3", priority=3))
    sub.push(4, alert_factory("p2", priority=2))
    assert set(sub.pending) == {"p1", "p2", "p3"} and sub.behind and sub.dropped == 1
    sub.push(5, alert_factory("p3", priority=3, version=2))  # coalesces: still three pending
    assert len(sub.pending) == 3 and sub.pending["p3"][0] == 5
    for n in range(4):
        sub.push(10 + n, alert_factory(f"urgent-{n}", priority=1))
    assert all(alert.priority == 1 for _, alert in sub.pending.values())
    assert sub.overflowed  # five P1 changes waiting, more than three: resync by reconnecting


def test_changes_go_out_most_urgent_first_and_nothing_older_than_what_the_client_has(
    alert_factory: Callable[..., Alert],
) -> None:
    sub = Subscriber(sent_seq=10)
    sub.push(9, alert_factory("old", priority=1))  # the client's snapshot already had it
    sub.push(11, alert_factory("b", priority=3))
    sub.push(12, alert_factory("a", priority=1))
    assert [(seq, alert.id) for seq, alert in sub.take()] == [(12, "a"), (11, "b")]
    assert sub.sent_seq == 12 and not sub.wake.is_set()


def test_resume_from_a_seq_gets_only_later_changes_and_an_old_seq_gets_a_snapshot(
    alert_factory: Callable[..., Alert],
) -> None:
    feed = AlertFeed(Settings(), history=4)
    for seq, (alert_id, version) in enumerate([("a", 1), ("b", 1), ("a", 2), ("c", 1), ("b", 2), ("d", 1)]):
        feed._apply(seq, alert_factory(alert_id, version=version))
    feed._apply(6, alert_factory("a", version=1))  # an old version replayed: ignored
    assert feed.head_seq == 6 and feed.alerts["a"].version == 2

    sub, snapshot, backlog = feed.subscribe(since=3)
    assert snapshot is None and [(seq, a.id) for seq, a in backlog] == [(4, "b"), (5, "d")]
    assert sub.sent_seq == 6
    sub2, snapshot2, backlog2 = feed.subscribe(since=0)  # seq 1 is no longer kept
    assert snapshot2 is not None and backlog2 == []
    assert sorted(a.id for a in snapshot2) == ["a", "b", "c", "d"]
    feed._apply(7, alert_factory("c", version=2))
    assert [seq for seq, _ in sub.take()] == [7] and [seq for seq, _ in sub2.take()] == [7]
    _sub3, snapshot3, _ = feed.subscribe(ClientFilter(max_priority=2))
    assert snapshot3 == []
