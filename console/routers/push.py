"""Web Push subscriptions of the signed-in person's browsers, through the console (same origin, session
cookie and CSRF header), forwarded to the alerting service, which sends the pushes.

``GET /api/v1/push/vapid-public-key`` → ``{"public_key"}`` for ``pushManager.subscribe`` (404 when no
Web Push channel is configured); ``POST /api/v1/push/subscriptions`` with the browser's
``PushSubscription.toJSON()`` stores it for the person (201); ``DELETE /api/v1/push/subscriptions``
with ``{"endpoint"}`` forgets it (204; 404 if it is not theirs). Responders, operators and admins.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response, status
from pydantic import BaseModel

from alerting.channels.base import WebPushSubscription
from console.alerting_client import forward
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1/push", tags=["push"])
Subscriber = Annotated[Principal, Depends(require_roles(Role.responder, Role.operator, Role.admin))]
Payload = Annotated[dict[str, Any], Body(description="as the alerting API takes it (docs/alerting.md)")]


class VapidKey(BaseModel):
    """The application server key for ``pushManager.subscribe`` (base64url, uncompressed P-256 point)."""

    public_key: str


@router.get("/vapid-public-key", response_model=VapidKey)
def vapid_public_key(request: Request, principal: Subscriber) -> Response:
    """The key a browser needs to subscribe."""
    return forward(request, principal, "GET", "/api/v1/push/vapid-public-key")


@router.post("/subscriptions", response_model=WebPushSubscription, status_code=status.HTTP_201_CREATED)
def subscribe(payload: Payload, request: Request, principal: Subscriber) -> Response:
    """Store this browser's subscription for the signed-in person."""
    return forward(request, principal, "POST", "/api/v1/push/subscriptions", payload)


@router.delete("/subscriptions", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def unsubscribe(payload: Payload, request: Request, principal: Subscriber) -> Response:
    """Forget one of the signed-in person's subscriptions: ``{"endpoint": "..."}``."""
    return forward(request, principal, "DELETE", "/api/v1/push/subscriptions", payload)
