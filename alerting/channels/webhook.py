"""Webhook channel: POST a signed JSON document about the alert to an HTTP endpoint.

The request::

    POST <url>
    Content-Type: application/json
    X-Pantau-Delivery: <delivery_id>          the idempotency key: the same on every retry of a delivery
    X-Pantau-Timestamp: <unix seconds>        when this attempt was sent
    X-Pantau-Signature: sha256=<hex>          HMAC-SHA256 with the shared secret, see below

    {"delivery_id": ..., "kind": "alert" | "reminder" | "escalation" | "stand_down",
     "alert": {... the alert's full JSON ...}, "title": ..., "body": ..., "priority": 1..4,
     "link": <console deep link>, "snapshot_url": <url or null>, "sent_at": <ISO 8601, UTC>}

Verifying on the receiver: compute ``HMAC-SHA256(secret, "<X-Pantau-Timestamp>." + <raw body bytes>)``
as lowercase hex, compare it in constant time with the part of ``X-Pantau-Signature`` after
``sha256=``, and reject timestamps more than a few minutes from the receiver's clock (replays).
Verify the raw bytes as received, before parsing the JSON. :func:`verify_signature` does all of
it. Process each ``X-Pantau-Delivery`` at most once: a retry after a timeout may deliver it again.

Any 2xx is success; redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

import orjson

from alerting.channels.base import (
    DeliveryError,
    DeliveryResult,
    HttpChannelBase,
    Notification,
    WebPushSubscription,
    status_error,
)
from alerting.channels.config import WebhookChannelConfig
from pantau.redact import redact_url

SIGNATURE_PREFIX = "sha256="


def sign_webhook(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Pantau-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``b"<timestamp>." + body``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes,
    header: str,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (``X-Pantau-Signature``) signs ``body`` sent at ``timestamp`` with ``secret``.

    False too when the timestamp is not an integer or is more than ``tolerance_s`` away from
    ``now`` (unix seconds, default: the current time). The comparison is constant-time.
    """
    try:
        sent_at_s = int(str(timestamp).strip())
    except ValueError:
        return False
    current_s = time.time() if now is None else now
    if abs(current_s - sent_at_s) > tolerance_s:
        return False
    expected = sign_webhook(secret, sent_at_s, body).encode("ascii")
    return hmac.compare_digest(expected, header.strip().encode("utf-8", errors="replace"))


class WebhookChannel(HttpChannelBase):
    """Deliver notifications to one webhook URL (see the module docstring for the wire format).

    Thread-safe: one instance may send from several threads at once (it shares one httpx client).
    """

    kind = "webhook"

    def __init__(self, config: WebhookChannelConfig) -> None:
        super().__init__(config.name, config.timeout_s)
        self.config = config
        self._target = f"webhook {redact_url(config.url)}"
        self._redact_in_logs(config.url, redact_url(config.url))

    def send(self, notification: Notification, target: WebPushSubscription | None = None) -> DeliveryResult:
        """POST the notification; raises :class:`DeliveryError` when the receiver did not accept it."""
        if target is not None:
            raise TypeError("a webhook channel sends to its configured URL: pass target=None")
        deadline = self._deadline()
        now = datetime.now(UTC)
        timestamp = int(now.timestamp())
        document = {
            "delivery_id": notification.delivery_id,
            "kind": notification.kind,
            "alert": notification.alert,
            "title": notification.title,
            "body": notification.body,
            "priority": notification.priority,
            "link": notification.link,
            "snapshot_url": notification.snapshot_url,
            "sent_at": now.isoformat(),
        }
        try:
            # Serialized once: the signature covers exactly the bytes that are sent.
            body = orjson.dumps(document)
        except orjson.JSONEncodeError as exc:
            raise DeliveryError(f"{self._target}: cannot serialize the alert: {exc}", retryable=False) from exc
        headers = {
            **self.config.headers,
            "Content-Type": "application/json",
            "X-Pantau-Delivery": notification.delivery_id,
            "X-Pantau-Timestamp": str(timestamp),
            "X-Pantau-Signature": sign_webhook(self.config.secret, timestamp, body),
        }
        reply = self._post(self._target, self.config.url, content=body, headers=headers, deadline=deadline)
        if not reply.ok:
            raise status_error(self._target, reply.status_code, reply.body, reply.headers)
        return DeliveryResult(reply.status_code, f"{self._target} accepted delivery {notification.delivery_id}")
