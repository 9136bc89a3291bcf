"""The console's own records in TimescaleDB (audit of people's actions, cases, shift handovers,
evidence access), behind one helper that creates the tables once per process and turns an absent
database into a clear 503."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from fastapi import HTTPException, status
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from console import queries
from pantau.auth import Principal

log = logging.getLogger(__name__)
T = TypeVar("T")


class ConsoleStore:
    """Runs work on a pooled connection, with the console's tables in place."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._ready = False
        self._lock = threading.Lock()

    def run(self, work: Callable[[psycopg.Connection], T], what: str = "the console's records") -> T:
        try:
            with self.pool.connection() as conn:
                if not self._ready:
                    with self._lock, conn.transaction():
                        conn.execute("SELECT pg_advisory_xact_lock(hashtext('pantau.console'))")
                        for statement in queries.CONSOLE_SCHEMA:
                            conn.execute(statement)
                    self._ready = True
                return work(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{what} unavailable: {exc}") from exc

    def audit(self, user: str, role: str, action: str, detail: dict[str, Any] | None = None) -> None:
        """Record one action of a person; a failure is logged, never hidden."""
        params = {"user": user, "role": role, "action": action, "detail": Jsonb(detail or {})}
        try:
            self.run(lambda conn: conn.execute(queries.RECORD_AUDIT, params), "the audit log")
        except HTTPException:
            log.error("audit record lost (database unavailable): %s %s %s %s", user, role, action, detail)
            raise

    def audit_principal(self, principal: Principal, action: str, detail: dict[str, Any] | None = None) -> None:
        self.audit(principal.user, principal.role.value, action, detail)
