"""The roles a token or an account holds (apart from :mod:`pantau.auth`, so that naming a role
does not load the token library: the command line lists them in its help)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a token's holder may do."""

    operator = "operator"
    responder = "responder"
    planner = "planner"
    admin = "admin"
    ingest = "ingest"
