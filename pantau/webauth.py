"""Bearer-token checks shared by the HTTP services (FastAPI dependencies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pantau.auth import Principal, Role, verify_token
from pantau.exceptions import AuthError

_bearer = HTTPBearer(auto_error=False)


def token_secret(request: Request) -> str:
    secret: str = request.app.state.token_secret
    return secret


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """A dependency that returns the caller's principal, or answers 401 (no/bad token) or 403 (wrong role)."""

    def _dependency(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        secret: Annotated[str, Depends(token_secret)],
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            principal = verify_token(secret, credentials.credentials)
        except AuthError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role.value!r} may not do this; needs one of {', '.join(r.value for r in roles)}",
            )
        return principal

    return _dependency
