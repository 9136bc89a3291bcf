"""Time helpers: every timestamp in Pantau is timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def to_ms(ts: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    return int(ts.timestamp() * 1000)


def ahead_of_clock(ts: datetime, now: datetime, max_skew_s: float) -> str | None:
    """Why ``ts`` is refused when it lies more than ``max_skew_s`` ahead of ``now``; None when it is
    not. A record from the future would advance per-source state (a sensor's last reading time) past
    every real record to come."""
    ahead_s = (ts - now).total_seconds()
    if ahead_s <= max_skew_s:
        return None
    return (
        f"timestamp {ts.isoformat()} is {ahead_s:,.0f} s ahead of the server's clock ({now.isoformat()}); "
        f"more than {max_skew_s:g} s is refused (PANTAU_MAX_CLOCK_SKEW_S)"
    )
