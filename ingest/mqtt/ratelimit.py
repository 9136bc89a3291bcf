"""Per-sensor token buckets, so one flooding sensor cannot take the bridge's throughput from the others."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """A token bucket per key: ``rate`` tokens/s, holding at most ``burst``; one reading costs one token.

    Not thread-safe: the bridge calls it from the MQTT loop thread only.
    """

    def __init__(
        self, rate: float, burst: float, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = self._clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_keys:
            self._prune(now)
        return allowed

    def _prune(self, now: float) -> None:
        # Buckets that have refilled completely carry no state: forget them (bounded memory with many ids).
        full_after = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
