"""Login throttling: after too many failed logins for one user name or from one address, further
attempts are refused (429 with ``Retry-After``) until the oldest counted failure leaves the window.

The failures are kept in PostgreSQL (``login_failures``) and timed by the database's clock, so
every console replica behind a load balancer counts the same failures: spreading guesses over the
replicas gains an attacker nothing.
"""

from __future__ import annotations

import psycopg

from console import queries

ADDRESS_FACTOR = 4


class LoginThrottle:
    """Sliding-window count of failed logins per key (``user:NAME``, ``ip:ADDRESS``)."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s

    def limit(self, key: str) -> int:
        """Failures a key may have in the window. An address gets ``ADDRESS_FACTOR`` times the
        allowance of a name: a control room shares one address, and one operator's typos must not
        lock out the whole shift."""
        return self.max_failures * (ADDRESS_FACTOR if key.startswith("ip:") else 1)

    def retry_after_s(self, conn: psycopg.Connection, keys: list[str]) -> float | None:
        """Seconds until a refused key may try again, or None when every key may try now."""
        wait = 0.0
        for key in keys:
            limit = self.limit(key)
            row = conn.execute(
                queries.LOGIN_FAILURES_RECENT, {"key": key, "window_s": self.window_s, "limit": limit}
            ).fetchone()
            if row is not None and row[0] >= limit:
                wait = max(wait, float(row[1]))
        return wait if wait > 0 else None

    def failed(self, conn: psycopg.Connection, keys: list[str]) -> None:
        """Counts a failed login against every key (and forgets failures that left the window)."""
        with conn.transaction():
            conn.execute(queries.LOGIN_FAILURES_FORGET_OLD, {"window_s": self.window_s})
            conn.execute(queries.LOGIN_FAILED, {"keys": keys})

    def succeeded(self, conn: psycopg.Connection, key: str) -> None:
        """A correct password clears the name's failures (not the address's)."""
        conn.execute(queries.LOGIN_SUCCEEDED, {"key": key})
