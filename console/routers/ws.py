"""``GET /ws/alerts``: the live feed of alert changes for operators.

Protocol (``docs/contracts.md``): authenticate with the session cookie (same origin only) or
``?token=``; filter with ``district=``, ``type=`` (both repeatable) and ``min_priority=`` (1-4: that
priority or more urgent); resume with ``since=SEQ``. Every message carries ``seq``, the alerts-topic
offset of the newest change it reflects (the same on every console replica). The first message is
``{"type": "snapshot", "seq", "alerts": [...]}`` (open alerts, most urgent first), or, when
resuming, the changes after ``since``; then ``{"type": "alert", "seq", "alert"}`` per change, or
``{"type": "alerts", "seq", "alerts": [...]}`` when several are pending (each with its own ``seq``;
changes of one alert coalesce), and ``{"type": "heartbeat", "seq"}`` when idle. A client that fell
too far behind gets a snapshot with ``"reason": "resync"``, or is closed with code 1013 when even
its P1 changes overflow. A missing or invalid token refuses the handshake with HTTP 401, a role
without access 403, bad parameters 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse
from starlette.websockets import WebSocketState

from alerting.schemas import Alert
from console.access_watch import ACCESS_ENDED_CODE, AccessWatch
from console.feed import AlertFeed, ClientFilter, Subscriber
from console.responders import responder_scope
from pantau.auth import Role
from pantau.webauth import SESSION_COOKIE, authenticator, bearer_token

log = logging.getLogger(__name__)
router = APIRouter()

FEED_ROLES = frozenset({Role.operator, Role.admin, Role.responder})


async def _refuse(websocket: WebSocket, status_code: int, reason: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(reason, status_code=status_code))
    else:  # servers without the denial extension answer a close-before-accept with HTTP 403
        await websocket.close(code=1008, reason=reason)


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser
        return True
    return urlsplit(origin).netloc.lower() == websocket.headers.get("host", "").lower()


def _filter_from(websocket: WebSocket, responder: str | None, groups: frozenset[str] = frozenset()) -> ClientFilter:
    params = websocket.query_params
    min_priority = params.get("min_priority")
    if min_priority is not None and min_priority not in {"1", "2", "3", "4"}:
        raise ValueError(f"min_priority must be 1 to 4, got {min_priority!r}")
    return ClientFilter(
        districts=frozenset(params.getlist("district")),
        types=frozenset(params.getlist("type")),
        max_priority=int(min_priority) if min_priority else 4,
        responder=responder,
        groups=groups,
    )


def _since_from(websocket: WebSocket) -> int | None:
    since = websocket.query_params.get("since")
    if since is None:
        return None
    if not since.lstrip("-").isdigit():
        raise ValueError(f"since must be a seq number, got {since!r}")
    return int(since)


# Messages are pre-encoded JSON text made by the feed once per change or batch and shared by every
# client (serialising per client does not scale to a thousand of them); see AlertFeed.changes_message.
def _snapshot(feed: AlertFeed, sub: Subscriber, reason: str | None = None) -> str:
    return feed.snapshot_message(sub, reason)


def _changes(feed: AlertFeed, batch: list[tuple[int, Alert]]) -> str:
    return feed.changes_message(batch)


@router.websocket("/ws/alerts")
async def alerts_feed(websocket: WebSocket) -> None:
    token = websocket.query_params.get("token")
    try:
        principal, session = await asyncio.to_thread(authenticator(websocket).authenticate, websocket, token)
    except HTTPException as exc:
        await _refuse(websocket, exc.status_code, str(exc.detail))
        return
    if session is not None and not _same_origin(websocket):
        # Browsers send the cookie on a cross-site websocket too; only our own pages may use it.
        await _refuse(websocket, 403, "cross-origin websocket refused")
        return
    if principal.role not in FEED_ROLES:
        await _refuse(websocket, 403, f"role {principal.role.value} may not watch alerts")
        return
    try:
        responder, groups = await asyncio.to_thread(responder_scope, websocket, principal)
        client_filter, since = _filter_from(websocket, responder, groups), _since_from(websocket)
    except ValueError as exc:
        await _refuse(websocket, 400, str(exc))
        return
    feed: AlertFeed = websocket.app.state.feed
    settings = websocket.app.state.settings
    heartbeat_s: float = settings.heartbeat_interval_s
    access: AccessWatch = websocket.app.state.access_watch
    await websocket.accept()
    sub, snapshot, backlog = feed.subscribe(client_filter, since, settings.ws_max_pending)
    # Access is checked again while the feed is open: a logout or a disabled account ends it too.
    session_id = websocket.cookies.get(SESSION_COOKIE) if session is not None else None
    watched = access.watch(principal, token or bearer_token(websocket), session_id, sub.wake.set)
    try:
        if snapshot is not None:
            await websocket.send_text(_snapshot(feed, sub))
        elif backlog:
            await websocket.send_text(_changes(feed, backlog))
        while True:
            woke = await sub.wait(heartbeat_s)  # False: nothing for heartbeat_s (one timer per interval)
            if watched.ended is not None:
                # A close reason is at most 123 bytes.
                await websocket.close(
                    code=ACCESS_ENDED_CODE, reason=watched.ended.encode()[:120].decode(errors="ignore")
                )
                return
            if not woke:
                await websocket.send_json({"type": "heartbeat", "seq": max(sub.sent_seq, feed.head_seq)})
                continue
            if sub.overflowed:
                # Too far behind even with only P1 changes kept: reconnect with ?since= to resync.
                await websocket.close(code=1013, reason="too far behind: reconnect to resync")
                return
            if sub.behind:
                sub.take()
                sub.behind = False
                sub.sent_seq = feed.head_seq
                await websocket.send_text(_snapshot(feed, sub, reason="resync"))
                continue
            batch = sub.take()
            if batch:
                await websocket.send_text(_changes(feed, batch))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        access.unwatch(watched)
        feed.unsubscribe(sub)
        if websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError):
                await websocket.close()
