"""The Telegram channel against a local fake of the Bot API: methods, HTML, truncation, error JSON."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from alerting.channels import (
    DeliveryError,
    TelegramChannel,
    TelegramChannelConfig,
    build_channel,
    parse_channel_config,
)
from alerting.channels.telegram import escape_truncated, utf16_len

if TYPE_CHECKING:
    from tests.alerting.channels.conftest import NotificationFactory, ReceiverFactory, RecordedRequest, Reply

pytestmark = pytest.mark.unit

TOKEN = "123456:TEST-token_abcdefghij"
CHAT_ID = "-1001234567890"
TIMEOUT_S = 0.5
OK = {"ok": True, "result": {"message_id": 42, "chat": {"id": -1001234567890}}}


def _channel(base_url: str) -> TelegramChannel:
    return TelegramChannel(
        TelegramChannelConfig(
            name="command-room", base_url=base_url, bot_token=TOKEN, chat_id=CHAT_ID, timeout_s=TIMEOUT_S
        )
    )


class _Text(HTMLParser):
    """The visible text of Telegram HTML; fails on tags Telegram would not accept here."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ("b", "a")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _visible(text: str) -> str:
    parser = _Text()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def test_sends_a_message_with_html_and_no_preview(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.json_reply(200, OK))
    notification = notification_factory(
        title="Smoke <b>at</b> Pasar & Co", body='PM2.5 > 250 "very unhealthy" <script>'
    )
    with _channel(receiver.url) as channel:
        result = channel.send(notification)

    assert result.status_code == 200
    assert "message 42" in result.detail
    assert TOKEN not in result.detail
    [request] = receiver.requests
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.headers["content-type"] == "application/json"
    payload = request.json()
    assert payload["chat_id"] == CHAT_ID
    assert payload["parse_mode"] == "HTML"
    assert payload["disable_web_page_preview"] is True
    text = payload["text"]
    assert text.startswith("<b>Smoke &lt;b&gt;at&lt;/b&gt; Pasar &amp; Co</b>\n\n")
    assert 'PM2.5 &gt; 250 "very unhealthy" &lt;script&gt;' in text
    assert f'<a href="{notification.link}">Open in Pantau</a>' in text
    assert "Klojen" in text and "-7.98000,112.63000" in text
    visible = _visible(text)
    assert notification.title in visible and notification.body in visible


def test_sends_a_photo_with_a_caption_when_there_is_a_snapshot(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.json_reply(200, OK))
    notification = notification_factory(
        snapshot_url="https://snap.example/7.jpg", body="word " * 600, kind="escalation", title="Escalated: P1 Flood"
    )
    with _channel(receiver.url) as channel:
        channel.send(notification)

    [request] = receiver.requests
    assert request.path == f"/bot{TOKEN}/sendPhoto"
    payload = request.json()
    assert payload["chat_id"] == CHAT_ID
    assert payload["photo"] == "https://snap.example/7.jpg"
    assert payload["parse_mode"] == "HTML"
    caption = payload["caption"]
    assert utf16_len(caption) <= 1024
    assert caption.startswith("<b>Escalated: P1 Flood</b>\n\nword word")
    assert "word word…" in caption
    assert "Open in Pantau" in caption
    _visible(caption)


def test_long_text_is_cut_cleanly_within_4096(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.json_reply(200, OK))
    body = "Banjir & genangan <2m> 🌊 " * 400
    with _channel(receiver.url) as channel:
        channel.send(notification_factory(body=body))
    text = receiver.requests[0].json()["text"]
    assert utf16_len(text) <= 4096
    # No entity is cut in half: every "&" starts a whole entity.
    assert all(re.match(r"&(amp|lt|gt|quot|#x27);", text[i:]) for i in range(len(text)) if text[i] == "&")
    visible_body = _visible(text).split("\n\n")[1]
    assert visible_body.endswith("…")
    assert body.startswith(visible_body.removesuffix("…"))
    # The limit is checked on the HTML, longer than the text Telegram counts: a margin, not a loss.
    assert len(visible_body) > 2500


def test_escape_truncated() -> None:
    assert escape_truncated("a < b", 100) == "a &lt; b"
    cut = escape_truncated("&&&&&&&&&&", 12)
    assert cut == "&amp;&amp;…"
    # A cut near the end moves back to a space; one far from any space splits the word.
    assert escape_truncated("alpha beta gamma delta", 20) == "alpha beta gamma…"
    assert escape_truncated("one two three four five", 12) == "one two thr…"
    assert utf16_len(escape_truncated("🌊" * 50, 11)) <= 11
    assert escape_truncated("anything", 0) == ""


def test_refused_photo_falls_back_to_text(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()

    def bot_api(request: RecordedRequest) -> Reply:
        if request.path.endswith("/sendPhoto"):
            refusal = {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: wrong file identifier/HTTP URL specified",
            }
            return receiver.json_reply(400, refusal)
        return receiver.json_reply(200, OK)

    receiver.handler = bot_api
    with _channel(receiver.url) as channel:
        result = channel.send(notification_factory(snapshot_url="http://10.0.0.5/snap/7.jpg"))
    assert [r.path.rsplit("/", 1)[1] for r in receiver.requests] == ["sendPhoto", "sendMessage"]
    assert result.status_code == 200
    assert "wrong file identifier" in result.detail


def test_rate_limit_is_retryable_with_retry_after(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    answer = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 17",
        "parameters": {"retry_after": 17},
    }
    receiver.reply_with(receiver.json_reply(429, answer))
    with _channel(receiver.url) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory())
    error = caught.value
    assert error.retryable
    assert error.status_code == 429
    assert error.retry_after_s == 17.0
    assert str(error) == "telegram command-room sendMessage returned 429: Too Many Requests: retry after 17"


@pytest.mark.parametrize(
    ("status", "answer", "retryable", "fragment"),
    [
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, False, "chat not found"),
        (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was kicked"}, False, "bot was kicked"),
        (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, True, "Bad Gateway"),
        (200, {"ok": False, "description": "odd"}, False, "odd"),
        (
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat",
             "parameters": {"migrate_to_chat_id": -1009876543210}},
            False,
            "set chat_id to -1009876543210",
        ),
    ],
)  # fmt: skip
def test_error_json_becomes_a_delivery_error(
    receiver_factory: ReceiverFactory,
    notification_factory: NotificationFactory,
    status: int,
    answer: dict[str, object],
    retryable: bool,
    fragment: str,
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.json_reply(status, answer))
    with _channel(receiver.url) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory())
    assert caught.value.retryable is retryable
    assert fragment in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_non_json_server_error_is_retryable(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(503, b"<html>maintenance</html>", {"Retry-After": "30"}))
    with _channel(receiver.url) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory())
    assert caught.value.retryable
    assert caught.value.retry_after_s == 30.0
    assert "maintenance" in str(caught.value)


def test_hang_times_out_and_the_token_stays_out_of_logs(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.json_reply(200, OK), receiver.reply(hang_s=5.0))
    with caplog.at_level(logging.INFO, logger="httpx"), _channel(receiver.url) as channel:
        channel.send(notification_factory())
        with pytest.raises(DeliveryError) as caught:
            channel.send(notification_factory())
    assert caught.value.retryable
    assert "timed out" in str(caught.value)
    assert any("sendMessage" in record.getMessage() for record in caplog.records)
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


def test_config_validation() -> None:
    config = parse_channel_config({"type": "telegram", "name": "t", "bot_token": TOKEN, "chat_id": -1001234567890})
    assert isinstance(config, TelegramChannelConfig)
    assert config.chat_id == "-1001234567890"
    assert config.base_url == "https://api.telegram.org"
    assert TOKEN not in repr(config)
    assert isinstance(build_channel(config), TelegramChannel)
    assert parse_channel_config({"type": "telegram", "name": "t", "bot_token": TOKEN, "chat_id": "@pantau_ops"})
    for bad in ({"bot_token": "no-colon"}, {"chat_id": "chat one"}, {"chat_id": True}):
        with pytest.raises(ValidationError) as caught:
            parse_channel_config({"type": "telegram", "name": "t", "bot_token": TOKEN, "chat_id": "1", **bad})
        assert "no-colon" not in str(caught.value)
