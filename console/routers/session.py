"""``POST /api/v1/session`` (log in), ``DELETE /api/v1/session`` (log out) and ``GET /api/v1/me``.

A login sets the ``pantau_session`` cookie (HttpOnly, SameSite=Strict) and answers the CSRF token
the page must send with every change. Failed logins are throttled per user name and per address.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from console.deps import Store
from console.ratelimit import VERIFY_WAIT_S, LoginThrottle, login_keys
from console.settings import Settings
from pantau import users
from pantau.auth import Principal, Role
from pantau.exceptions import AuthError
from pantau.webauth import SESSION_COOKIE, authenticator, check_csrf, require_roles

router = APIRouter(prefix="/api/v1", tags=["session"])
Person = Annotated[Principal, Depends(require_roles(*users.PEOPLE_ROLES))]


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    """Who is signed in, and the CSRF token to send as ``X-CSRF-Token`` with every change."""

    user: str
    role: Role
    display_name: str
    csrf_token: str | None


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/session", response_model=Me)
def login(body: Login, request: Request, response: Response, store: Store) -> Me:
    settings: Settings = request.app.state.settings
    throttle: LoginThrottle = request.app.state.login_throttle
    name = body.username.strip().lower()
    keys = login_keys(name, _client(request))
    wait_s, reserved = store.run(lambda conn: throttle.reserve(conn, keys), "the login throttle")
    if wait_s is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins: try again in {int(wait_s) + 1} s",
            headers={"Retry-After": str(int(wait_s) + 1)},
        )
    auth = authenticator(request)
    # Each check holds 64 MiB: a burst of logins waits for a slot instead of costing GiBs.
    if not throttle.verifying.acquire(timeout=VERIFY_WAIT_S):
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "too many logins at once: try again", headers={"Retry-After": "2"}
        )
    try:
        user = auth.run(lambda conn: users.check_password(conn, name, body.password))
    except AuthError as exc:
        store.audit(name, "-", "login.failed", {"client": _client(request)})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    finally:
        throttle.verifying.release()
    store.run(lambda conn: throttle.succeeded(conn, keys, reserved), "the login throttle")
    session_id, session = auth.run(
        lambda conn: users.create_session(conn, user, settings.session_ttl_s, _client(request))
    )
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(settings.session_ttl_s),
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    store.audit(user.name, user.role.value, "login", {"client": _client(request)})
    return Me(user=user.name, role=user.role, display_name=user.display_name, csrf_token=session.csrf_token)


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, store: Store) -> Response:
    auth = authenticator(request)
    principal, session = auth.authenticate(request)
    if session is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "no session to end (bearer tokens expire on their own)")
    check_csrf(request, session)
    session_id = request.cookies[SESSION_COOKIE]
    auth.run(lambda conn: users.end_session(conn, session_id))
    auth.forget(session_id=session_id)
    store.audit_principal(principal, "logout")
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=Me)
def me(request: Request, principal: Person) -> Me:
    session_id = request.cookies.get(SESSION_COOKIE)
    session = authenticator(request).session(session_id) if session_id and principal.kind == "session" else None
    return Me(
        user=principal.user,
        role=principal.role,
        display_name=session.display_name if session else principal.user,
        csrf_token=session.csrf_token if session else None,
    )
