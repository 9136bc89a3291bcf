"""The console's read-only connection pool to TimescaleDB (history, alert detail)."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from console.settings import Settings


def make_pool(settings: Settings) -> ConnectionPool:
    """A small pool whose connections read the configured schema; opened lazily, so the console
    starts (and serves the live feed) even while the database is away."""

    def configure(conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(settings.db_schema)))
        conn.commit()

    return ConnectionPool(
        settings.database_url,
        min_size=0,
        max_size=settings.db_pool_size,
        kwargs={"application_name": "pantau-console", "connect_timeout": 5},
        configure=configure,
        timeout=5.0,
        open=False,
    )
