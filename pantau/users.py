"""The people who use Pantau: accounts, password hashes and login sessions, kept in PostgreSQL.

Passwords are hashed with Argon2id (memory-hard: 64 MiB per hash by default), so a stolen table
cannot be brute-forced cheaply. A session is a random 256-bit id held by the browser in an HttpOnly
cookie; the table keeps only its SHA-256, so a read of the table does not hand out live sessions.
Each session carries its own CSRF token. Disabling a user deletes their sessions at once, and every
check of a session or user token reads the user's ``disabled_at``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pantau.auth import Role
from pantau.exceptions import AuthError, DatabaseError

PEOPLE_ROLES = (Role.operator, Role.responder, Role.planner, Role.admin)
USER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.@-]{0,63}$"
MIN_PASSWORD_CHARS = 10

_hasher = PasswordHasher()  # Argon2id, RFC 9106 "low memory" profile: t=3, m=64 MiB, p=4
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

DDL = (
    """
    CREATE TABLE IF NOT EXISTS users (
        name          text PRIMARY KEY,
        display_name  text NOT NULL,
        role          text NOT NULL,
        password_hash text NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        disabled_at   timestamptz
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS user_sessions (
        id_hash    text PRIMARY KEY,
        user_name  text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        csrf_token text NOT NULL,
        client     text,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS user_sessions_user ON user_sessions (user_name)",
)


@dataclass(frozen=True)
class User:
    """An account as listed by ``pantau users list``."""

    name: str
    display_name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class Session:
    """A live login: who, their CSRF token, and when it ends."""

    user: str
    display_name: str
    role: Role
    csrf_token: str
    expires_at: datetime


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AuthError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    hashed: str = _hasher.hash(password)
    return hashed


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def apply_schema(conn: psycopg.Connection) -> None:
    """Create the tables (idempotent)."""
    try:
        with conn.transaction():
            # Several services may start together; the lock keeps their CREATEs from racing.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('pantau.users'))")
            for statement in DDL:
                conn.execute(statement)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot create the users tables: {exc}") from exc


def _user(row: tuple[Any, ...]) -> User:
    return User(name=row[0], display_name=row[1], role=Role(row[2]), created_at=row[3], disabled_at=row[4])


def add_user(conn: psycopg.Connection, name: str, role: Role, password: str, display_name: str | None = None) -> User:
    """A new account; :class:`AuthError` if the name is taken or the role is not a person's."""
    if role not in PEOPLE_ROLES:
        raise AuthError(f"role {role.value!r} is for machines; people are {', '.join(r.value for r in PEOPLE_ROLES)}")
    password_hash = hash_password(password)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO users (name, display_name, role, password_hash) VALUES (%(n)s, %(d)s, %(r)s, %(h)s) "
                "ON CONFLICT (name) DO NOTHING RETURNING name, display_name, role, created_at, disabled_at",
                {"n": name, "d": display_name or name, "r": role.value, "h": password_hash},
            ).fetchone()
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot add user {name!r}: {exc}") from exc
    if row is None:
        raise AuthError(f"user {name!r} exists already")
    return _user(row)


def list_users(conn: psycopg.Connection) -> list[User]:
    rows = conn.execute("SELECT name, display_name, role, created_at, disabled_at FROM users ORDER BY name").fetchall()
    return [_user(r) for r in rows]


def get_user(conn: psycopg.Connection, name: str) -> User | None:
    row = conn.execute(
        "SELECT name, display_name, role, created_at, disabled_at FROM users WHERE name = %(n)s", {"n": name}
    ).fetchone()
    return _user(row) if row else None


def set_disabled(conn: psycopg.Connection, name: str, disabled: bool) -> User:
    """Disable (ending every session at once) or enable an account."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE users SET disabled_at = CASE WHEN %(d)s THEN coalesce(disabled_at, now()) ELSE NULL END "
            "WHERE name = %(n)s RETURNING name, display_name, role, created_at, disabled_at",
            {"n": name, "d": disabled},
        ).fetchone()
        if row is None:
            raise AuthError(f"no user {name!r}")
        if disabled:
            conn.execute("DELETE FROM user_sessions WHERE user_name = %(n)s", {"n": name})
    return _user(row)


def set_password(conn: psycopg.Connection, name: str, password: str) -> None:
    """A new password; the user's other sessions end."""
    password_hash = hash_password(password)
    with conn.transaction():
        updated = conn.execute(
            "UPDATE users SET password_hash = %(h)s WHERE name = %(n)s", {"n": name, "h": password_hash}
        ).rowcount
        if not updated:
            raise AuthError(f"no user {name!r}")
        conn.execute("DELETE FROM user_sessions WHERE user_name = %(n)s", {"n": name})


def check_password(conn: psycopg.Connection, name: str, password: str) -> User:
    """The user if the name and password match an active account; :class:`AuthError` otherwise
    (one message for every failure, so the answer does not tell which names exist)."""
    row = conn.execute(
        "SELECT name, display_name, role, created_at, disabled_at, password_hash FROM users WHERE name = %(n)s",
        {"n": name},
    ).fetchone()
    stored = row[5] if row else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
        matched = row is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        matched = False
    if not matched or row is None or row[4] is not None:
        raise AuthError("wrong user name or password, or the account is disabled")
    if _hasher.check_needs_rehash(stored):
        with conn.transaction():
            conn.execute(
                "UPDATE users SET password_hash = %(h)s WHERE name = %(n)s", {"n": name, "h": _hasher.hash(password)}
            )
    return _user(row[:5])


def create_session(conn: psycopg.Connection, user: User, ttl_s: float, client: str | None) -> tuple[str, Session]:
    """A new session for ``user``: the id to put in the cookie, and the session."""
    session_id = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_s)
    with conn.transaction():
        conn.execute("DELETE FROM user_sessions WHERE expires_at < now()")
        conn.execute(
            "INSERT INTO user_sessions (id_hash, user_name, csrf_token, client, expires_at) "
            "VALUES (%(i)s, %(u)s, %(c)s, %(cl)s, %(e)s)",
            {"i": _session_hash(session_id), "u": user.name, "c": csrf_token, "cl": client, "e": expires_at},
        )
    return session_id, Session(user.name, user.display_name, user.role, csrf_token, expires_at)


def lookup_session(conn: psycopg.Connection, session_id: str) -> Session | None:
    """The live session of that id, or None (unknown, expired, or its user disabled)."""
    row = conn.execute(
        "SELECT u.name, u.display_name, u.role, s.csrf_token, s.expires_at FROM user_sessions s "
        "JOIN users u ON u.name = s.user_name "
        "WHERE s.id_hash = %(i)s AND s.expires_at > now() AND u.disabled_at IS NULL",
        {"i": _session_hash(session_id)},
    ).fetchone()
    if row is None:
        return None
    return Session(row[0], row[1], Role(row[2]), row[3], row[4])


def end_session(conn: psycopg.Connection, session_id: str) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM user_sessions WHERE id_hash = %(i)s", {"i": _session_hash(session_id)})


def user_is_active(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT disabled_at IS NULL FROM users WHERE name = %(n)s", {"n": name}).fetchone()
    return bool(row and row[0])


def live_sessions(conn: psycopg.Connection, session_ids: Collection[str]) -> set[str]:
    """Which of ``session_ids`` are live sessions (not ended, not expired, their user not disabled)."""
    by_hash = {_session_hash(session_id): session_id for session_id in session_ids}
    if not by_hash:
        return set()
    rows = conn.execute(
        "SELECT s.id_hash FROM user_sessions s JOIN users u ON u.name = s.user_name "
        "WHERE s.id_hash = ANY(%(h)s) AND s.expires_at > now() AND u.disabled_at IS NULL",
        {"h": list(by_hash)},
    ).fetchall()
    return {by_hash[row[0]] for row in rows}


def active_users(conn: psycopg.Connection, names: Collection[str]) -> set[str]:
    """Which of ``names`` are users that exist and are not disabled."""
    if not names:
        return set()
    rows = conn.execute(
        "SELECT name FROM users WHERE name = ANY(%(n)s) AND disabled_at IS NULL", {"n": list(names)}
    ).fetchall()
    return {row[0] for row in rows}
