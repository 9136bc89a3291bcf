"""Who is calling an HTTP service, shared by the services (FastAPI dependencies).

Two ways in: a bearer token (machines, scripts, and one service acting for a person), or, where the
app enables sessions (the console), the HttpOnly session cookie a person gets at login. A request
made with the cookie that changes anything must also carry the session's CSRF token in the
``X-CSRF-Token`` header: another site can make the browser send the cookie, never read the token.

When the app has a connection pool, a person's session or user token is checked against the
account on every request (through a cache of a couple of seconds), so disabling a user stops their
sessions and tokens within that time on every replica.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.requests import HTTPConnection

from pantau import users
from pantau.auth import Principal, Role, verify_token
from pantau.exceptions import AuthError

SESSION_COOKIE = "pantau_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False)


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if the request has one."""
    header = conn.headers.get("authorization", "")
    return header[7:].strip() or None if header[:7].lower() == "bearer " else None


class Authenticator:
    """Turns a request's credentials into a :class:`Principal` (401 when there is none that works)."""

    def __init__(
        self, secret: str, pool: ConnectionPool | None = None, *, sessions: bool = False, cache_ttl_s: float = 2.0
    ) -> None:
        self.secret = secret
        self.pool = pool
        self.sessions = sessions and pool is not None
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._schema_ready = False

    # -- credentials -------------------------------------------------------------------------
    def authenticate(self, conn: HTTPConnection, token: str | None = None) -> tuple[Principal, users.Session | None]:
        """The caller and, for a cookie login, their session. ``token``: a bearer token found by the caller."""
        if token is None:
            token = bearer_token(conn)
        if token:
            try:
                principal = verify_token(self.secret, token)
            except AuthError as exc:
                raise _unauthorized(str(exc)) from exc
            if principal.kind == "user" and self.pool is not None and not self._user_active(principal.user):
                raise _unauthorized(f"user {principal.user!r} is disabled or unknown")
            return principal, None
        session_id = conn.cookies.get(SESSION_COOKIE) if self.sessions else None
        if session_id:
            session = self.session(session_id)
            if session is None:
                raise _unauthorized("your session has ended: log in again")
            return Principal(user=session.user, role=session.role, kind="session"), session
        raise _unauthorized("log in, or send a bearer token")

    def session(self, session_id: str) -> users.Session | None:
        found = self._cached(("s", session_id), lambda conn: users.lookup_session(conn, session_id))
        return found if isinstance(found, users.Session) else None

    def _user_active(self, name: str) -> bool:
        return bool(self._cached(("u", name), lambda conn: users.user_is_active(conn, name)))

    def _cached(self, key: tuple[str, str], load: Callable[[psycopg.Connection], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = self.run(load)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[key] = (now + self.cache_ttl_s, value)
        return value

    def forget(self, session_id: str | None = None, user: str | None = None) -> None:
        """Drop cached answers after a logout or a disable, so this replica sees it at once."""
        with self._lock:
            if session_id is not None:
                self._cache.pop(("s", session_id), None)
            if user is not None:
                self._cache.pop(("u", user), None)

    def run(self, work: Callable[[psycopg.Connection], Any]) -> Any:
        """``work`` on a pooled connection with the users tables in place; 503 when the database is away."""
        if self.pool is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "this service has no user database")
        try:
            with self.pool.connection() as conn:
                if not self._schema_ready:
                    users.apply_schema(conn)
                    self._schema_ready = True
                return work(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"user database unavailable: {exc}") from exc


def authenticator(conn: HTTPConnection) -> Authenticator:
    auth: Authenticator | None = getattr(conn.app.state, "authenticator", None)
    if auth is None:  # apps that set only a secret get bearer tokens checked on their signature
        auth = Authenticator(conn.app.state.token_secret)
        conn.app.state.authenticator = auth
    return auth


def check_csrf(request: Request, session: users.Session) -> None:
    if request.method in _SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent, session.csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header")


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """A dependency that returns the caller's principal, or answers 401 (no/bad credentials),
    403 (wrong role, or a cookie request without its CSRF token)."""

    def _dependency(
        request: Request,
        # Declared so the OpenAPI description shows the bearer scheme; the authenticator reads the header.
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal, session = authenticator(request).authenticate(request)
        if session is not None:
            check_csrf(request, session)
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role.value!r} may not do this; needs one of {', '.join(r.value for r in roles)}",
            )
        request.state.principal = principal
        return principal

    return _dependency
