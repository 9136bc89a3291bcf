"""Bearer tokens: HMAC-signed JWTs carrying the user (``sub``), one role, and the kind of holder.

``kind`` is ``machine`` for service and ingest tokens (``pantau token``), valid on their signature
alone, or ``user`` for a person's token (``pantau users token``, or minted by the console to act for
a signed-in person), which services that know the users table also check against the account, so a
disabled person's tokens stop working.
"""

from __future__ import annotations

import time
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict

from pantau.exceptions import AuthError
from pantau.roles import Role

__all__ = ["Principal", "Role", "issue_token", "verify_token"]

_ALGORITHM = "HS256"
_ISSUER = "pantau"


class Principal(BaseModel):
    """The verified holder of a token."""

    model_config = ConfigDict(frozen=True)

    user: str
    role: Role
    kind: Literal["machine", "user", "session"] = "machine"


def issue_token(
    secret: str,
    role: Role,
    user: str | None = None,
    ttl_s: int = 12 * 3600,
    kind: Literal["machine", "user"] = "machine",
) -> str:
    """A signed token for ``user`` (default: the role's name) valid for ``ttl_s`` seconds."""
    if ttl_s <= 0:
        raise AuthError("ttl must be a positive number of seconds")
    now = int(time.time())
    claims = {
        "sub": user or role.value,
        "role": role.value,
        "kind": kind,
        "iss": _ISSUER,
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    """The principal of a valid token; :class:`AuthError` with the reason otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], issuer=_ISSUER, options={"require": ["sub", "exp", "role"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    try:
        kind = "user" if claims.get("kind") == "user" else "machine"
        return Principal(user=str(claims["sub"]), role=Role(claims["role"]), kind=kind)
    except ValueError as exc:
        raise AuthError(f"invalid token: unknown role {claims.get('role')!r}") from exc
