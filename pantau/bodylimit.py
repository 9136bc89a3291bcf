"""A cap on request bodies for every HTTP service, applied before anything reads them.

Without it a client (authenticated or not) can make a service hold a body of any size in memory:
the console's NUL check and the ingest API read the body before the handler authenticates, and a
chunked upload declares no ``Content-Length`` to check. :class:`BodyLimit` is an ASGI middleware:
a declared length over the cap is answered 413 at once, unread; an undeclared one is counted as it
arrives and the request is answered 413 as soon as it passes the cap (the rest is never read).
"""

from __future__ import annotations

import json
from typing import Any

from pantau.exceptions import PantauError

Scope = dict[str, Any]
Message = dict[str, Any]


class _BodyTooLarge(PantauError):
    """Raised inside the app's ``receive`` when the body passes the cap; never leaves the middleware."""


def _holds_too_large(exc: BaseException) -> bool:
    if isinstance(exc, _BodyTooLarge):
        return True
    if isinstance(exc, BaseExceptionGroup):  # raised through a task group (BaseHTTPMiddleware)
        return any(_holds_too_large(inner) for inner in exc.exceptions)
    return False


class BodyLimit:
    """Answer 413 to requests whose body is larger than ``max_bytes`` (see the module docstring)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message: Message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BaseException as exc:
            if not _holds_too_large(exc):
                raise
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
