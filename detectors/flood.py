"""A per-sensor limit on how many readings the rules evaluate, in the readings' own time.

A sensor gone wild (a stuck gateway resending, a firmware bug) can send thousands of readings a
second. Its readings share a partition with other sensors, so evaluating them all would delay
everyone behind it. Each sensor gets a token bucket refilled by the readings' timestamps (not the
wall clock: replaying a backlog after an outage decides the same way as live): ``rate_per_s``
sustained, ``burst`` at once. Readings over the limit skip the rules; the archiver still stores every
one (history loses nothing). The first reading skipped in each episode goes to the dead-letter
topic with the reason, and the count is logged when the episode ends, so an operator sees the
flood without the dead-letter topic flooding in turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class _Bucket:
    tokens: float
    at: datetime
    skipped: int = 0
    flooding: bool = False  # an episode lasts until the bucket is full again: the sensor slowed down


@dataclass(frozen=True)
class Verdict:
    """Whether to evaluate a reading, and what to report: ``first_skip`` on the first reading skipped
    in an episode, ``ended_after`` (the count skipped) on the first reading after one ended (the
    sensor stayed under its rate long enough for its bucket to fill up again)."""

    allowed: bool
    first_skip: bool = False
    ended_after: int = 0


class FloodGuard:
    """Token buckets per sensor id in event time; bounded memory (idle buckets are dropped)."""

    def __init__(self, rate_per_s: float, burst: float, max_sensors: int = 200_000) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_sensors = max_sensors
        self._buckets: dict[str, _Bucket] = {}

    def check(self, sensor_id: str, ts: datetime) -> Verdict:
        bucket = self._buckets.get(sensor_id)
        if bucket is None:
            bucket = self._buckets[sensor_id] = _Bucket(self.burst, ts)
            if len(self._buckets) > self.max_sensors:
                self._prune(ts)
        elapsed_s = (ts - bucket.at).total_seconds()
        if elapsed_s > 0:  # an older reading refills nothing (and is dropped by the rules anyway)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed_s * self.rate_per_s)
            bucket.at = ts
        ended = 0
        if bucket.flooding and bucket.tokens >= self.burst:
            ended, bucket.skipped, bucket.flooding = bucket.skipped, 0, False
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Verdict(True, ended_after=ended)
        bucket.skipped += 1
        first = not bucket.flooding
        bucket.flooding = True
        return Verdict(False, first_skip=first, ended_after=ended)

    def _prune(self, now: datetime) -> None:
        full_after_s = self.burst / self.rate_per_s
        self._buckets = {
            k: b for k, b in self._buckets.items() if b.flooding or (now - b.at).total_seconds() < full_after_s
        }
