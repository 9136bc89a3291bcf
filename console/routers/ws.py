"""``GET /ws/alerts``: the live feed of alert changes for operators.

Protocol (v1): authenticate with ``?token=``; the first message is ``{"type": "snapshot", "alerts":
[...]}`` with the open alerts, most urgent first; then ``{"type": "alert", "alert": {...}}`` for each
change (highest priority first when several are pending) and ``{"type": "heartbeat"}`` when idle.
A missing or invalid token refuses the handshake with HTTP 401, a role without access with 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse
from starlette.websockets import WebSocketState

from console.feed import AlertFeed
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
    feed: AlertFeed = websocket.app.state.feed
    heartbeat_s: float = websocket.app.state.settings.heartbeat_interval_s
    await websocket.accept()
    sub, snapshot = feed.subscribe()
    try:
        await websocket.send_json({"type": "snapshot", "alerts": [a.model_dump(mode="json") for a in snapshot]})
        while True:
            try:
                await asyncio.wait_for(sub.wake.wait(), timeout=heartbeat_s)
            except TimeoutError:
                await websocket.send_json({"type": "heartbeat"})
                continue
            for alert in sub.take():
                await websocket.send_json({"type": "alert", "alert": alert.model_dump(mode="json")})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        feed.unsubscribe(sub)
        if websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError):
                await websocket.close()
