"""Web Push subscriptions of responders' browsers, and the alert's delivery log.

``GET /api/v1/push/vapid-public-key`` gives the key a browser needs for ``pushManager.subscribe``;
``POST /api/v1/push/subscriptions`` stores the ``PushSubscription.toJSON()`` it returns for the
calling user; ``DELETE`` forgets it. ``GET /api/v1/alerts/{id}/deliveries`` lists every push about
the alert (queued, sent, retrying, failed with the reason) with each attempt.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel

from alerting.api.deps import Engine
from alerting.api.models import Attempt, DeliveryLog
from alerting.api.routers.commands import AlertId, engine_alert_exists
from alerting.channels.base import WebPushSubscription
from alerting.channels.config import WebPushChannelConfig
from alerting.exceptions import SubscriptionTaken
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

router = APIRouter(prefix="/api/v1", tags=["push"])
Anyone = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.responder))]
Reader = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.planner))]


class VapidKey(BaseModel):
    """The application server key for ``pushManager.subscribe`` (base64url, uncompressed P-256 point)."""

    public_key: str


class Unsubscribe(BaseModel):
    endpoint: str


@router.get("/push/vapid-public-key", response_model=VapidKey)
def vapid_key(engine: Engine, _principal: Anyone) -> VapidKey:
    for channel in engine.book.config.channels:
        if isinstance(channel, WebPushChannelConfig):
            return VapidKey(public_key=channel.application_server_key)
    raise HTTPException(status.HTTP_404_NOT_FOUND, "no Web Push channel is configured")


@router.post("/push/subscriptions", status_code=status.HTTP_201_CREATED, response_model=WebPushSubscription)
def subscribe(subscription: WebPushSubscription, engine: Engine, principal: Anyone) -> WebPushSubscription:
    """Store the calling user's browser; 422 for an endpoint outside the channel's push services,
    409 for one another user subscribed."""
    channels = [c for c in engine.book.config.channels if isinstance(c, WebPushChannelConfig)]
    if not channels:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no Web Push channel is configured")
    if not any(channel.allows(subscription.endpoint) for channel in channels):
        services = sorted({entry for channel in channels for entry in channel.push_services})
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"the endpoint is not one of the push services alerting sends to ({', '.join(services)})",
        )
    try:
        engine.subscribe(principal.user, subscription.endpoint, subscription.keys.p256dh, subscription.keys.auth)
    except SubscriptionTaken as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return subscription


@router.delete("/push/subscriptions", status_code=status.HTTP_204_NO_CONTENT)
def unsubscribe(body: Unsubscribe, engine: Engine, principal: Anyone) -> None:
    if not engine.unsubscribe(body.endpoint, principal.user):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such subscription of yours")


@router.get("/alerts/{alert_id}/deliveries", response_model=list[DeliveryLog])
def deliveries(alert_id: AlertId, engine: Engine, _principal: Reader) -> list[DeliveryLog]:
    engine_alert_exists(engine, alert_id)
    rows, attempts = engine.deliveries(alert_id)
    by_delivery: dict[str, list[Attempt]] = {}
    for delivery_id, attempt, at, outcome, status_code, detail in attempts:
        by_delivery.setdefault(delivery_id, []).append(
            Attempt(attempt=attempt, at=at, outcome=outcome, status_code=status_code, detail=detail)
        )
    return [
        DeliveryLog(
            id=row[0],
            alert_version=row[1],
            kind=row[2],
            channel=row[3],
            recipient=row[4],
            status=row[5],
            attempts=row[6],
            last_error=row[7],
            created_at=row[8],
            sent_at=row[9],
            log=by_delivery.get(row[0], []),
        )
        for row in rows
    ]
