"""Unit tests of the report schedule in Asia/Jakarta."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from console.reports.scheduler import ReportsConfig, missed_runs, next_run, period_for, previous_run

JKT = ZoneInfo("Asia/Jakarta")


def test_daily_next_run_today_and_tomorrow() -> None:
    config = ReportsConfig(daily_at=time(7, 0))
    # 2026-11-27 23:00 UTC is 2026-11-28 06:00 in Jakarta: today's 07:00 is still ahead.
    assert next_run("daily", datetime(2026, 11, 27, 23, 0, tzinfo=UTC), config, JKT) == datetime(
        2026, 11, 28, 7, 0, tzinfo=JKT
    )
    # exactly at 07:00 local: the next run is tomorrow.
    assert next_run("daily", datetime(2026, 11, 28, 0, 0, tzinfo=UTC), config, JKT) == datetime(
        2026, 11, 29, 7, 0, tzinfo=JKT
    )


def test_weekly_next_run_on_weekday() -> None:
    config = ReportsConfig(weekly_on="monday", weekly_at=time(7, 30))
    # Saturday 2026-11-28 in Jakarta -> Monday 2026-11-30 07:30.
    run = next_run("weekly", datetime(2026, 11, 28, 3, 0, tzinfo=UTC), config, JKT)
    assert run == datetime(2026, 11, 30, 7, 30, tzinfo=JKT)
    # Monday after 07:30 local -> the following Monday.
    run = next_run("weekly", datetime(2026, 11, 30, 1, 0, tzinfo=UTC), config, JKT)
    assert run == datetime(2026, 12, 7, 7, 30, tzinfo=JKT)
    # Monday 07:00 local (00:00 UTC) -> same day.
    run = next_run("weekly", datetime(2026, 11, 30, 0, 0, tzinfo=UTC), config, JKT)
    assert run == datetime(2026, 11, 30, 7, 30, tzinfo=JKT)


def test_periods() -> None:
    run = datetime(2026, 11, 30, 7, 30, tzinfo=JKT)
    assert period_for("daily", run, JKT) == (datetime(2026, 11, 29, tzinfo=JKT), datetime(2026, 11, 30, tzinfo=JKT))
    assert period_for("weekly", run, JKT) == (datetime(2026, 11, 23, tzinfo=JKT), datetime(2026, 11, 30, tzinfo=JKT))


def test_previous_run_daily_and_weekly() -> None:
    config = ReportsConfig(daily_at=time(7, 0), weekly_on="monday", weekly_at=time(7, 30))
    # 06:00 local on Saturday 28 November: today's 07:00 has not come, so yesterday's was the last.
    six = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
    assert previous_run("daily", six, config, JKT) == datetime(2026, 11, 27, 7, 0, tzinfo=JKT)
    # exactly at 07:00 local the run is today's.
    assert previous_run("daily", datetime(2026, 11, 28, 0, 0, tzinfo=UTC), config, JKT) == datetime(
        2026, 11, 28, 7, 0, tzinfo=JKT
    )
    assert previous_run("weekly", six, config, JKT) == datetime(2026, 11, 23, 7, 30, tzinfo=JKT)
    # Monday 07:00 local: the weekly run of that day is still ahead, so the one before it.
    monday_seven = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert previous_run("weekly", monday_seven, config, JKT) == datetime(2026, 11, 23, 7, 30, tzinfo=JKT)
    assert previous_run("weekly", monday_seven.replace(minute=30), config, JKT) == datetime(
        2026, 11, 30, 7, 30, tzinfo=JKT
    )


def test_missed_runs_since_the_last_report_bounded_and_only_one_when_none_yet() -> None:
    config = ReportsConfig(daily_at=time(7, 0))
    now = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 10:00 local on the 28th
    # No report yet: only the last run (the 27th's report), not a backlog.
    assert missed_runs("daily", now, config, JKT, None, 7) == [datetime(2026, 11, 28, 7, 0, tzinfo=JKT)]
    # The 24th was the last report built: the 25th, 26th and 27th are missed, oldest first.
    latest = datetime(2026, 11, 24, tzinfo=JKT)
    assert missed_runs("daily", now, config, JKT, latest, 7) == [
        datetime(2026, 11, day, 7, 0, tzinfo=JKT) for day in (26, 27, 28)
    ]
    # Bounded: a month's outage builds only the last `limit`.
    runs = missed_runs("daily", now, config, JKT, datetime(2026, 10, 1, tzinfo=JKT), 7)
    assert len(runs) == 7 and runs[-1] == datetime(2026, 11, 28, 7, 0, tzinfo=JKT)
    # Up to date: nothing.
    assert missed_runs("daily", now, config, JKT, datetime(2026, 11, 27, tzinfo=JKT), 7) == []
    weekly = missed_runs("weekly", now, config, JKT, datetime(2026, 11, 9, tzinfo=JKT), 4)
    assert weekly == [datetime(2026, 11, 23, 7, 30, tzinfo=JKT)]  # the week of 16..23; 9..16 is kept


def test_bad_recipient_refused() -> None:
    with pytest.raises(ValidationError):
        ReportsConfig(recipients=["not-an-address"])
