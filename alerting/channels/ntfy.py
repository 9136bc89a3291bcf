"""ntfy channel: publish the notification to a topic of an ntfy-compatible server.

``POST {base_url}/{topic}`` with the body as the message (UTF-8, cut to 4096 bytes: ntfy turns a
longer body into a file attachment) and the options as headers, see https://docs.ntfy.sh/publish/:

- ``Title``: the notification's title;
- ``Priority``: P1 → 5 (max/urgent), P2 → 4 (high), P3 → 3 (default), P4 → 2 (low);
- ``Tags``: an emoji short code (shown before the title), the kind, the priority and the district;
- ``Click``: the console deep link; ``Attach``: the snapshot URL, when there is one;
- ``Authorization: Bearer <token>`` when a token is configured;
- ``X-Idempotency-Key``: the delivery id (not an ntfy header: ntfy ignores it, proxies may use it).

Header values that are not ASCII are sent as RFC 2047 encoded words (``=?UTF-8?B?...?=``), which
ntfy decodes. ntfy does not deduplicate: a retry after a timeout may notify twice.
"""

from __future__ import annotations

import base64

import orjson

from alerting.channels.base import (
    DeliveryResult,
    HttpChannelBase,
    Notification,
    WebPushSubscription,
    origin_of,
    status_error,
)
from alerting.channels.config import NtfyChannelConfig

NTFY_PRIORITY = {1: "5", 2: "4", 3: "3", 4: "2"}
# ntfy shows a tag that is an emoji short code as that emoji in front of the title.
EMOJI_BY_PRIORITY = {1: "rotating_light", 2: "warning", 3: "bell", 4: "information_source"}
STAND_DOWN_EMOJI = "white_check_mark"
MAX_MESSAGE_BYTES = 4096
ELLIPSIS = "…"


def header_value(text: str) -> str:
    """One line; ASCII as is, anything else as an RFC 2047 encoded word."""
    line = " ".join(text.splitlines()).strip()
    if line.isascii():
        return line
    return "=?UTF-8?B?" + base64.b64encode(line.encode("utf-8")).decode("ascii") + "?="


def truncate_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut on a character boundary so that its UTF-8 fits ``max_bytes``, ending with an ellipsis."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore").rstrip() + ELLIPSIS


def ntfy_tags(notification: Notification) -> list[str]:
    """The tags of the notification, the emoji first."""
    emoji = STAND_DOWN_EMOJI if notification.kind == "stand_down" else EMOJI_BY_PRIORITY[notification.priority]
    tags = [emoji, notification.kind, f"p{notification.priority}"]
    if notification.district:
        # A comma would split the district into two tags.
        tags.append(" ".join(notification.district.replace(",", " ").split()))
    return [tag for tag in tags if tag]


class NtfyChannel(HttpChannelBase):
    """Deliver notifications to one ntfy topic (see the module docstring for the request).

    Thread-safe: one instance may send from several threads at once (it shares one httpx client).
    """

    kind = "ntfy"

    def __init__(self, config: NtfyChannelConfig) -> None:
        super().__init__(config.name, config.timeout_s)
        self.config = config
        self._url = f"{config.base_url}/{config.topic}"
        # The topic is left out: on a public server it is the password.
        self._target = f"ntfy {config.name} at {origin_of(config.base_url)}"
        self._redact_in_logs(self._url, f"{config.base_url}/<topic>")

    def headers_for(self, notification: Notification) -> dict[str, str]:
        """The publish headers of a notification."""
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Title": header_value(notification.title),
            "Priority": NTFY_PRIORITY[notification.priority],
            "Tags": header_value(",".join(ntfy_tags(notification))),
            "Click": header_value(notification.link),
            "X-Idempotency-Key": notification.delivery_id,
        }
        if notification.snapshot_url:
            headers["Attach"] = header_value(notification.snapshot_url)
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        return headers

    def send(self, notification: Notification, target: WebPushSubscription | None = None) -> DeliveryResult:
        """Publish the notification; raises :class:`DeliveryError` when the server did not accept it."""
        if target is not None:
            raise TypeError("an ntfy channel publishes to its configured topic: pass target=None")
        deadline = self._deadline()
        # ntfy replaces an empty message by "triggered"; the title says more.
        message = notification.body or notification.title
        body = truncate_utf8(message, MAX_MESSAGE_BYTES).encode("utf-8")
        reply = self._post(
            self._target, self._url, content=body, headers=self.headers_for(notification), deadline=deadline
        )
        if not reply.ok:
            raise status_error(self._target, reply.status_code, reply.body, reply.headers)
        message_id = _message_id(reply.body)
        detail = f"{self._target} published message {message_id}" if message_id else f"{self._target} published"
        return DeliveryResult(reply.status_code, detail)


def _message_id(body: bytes) -> str | None:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    message_id = answer.get("id") if isinstance(answer, dict) else None
    return message_id if isinstance(message_id, str) else None
