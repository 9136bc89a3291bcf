"""``GET /ws/alerts``: the live feed of alert changes for operators.

Protocol (``docs/console.md``): authenticate with ``?token=``; filter with ``district=``, ``type=``
(both repeatable) and ``min_priority=`` (1-4: that priority or more urgent); resume with
``since=SEQ``. Every message carries ``seq``, the alerts-topic offset of the newest change it
reflects (the same on every console replica). The first message is ``{"type": "snapshot", "seq",
"alerts": [...]}`` (open alerts, most urgent first), or, when resuming, the changes after ``since``;
then ``{"type": "alert", "seq", "alert"}`` per change, or ``{"type": "alerts", "seq", "alerts":
[...]}`` when several are pending (each with its own ``seq``; changes of one alert coalesce), and
``{"type": "heartbeat", "seq"}`` when idle. A client that fell too far behind gets a snapshot with
``"reason": "resync"``, or is closed with code 1013 when even its P1 changes overflow. A missing or
invalid token refuses the handshake with HTTP 401, a role without access 403, bad parameters 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse
from starlette.websockets import WebSocketState

from alerting.schemas import Alert
from console.feed import AlertFeed, ClientFilter, Subscriber
from pantau.auth import Role, verify_token
from pantau.exceptions import AuthError

log = logging.getLogger(__name__)
router = APIRouter()

FEED_ROLES = frozenset({Role.operator, Role.admin, Role.responder})


async def _refuse(websocket: WebSocket, status_code: int, reason: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(reason, status_code=status_code))
    else:  # servers without the denial extension answer a close-before-accept with HTTP 403
        await websocket.close(code=1008, reason=reason)


def _filter_from(websocket: WebSocket, responder: str | None) -> ClientFilter:
    params = websocket.query_params
    min_priority = params.get("min_priority")
    if min_priority is not None and min_priority not in {"1", "2", "3", "4"}:
        raise ValueError(f"min_priority must be 1 to 4, got {min_priority!r}")
    return ClientFilter(
        districts=frozenset(params.getlist("district")),
        types=frozenset(params.getlist("type")),
        max_priority=int(min_priority) if min_priority else 4,
        responder=responder,
    )


def _since_from(websocket: WebSocket) -> int | None:
    since = websocket.query_params.get("since")
    if since is None:
        return None
    if not since.lstrip("-").isdigit():
        raise ValueError(f"since must be a seq number, got {since!r}")
    return int(since)


def _snapshot(feed: AlertFeed, sub: Subscriber, reason: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "snapshot",
        "seq": sub.sent_seq,
        "alerts": [a.model_dump(mode="json") for a in feed.open_alerts(sub.filter)],
    }
    if reason:
        message["reason"] = reason
    return message


def _changes(batch: list[tuple[int, Alert]]) -> dict[str, Any]:
    if len(batch) == 1:
        seq, alert = batch[0]
        return {"type": "alert", "seq": seq, "alert": alert.model_dump(mode="json")}
    return {
        "type": "alerts",
        "seq": max(seq for seq, _ in batch),
        "alerts": [{"seq": seq, **alert.model_dump(mode="json")} for seq, alert in batch],
    }


@router.websocket("/ws/alerts")
async def alerts_feed(websocket: WebSocket) -> None:
    token = websocket.query_params.get("token")
    secret: str = websocket.app.state.token_secret
    if not token:
        await _refuse(websocket, 401, "missing token")
        return
    try:
        principal = verify_token(secret, token)
    except AuthError as exc:
        await _refuse(websocket, 401, str(exc))
        return
    if principal.role not in FEED_ROLES:
        await _refuse(websocket, 403, f"role {principal.role.value} may not watch alerts")
        return
    try:
        responder = principal.user if principal.role is Role.responder else None
        client_filter, since = _filter_from(websocket, responder), _since_from(websocket)
    except ValueError as exc:
        await _refuse(websocket, 400, str(exc))
        return
    feed: AlertFeed = websocket.app.state.feed
    settings = websocket.app.state.settings
    heartbeat_s: float = settings.heartbeat_interval_s
    await websocket.accept()
    sub, snapshot, backlog = feed.subscribe(client_filter, since, settings.ws_max_pending)
    try:
        if snapshot is not None:
            await websocket.send_json(_snapshot(feed, sub))
        elif backlog:
            await websocket.send_json(_changes(backlog))
        while True:
            try:
                await asyncio.wait_for(sub.wake.wait(), timeout=heartbeat_s)
            except TimeoutError:
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
                await websocket.send_json(_snapshot(feed, sub, reason="resync"))
                continue
            batch = sub.take()
            if batch:
                await websocket.send_json(_changes(batch))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        feed.unsubscribe(sub)
        if websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError):
                await websocket.close()
