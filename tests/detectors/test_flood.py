"""The per-sensor flood guard, in the readings' own time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detectors.flood import FloodGuard

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def test_a_burst_then_the_sustained_rate_and_one_report_per_episode() -> None:
    guard = FloodGuard(rate_per_s=10, burst=5)
    # 50 readings within the same second: the burst passes, the rest skip; one first-skip report.
    verdicts = [guard.check("wild", T0) for _ in range(50)]
    assert sum(v.allowed for v in verdicts) == 5
    assert [v.first_skip for v in verdicts].count(True) == 1 and verdicts[5].first_skip
    # Still flooding: a token back every 0.1 s lets a reading through, but the episode goes on.
    trickle = [guard.check("wild", T0 + timedelta(seconds=0.1 * i)) for i in range(1, 5)]
    assert all(v.allowed and not v.ended_after and not v.first_skip for v in trickle)
    assert not guard.check("wild", T0 + timedelta(seconds=0.4)).allowed  # same instant: no token left
    # Quiet long enough for the bucket to fill again: the episode ends with its count.
    later = guard.check("wild", T0 + timedelta(seconds=2))
    assert later.allowed and later.ended_after == 46
    # At 10 readings/s of reading time it never skips.
    steady = [guard.check("calm", T0 + timedelta(seconds=i / 10)) for i in range(200)]
    assert all(v.allowed for v in steady)


def test_each_sensor_has_its_own_bucket_and_replay_decides_the_same() -> None:
    stamps = [T0 + timedelta(milliseconds=10 * i) for i in range(300)]  # 100 readings/s for 3 s
    first, again = FloodGuard(rate_per_s=20, burst=10), FloodGuard(rate_per_s=20, burst=10)
    decided = [first.check("wild", ts).allowed for ts in stamps]
    assert [again.check("wild", ts).allowed for ts in stamps] == decided  # a backlog replayed: same answers
    assert 10 + 20 * 3 - 2 <= sum(decided) <= 10 + 20 * 3 + 1
    assert first.check("other", T0).allowed  # the flood does not touch another sensor


def test_an_older_reading_refills_nothing() -> None:
    guard = FloodGuard(rate_per_s=1, burst=1)
    assert guard.check("s", T0).allowed
    assert not guard.check("s", T0 - timedelta(hours=1)).allowed
    assert guard.check("s", T0 + timedelta(seconds=1)).allowed


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        FloodGuard(rate_per_s=0, burst=5)
