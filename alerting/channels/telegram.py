"""Telegram channel: send the notification to a chat through the Bot API.

``POST {base_url}/bot{token}/sendMessage`` with JSON ``{chat_id, text, parse_mode: "HTML",
disable_web_page_preview: true}``; when the notification has a snapshot,
``sendPhoto`` with ``{chat_id, photo: snapshot_url, caption, parse_mode: "HTML"}`` instead
(Telegram's servers fetch the photo, so the URL must be reachable from the internet). If Telegram
refuses the photo (400), the notification is sent again as text, so a snapshot Telegram cannot
fetch never blocks an alert.

The text is HTML: the title in bold (as the notification words it), the body, the location (a map
link) and the console link. User text is escaped; the body is cut on a character boundary
(preferably between words) so that the whole stays within 4096 characters for a message and 1024
for a caption.

The Bot API answers ``{"ok": false, "error_code": ..., "description": ..., "parameters": {...}}``
on errors; that becomes a :class:`DeliveryError`, retryable on 429 and 5xx, with
``parameters.retry_after`` as ``retry_after_s``. The bot token never appears in messages or logs.
The Bot API does not deduplicate: a retry after a timeout may post twice.
"""

from __future__ import annotations

import html
from typing import Any

import orjson

from alerting.channels.base import (
    DeliveryError,
    DeliveryResult,
    HttpChannelBase,
    HttpReply,
    Notification,
    WebPushSubscription,
    body_snippet,
    is_retryable_status,
    parse_retry_after,
)
from alerting.channels.config import TelegramChannelConfig

MAX_TEXT_CHARS = 4096
MAX_CAPTION_CHARS = 1024
MAX_TITLE_CHARS = 256
ELLIPSIS = "…"
# Past this share of the room, a cut moves back to the previous space rather than split a word.
WORD_CUT_FRACTION = 0.8


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def escape_truncated(text: str, max_chars: int) -> str:
    """``text`` HTML-escaped, cut so that the escaped form fits ``max_chars`` (ending with an ellipsis).

    The cut falls between characters of the original, never inside an entity like ``&amp;``.
    """
    escaped = html.escape(text, quote=False)
    if utf16_len(escaped) <= max_chars:
        return escaped
    room = max_chars - utf16_len(ELLIPSIS)
    if room <= 0:
        return ""
    pieces: list[str] = []
    used = 0
    for char in text:
        piece = html.escape(char, quote=False)
        size = utf16_len(piece)
        if used + size > room:
            break
        pieces.append(piece)
        used += size
    cut = "".join(pieces)
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= len(cut) * WORD_CUT_FRACTION:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def render_html(notification: Notification, max_chars: int) -> str:
    """The message (or caption) of a notification in Telegram's HTML, within ``max_chars``.

    The limit is checked on the HTML itself, which is never shorter than the text Telegram counts.
    """
    head = f"<b>{escape_truncated(notification.title, min(MAX_TITLE_CHARS, max_chars - 7))}</b>"
    tail = [line for line in (_location_html(notification), _console_link_html(notification)) if line]
    body = notification.body.strip()
    while True:
        footer = "\n".join(tail)
        fixed = utf16_len(head) + (utf16_len(footer) + 2 if footer else 0)
        room = max_chars - fixed - (2 if body else 0)
        if room >= min(utf16_len(body), 80) or not tail:
            break
        # A huge link must not push the alert's own words out: drop the location, then the link.
        tail.pop(0)
    parts = [head]
    if body and room > 0:
        parts.append(escape_truncated(body, room))
    if footer:
        parts.append(footer)
    text = "\n\n".join(part for part in parts if part)
    return text if utf16_len(text) <= max_chars else head


def _location_html(notification: Notification) -> str:
    place = html.escape(notification.district, quote=False) if notification.district else ""
    if notification.lat is None or notification.lon is None:
        return f"📍 {place}" if place else ""
    coords = f"{notification.lat:.5f},{notification.lon:.5f}"
    maps = html.escape(f"https://www.google.com/maps/search/?api=1&query={coords}", quote=True)
    where = f"{place} " if place else ""
    return f'📍 {where}<a href="{maps}">{coords}</a>'


def _console_link_html(notification: Notification) -> str:
    return f'<a href="{html.escape(notification.link, quote=True)}">Open in Pantau</a>'


class TelegramChannel(HttpChannelBase):
    """Deliver notifications to one Telegram chat (see the module docstring).

    Thread-safe: one instance may send from several threads at once (it shares one httpx client).
    """

    kind = "telegram"

    def __init__(self, config: TelegramChannelConfig) -> None:
        super().__init__(config.name, config.timeout_s)
        self.config = config
        self._api = f"{config.base_url}/bot{config.bot_token}/"
        self._target = f"telegram {config.name}"
        self._redact_in_logs(self._api, f"{config.base_url}/bot<token>/")

    def send(self, notification: Notification, target: WebPushSubscription | None = None) -> DeliveryResult:
        """Post the notification to the chat; raises :class:`DeliveryError` when Telegram refused it."""
        if target is not None:
            raise TypeError("a Telegram channel sends to its configured chat: pass target=None")
        deadline = self._deadline()
        photo_refused = ""
        if notification.snapshot_url:
            payload: dict[str, Any] = {
                "chat_id": self.config.chat_id,
                "photo": notification.snapshot_url,
                "caption": render_html(notification, MAX_CAPTION_CHARS),
                "parse_mode": "HTML",
            }
            try:
                return self._call("sendPhoto", payload, deadline)
            except DeliveryError as exc:
                if exc.status_code != 400:
                    raise
                photo_refused = exc.message
        payload = {
            "chat_id": self.config.chat_id,
            "text": render_html(notification, MAX_TEXT_CHARS),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        result = self._call("sendMessage", payload, deadline)
        if photo_refused:
            return DeliveryResult(
                result.status_code, f"{result.detail}; as text, the photo was refused: {photo_refused}"
            )
        return result

    def _call(self, method: str, payload: dict[str, Any], deadline: float) -> DeliveryResult:
        reply = self._post(
            self._target,
            self._api + method,
            content=orjson.dumps(payload),
            headers={"Content-Type": "application/json"},
            deadline=deadline,
        )
        answer = _json_object(reply.body)
        if reply.ok and (answer is None or answer.get("ok") is not False):
            result = answer.get("result") if answer else None
            message_id = result.get("message_id") if isinstance(result, dict) else None
            return DeliveryResult(reply.status_code, f"{self._target} {method}: message {message_id}")
        raise self._api_error(method, reply, answer)

    def _api_error(self, method: str, reply: HttpReply, answer: dict[str, Any] | None) -> DeliveryError:
        answer = answer or {}
        error_code = answer.get("error_code")
        status_code = error_code if isinstance(error_code, int) and error_code >= 400 else reply.status_code
        description = answer.get("description")
        message = f"{self._target} {method} returned {status_code}: "
        message += description if isinstance(description, str) else body_snippet(reply.body)
        parameters = answer.get("parameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        retry_after = parameters.get("retry_after")
        retry_after_s = (
            float(retry_after)
            if isinstance(retry_after, int | float)
            else parse_retry_after(reply.headers.get("retry-after"))
        )
        if "migrate_to_chat_id" in parameters:
            message += f" (the group is now a supergroup: set chat_id to {parameters['migrate_to_chat_id']})"
        retryable = status_code >= 300 and is_retryable_status(status_code)
        return DeliveryError(message, retryable=retryable, status_code=status_code, retry_after_s=retry_after_s)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return answer if isinstance(answer, dict) else None
