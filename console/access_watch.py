"""Ends live feeds whose access ended: a logout, a disabled account, an expired session or token.

A websocket is authenticated at its handshake, and could then stay open for days. Every
``interval_s`` one pass checks every open feed of this console together: bearer tokens are verified
again (signature and expiry: no database), and one query each asks which of the feeds' sessions are
still live and which of their users are still active, so the cost does not grow with a query per
feed. A feed whose access ended is told so (:attr:`Watched.ended`, and its subscriber is woken);
the websocket closes with code 4401, and the browser's reconnect meets the login page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from fastapi import HTTPException

from pantau import users
from pantau.auth import Principal, verify_token
from pantau.exceptions import AuthError
from pantau.webauth import Authenticator

log = logging.getLogger(__name__)

ACCESS_ENDED_CODE = 4401  # a private-use close code: "authentication ended", as HTTP's 401


@dataclass(eq=False)
class Watched:
    """One open feed and what let it in."""

    principal: Principal
    token: str | None
    session_id: str | None
    wake: Callable[[], None]
    ended: str | None = field(default=None)


class AccessWatch:
    """Checks every open feed's access every ``interval_s`` (see the module docstring)."""

    def __init__(self, authenticator: Authenticator, interval_s: float) -> None:
        self.authenticator = authenticator
        self.interval_s = interval_s
        self._watched: set[Watched] = set()
        self.passes = 0

    def watch(
        self, principal: Principal, token: str | None, session_id: str | None, wake: Callable[[], None]
    ) -> Watched:
        watched = Watched(principal, token, session_id, wake)
        self._watched.add(watched)
        return watched

    def unwatch(self, watched: Watched) -> None:
        self._watched.discard(watched)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except HTTPException as exc:  # the user database is away: keep the feeds, try again
                log.warning("open feeds' access not checked: %s", exc.detail)

    async def check(self) -> int:
        """One pass; returns how many feeds it ended."""
        feeds = [w for w in self._watched if w.ended is None]
        ended = 0
        for watched in feeds:
            if watched.token is not None:
                try:
                    verify_token(self.authenticator.secret, watched.token)
                except AuthError as exc:
                    ended += self._end(watched, f"access ended: {exc}")
        sessions = {w.session_id for w in feeds if w.session_id is not None and w.ended is None}
        names = {w.principal.user for w in feeds if w.principal.kind == "user" and w.ended is None}
        if sessions or names:
            live, active = await asyncio.to_thread(self._lookup, sessions, names)
            for watched in feeds:
                if watched.ended is not None:
                    continue
                if watched.session_id is not None and watched.session_id not in live:
                    ended += self._end(watched, "access ended: your session has ended; log in again")
                elif watched.principal.kind == "user" and watched.principal.user not in active:
                    ended += self._end(watched, f"access ended: user {watched.principal.user!r} is disabled or unknown")
        self.passes += 1
        return ended

    def _lookup(self, sessions: set[str], names: set[str]) -> tuple[set[str], set[str]]:
        def work(conn: psycopg.Connection) -> tuple[set[str], set[str]]:
            return users.live_sessions(conn, sessions), users.active_users(conn, names)

        result: tuple[set[str], set[str]] = self.authenticator.run(work)
        return result

    @staticmethod
    def _end(watched: Watched, reason: str) -> int:
        watched.ended = reason
        log.info("feed of %s (%s) closed: %s", watched.principal.user, watched.principal.kind, reason)
        with contextlib.suppress(RuntimeError):  # the feed's loop may be gone already
            watched.wake()
        return 1
