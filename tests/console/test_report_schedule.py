"""Unit tests of the report schedule in Asia/Jakarta."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from console.reports.scheduler import ReportsConfig, next_run, period_for

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


def test_bad_recipient_refused() -> None:
    with pytest.raises(ValidationError):
        ReportsConfig(recipients=["not-an-address"])
