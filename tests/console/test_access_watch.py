"""The open-feed access check without a database (unit): what it decides when the user database is away."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import HTTPException

from console.access_watch import AccessWatch
from pantau.auth import Principal, Role, issue_token
from pantau.webauth import Authenticator

pytestmark = pytest.mark.unit
SECRET = "a-test-secret-of-at-least-32-characters"


class AwayDatabase(Authenticator):
    def run(self, work: Any) -> Any:
        raise HTTPException(503, "user database unavailable: connection refused")


def test_with_the_database_away_sessions_stay_and_a_bad_token_still_ends_its_feed() -> None:
    watch = AccessWatch(AwayDatabase(SECRET), interval_s=1.0)
    woken: list[str] = []
    session = watch.watch(
        Principal(user="ani", role=Role.operator, kind="session"), None, "sid", lambda: woken.append("s")
    )
    forged = watch.watch(Principal(user="x", role=Role.admin), "not-a-token", None, lambda: woken.append("f"))
    valid = issue_token(SECRET, Role.operator, "wall")
    machine = watch.watch(Principal(user="wall", role=Role.operator), valid, None, lambda: woken.append("m"))
    with pytest.raises(HTTPException):  # run() logs this and tries again at the next interval
        asyncio.run(watch.check())
    assert forged.ended is not None and "invalid token" in forged.ended and woken == ["f"]
    assert session.ended is None and machine.ended is None  # not ended for want of an answer
    watch.unwatch(forged)
    assert forged not in watch._watched
