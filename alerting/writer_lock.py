"""One alerting process writes alert state at a time: a PostgreSQL advisory lock says which.

Alerting keeps the alert book in memory and is the single writer of ``alerts`` and
``pantau.alerts.v1``; two writers would keep two books and announce the same alert twice. So a
process takes a session-level advisory lock (per database schema) before it builds anything. A
second process started beside it (a standby replica, a rolling update, a mistake) waits, not ready,
and takes over within about a second once the writer's connection goes: a crash, ``kill -9`` or a
clean exit all end the session and release the lock.

The lock lives as long as its connection. When that connection breaks (PostgreSQL restarted or
unreachable) the writer reconnects and takes the lock again; if another process got it meanwhile,
this one is no longer the writer and must stop (:meth:`WriterLock.watch` calls ``lost``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import psycopg

from alerting.exceptions import AlertingError
from pantau.settings import CommonSettings

log = logging.getLogger(__name__)

LOCK_SQL = "SELECT pg_try_advisory_lock(hashtextextended(%(key)s, 0))"


class WriterLock:
    """The alerting writer's advisory lock on its own connection (keepalives on, so a vanished
    peer is noticed in under a minute even without a clean close)."""

    def __init__(self, settings: CommonSettings, *, check_interval_s: float = 2.0) -> None:
        self.settings = settings
        self.key = f"pantau.alerting.writer:{settings.db_schema}"
        self.check_interval_s = check_interval_s
        self._conn: psycopg.Connection | None = None

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(
            self.settings.database_url,
            autocommit=True,
            application_name="pantau-alerting-writer-lock",
            connect_timeout=10,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )

    def try_acquire(self) -> bool:
        """Takes the lock if it is free; false while another process holds it."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        row = self._conn.execute(LOCK_SQL, {"key": self.key}).fetchone()
        return bool(row and row[0])

    def acquire(self, stop: threading.Event, poll_s: float = 1.0) -> bool:
        """Waits until this process holds the lock (true) or ``stop`` is set (false)."""
        waiting_since: float | None = None
        last_said = 0.0
        while not stop.is_set():
            try:
                if self.try_acquire():
                    if waiting_since is not None:
                        log.info("alerting writer lock taken after %.1f s on standby", time.monotonic() - waiting_since)
                    return True
            except psycopg.Error as exc:
                self.close()
                raise AlertingError(f"cannot take the alerting writer lock: {exc}") from exc
            now = time.monotonic()
            if waiting_since is None:
                waiting_since = now
            if now - last_said >= 60.0:
                log.warning("standby: another alerting process is the writer (lock %r); waiting to take over", self.key)
                last_said = now
            stop.wait(poll_s)
        return False

    def holds(self) -> bool | None:
        """True while the lock's connection is up; after a break, whether taking it again worked
        (None: the database cannot be reached yet, so nobody else can write either)."""
        conn = self._conn
        try:
            if conn is not None and not conn.closed:
                conn.execute("SELECT 1")
                return True
        except psycopg.Error as exc:
            log.warning("alerting writer lock connection lost (%s); taking the lock again", exc)
            self.close()
        try:
            taken = self.try_acquire()
        except psycopg.Error:
            self.close()
            return None
        if taken:
            log.info("alerting writer lock taken again")
        return taken

    def watch(self, stop: threading.Event, lost: Callable[[], None]) -> threading.Thread:
        """A daemon thread checking the lock every ``check_interval_s``; calls ``lost`` once when
        another process holds it."""

        def run() -> None:
            while not stop.wait(self.check_interval_s):
                if self.holds() is False:
                    log.error("another alerting process took the writer lock: this one stops")
                    lost()
                    return

        thread = threading.Thread(target=run, name="alerting-writer-lock", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Closes the connection, which releases the lock."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):  # already broken: the server released the lock
                self._conn.close()
            self._conn = None
