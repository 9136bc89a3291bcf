"""Login throttling: after too many failed logins for one user name or from one address, further
attempts are refused (429 with ``Retry-After``) until the oldest failure leaves the window."""

from __future__ import annotations

import threading
import time
from collections import deque

ADDRESS_FACTOR = 4


class LoginLimiter:
    """Sliding-window count of failed logins per key (``user:NAME``, ``ip:ADDRESS``)."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after_s(self, keys: list[str], now: float | None = None) -> float | None:
        """Seconds until a refused key may try again, or None when every key may try now.

        An address gets ``ADDRESS_FACTOR`` times the allowance of a name: a control room shares one
        address, and one operator's typos must not lock out the whole shift.
        """
        now = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            for key in keys:
                limit = self.max_failures * (ADDRESS_FACTOR if key.startswith("ip:") else 1)
                times = self._recent(key, now)
                if len(times) >= limit:
                    wait = max(wait, times[len(times) - limit] + self.window_s - now)
        return wait if wait > 0 else None

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # many distinct keys: forget the idle ones
                self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - self.window_s}

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
