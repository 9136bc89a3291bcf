"""The console's connection pool to TimescaleDB (history, alert detail, its own records)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from console.settings import Settings
from pantau.db import make_pool as make_schema_pool


def make_pool(settings: Settings) -> ConnectionPool:
    """Opened lazily, so the console starts (and serves the live feed) even while the database is away."""
    return make_schema_pool(settings, settings.db_pool_size, "pantau-console")
