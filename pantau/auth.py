"""Bearer tokens: HMAC-signed JWTs carrying the user (``sub``), one role, and the kind of holder.

``kind`` is ``machine`` for service and ingest tokens (``pantau token``), valid on their signature
alone, or ``user`` for a person's token (``pantau users token``, or minted by the console to act for
a signed-in person), which services that know the users table also check against the account, so a
disabled person's tokens stop working.

An ingest token may be scoped to sensors (``sensors``: ids, or prefixes ending in ``*``): the ingest
API then refuses readings of any other id (403), so a leaked gauge's token cannot speak for the
city's other sensors. No token lives longer than ``MAX_TTL_S`` (one that claims to is refused).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict

from pantau.exceptions import AuthError
from pantau.roles import Role

__all__ = ["Principal", "Role", "issue_token", "verify_token"]

_ALGORITHM = "HS256"
_ISSUER = "pantau"
_SENSOR_SCOPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}\*?$")
MAX_TTL_S = 366 * 86400  # a year: a longer-lived token is a password nobody rotates


class Principal(BaseModel):
    """The verified holder of a token."""

    model_config = ConfigDict(frozen=True)

    user: str
    role: Role
    kind: Literal["machine", "user", "session"] = "machine"
    sensors: tuple[str, ...] | None = None  # None: any sensor; else ids, or prefixes ending in "*"

    def may_send(self, sensor_id: str) -> bool:
        """Whether this token may send readings of ``sensor_id``."""
        if self.sensors is None:
            return True
        return any(sensor_id.startswith(s[:-1]) if s.endswith("*") else sensor_id == s for s in self.sensors)


def issue_token(
    secret: str,
    role: Role,
    user: str | None = None,
    ttl_s: int = 12 * 3600,
    kind: Literal["machine", "user"] = "machine",
    sensors: Sequence[str] | None = None,
) -> str:
    """A signed token for ``user`` (default: the role's name) valid for ``ttl_s`` seconds
    (at most :data:`MAX_TTL_S`); ``sensors`` scopes an ingest token (see the module docstring)."""
    if ttl_s <= 0:
        raise AuthError("ttl must be a positive number of seconds")
    if ttl_s > MAX_TTL_S:
        raise AuthError(f"ttl may be at most {MAX_TTL_S} s (366 days): issue a new token when it ends")
    if sensors is not None:
        bad = [s for s in sensors if not _SENSOR_SCOPE.match(s)]
        if not sensors or bad:
            raise AuthError(f"sensors must be sensor ids or prefixes ending in '*': {bad or 'none given'}")
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user or role.value,
        "role": role.value,
        "kind": kind,
        "iss": _ISSUER,
        "iat": now,
        "exp": now + ttl_s,
    }
    if sensors is not None:
        claims["sensors"] = list(sensors)
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
    iat = claims.get("iat")
    if not isinstance(iat, int) or claims["exp"] - iat > MAX_TTL_S:
        raise AuthError(f"invalid token: it must say when it was issued and live at most {MAX_TTL_S} s")
    sensors = claims.get("sensors")
    if sensors is not None and not (isinstance(sensors, list) and all(isinstance(s, str) for s in sensors)):
        raise AuthError("invalid token: sensors must be a list of ids")
    try:
        kind = "user" if claims.get("kind") == "user" else "machine"
        return Principal(
            user=str(claims["sub"]),
            role=Role(claims["role"]),
            kind=kind,
            sensors=tuple(sensors) if sensors is not None else None,
        )
    except ValueError as exc:
        raise AuthError(f"invalid token: unknown role {claims.get('role')!r}") from exc
