"""Login throttling: after too many failed logins, further attempts are refused (429 with
``Retry-After``) until the oldest counted failure leaves the window.

Three counts, each with its own allowance of failures per window (``login_max_failures`` = N):

* ``name@address`` (N): one person's typos from their desk, or one guesser at one name;
* ``name`` (N x ``NAME_FACTOR``): a name guessed from many addresses. A guesser at one address
  cannot lock the owner out from another: only the name's own count does, and that takes ten times
  as many failures;
* ``address`` (N x ``ADDRESS_FACTOR``): one address guessing many names (a control room shares one
  address, so one operator's typos must not lock out the whole shift).

An attempt is counted as a failure *before* the password is checked, in one transaction that
holds each count's advisory lock, and the count is taken back when the password was right: parallel
attempts cannot all pass the check before any failure is recorded. The failures are kept in
PostgreSQL (``login_failures``) and timed by the database's clock, so every console replica behind
a load balancer counts the same failures.

Each check costs 64 MiB and ~0.1 s (Argon2id): at most ``login_max_concurrent`` run at once per
console; others wait for a slot up to ``VERIFY_WAIT_S`` and are then answered 503 (a burst of
logins costs bounded memory, not GiBs).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import psycopg

from console import queries

ADDRESS_FACTOR = 4
NAME_FACTOR = 10
VERIFY_WAIT_S = 10.0


def login_keys(name: str, address: str) -> list[str]:
    """The counts a login attempt for ``name`` from ``address`` goes into."""
    return [f"user:{name}@{address}", f"user:{name}", f"ip:{address}"]


class LoginThrottle:
    """Sliding-window counts of failed logins (see the module docstring)."""

    def __init__(self, max_failures: int, window_s: float, max_concurrent: int = 2) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.verifying = threading.BoundedSemaphore(max_concurrent)

    def limit(self, key: str) -> int:
        """Failures a key may have in the window."""
        if key.startswith("ip:"):
            return self.max_failures * ADDRESS_FACTOR
        if "@" in key:
            return self.max_failures
        return self.max_failures * NAME_FACTOR

    def _wait_s(self, conn: psycopg.Connection, keys: list[str]) -> float | None:
        wait = 0.0
        for key in keys:
            limit = self.limit(key)
            row = conn.execute(
                queries.LOGIN_FAILURES_RECENT, {"key": key, "window_s": self.window_s, "limit": limit}
            ).fetchone()
            if row is not None and row[0] >= limit:
                wait = max(wait, float(row[1]), 1.0)
        return wait if wait > 0 else None

    def reserve(self, conn: psycopg.Connection, keys: list[str]) -> tuple[float | None, list[int]]:
        """``(wait, [])`` when a key is over its allowance; otherwise ``(None, ids)``: the attempt is
        already counted as a failure under every key (rows ``ids``), to be taken back on success."""
        with conn.transaction():
            for key in sorted(keys):  # the same order everywhere: no deadlock between two attempts
                conn.execute(queries.LOGIN_KEY_LOCK, {"key": key})
            wait = self._wait_s(conn, keys)
            if wait is not None:
                return wait, []
            conn.execute(queries.LOGIN_FAILURES_FORGET_OLD, {"window_s": self.window_s})
            ids = [int(row[0]) for row in conn.execute(queries.LOGIN_FAILED, {"keys": keys}).fetchall()]
        return None, ids

    def succeeded(self, conn: psycopg.Connection, keys: list[str], reserved: Sequence[int] = ()) -> None:
        """A correct password takes the attempt back and clears the name's counts (not the address's)."""
        with conn.transaction():
            conn.execute(queries.LOGIN_RESERVED_TAKEN_BACK, {"ids": list(reserved)})
            conn.execute(queries.LOGIN_SUCCEEDED, {"keys": [key for key in keys if key.startswith("user:")]})
