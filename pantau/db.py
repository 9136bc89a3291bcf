"""PostgreSQL/TimescaleDB connections for the services that own tables (archiver, alerting).

Each owning stage keeps its DDL beside its code and applies it at start-up (idempotent). Every
connection uses the configured schema as its ``search_path``, which lets tests run side by side
in schemas of their own.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from pantau.exceptions import DatabaseError, PermanentError
from pantau.settings import CommonSettings

log = logging.getLogger(__name__)

# SQLSTATE classes the data itself causes (22: data exception, e.g. a value out of range or a NUL
# in text; 23: integrity constraint violation): the same rows fail the same way on every retry.
_PERMANENT_SQLSTATE_CLASSES = ("22", "23")


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying the work that raised ``exc`` cannot succeed: the data is refused (psycopg's
    own checks before sending, such as NUL in text, raise DataError; text that cannot be encoded
    raises UnicodeError), not the database away."""
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError | UnicodeError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _PERMANENT_SQLSTATE_CLASSES


def storage_error(exc: BaseException, what: str) -> DatabaseError | PermanentError:
    """``exc`` wrapped for the worker loop: :class:`PermanentError` when the data is refused (the
    loop isolates and dead-letters the record), :class:`DatabaseError` otherwise (it retries)."""
    if is_permanent(exc):
        return PermanentError(f"{what}: the database refused the data: {exc}")
    return DatabaseError(f"{what}: {exc}")


def connect(
    settings: CommonSettings, *, autocommit: bool = False, application_name: str = "pantau"
) -> psycopg.Connection:
    """A connection whose ``search_path`` is the configured schema (created if missing)."""
    try:
        conn = psycopg.connect(
            settings.database_url, autocommit=True, application_name=application_name, connect_timeout=10
        )
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc
    try:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.db_schema)))
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(settings.db_schema)))
    except psycopg.Error as exc:
        conn.close()
        raise DatabaseError(f"cannot use schema {settings.db_schema!r}: {exc}") from exc
    conn.autocommit = autocommit
    return conn


def timescaledb_license(conn: psycopg.Connection) -> str | None:
    """``apache`` or ``timescale`` when the extension is installed in this database; None otherwise."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if row is None:
        return None
    license_row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return str(license_row[0]) if license_row and license_row[0] else "apache"


def require_timescaledb(conn: psycopg.Connection) -> str:
    """The license of the TimescaleDB in use; :class:`DatabaseError` if it is missing."""
    license_name = timescaledb_license(conn)
    if license_name is None:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except psycopg.Error as exc:
            raise DatabaseError(
                "the timescaledb extension is not installed in this database and cannot be created "
                f"(is it in shared_preload_libraries?): {exc}"
            ) from exc
        license_name = timescaledb_license(conn) or "apache"
    return license_name


def make_pool(settings: CommonSettings, max_size: int, application_name: str) -> ConnectionPool:
    """A pool whose connections use the configured schema; opened lazily (``pool.open(wait=False)``),
    so a service starts, and serves what needs no database, while the database is away."""

    def configure(conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(settings.db_schema)))
        conn.commit()

    return ConnectionPool(
        settings.database_url,
        min_size=0,
        max_size=max_size,
        kwargs={"application_name": application_name, "connect_timeout": 5},
        configure=configure,
        timeout=5.0,
        open=False,
    )
