"""The ntfy channel against a real local receiver: publish URL, headers, priority mapping, errors."""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from alerting.channels import DeliveryError, NtfyChannel, NtfyChannelConfig, build_channel, parse_channel_config

if TYPE_CHECKING:
    from tests.alerting.channels.conftest import NotificationFactory, ReceiverFactory

pytestmark = pytest.mark.unit

TIMEOUT_S = 0.5
TOKEN = "tk_abcdefghijklmnopqrstuvwxyz012"


def _channel(base_url: str, token: str | None = TOKEN) -> NtfyChannel:
    config = NtfyChannelConfig(
        name="field-team", base_url=base_url + "/", topic="pantau-field", token=token, timeout_s=TIMEOUT_S
    )
    return NtfyChannel(config)


def _decode_rfc2047(value: str) -> str:
    assert value.startswith("=?UTF-8?B?") and value.endswith("?=")
    return base64.b64decode(value[len("=?UTF-8?B?") : -2]).decode("utf-8")


def test_publishes_the_body_with_ntfy_headers(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.json_reply(200, {"id": "msg-1", "event": "message", "topic": "pantau-field"}))
    notification = notification_factory(snapshot_url="https://console.pantau.example/snap/7.jpg")
    with _channel(receiver.url) as channel:
        result = channel.send(notification)

    assert result.status_code == 200
    assert "msg-1" in result.detail
    assert "pantau-field" not in result.detail
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/pantau-field")
    assert request.body.decode("utf-8") == notification.body
    headers = request.headers
    assert headers["title"] == notification.title
    assert headers["priority"] == "5"
    assert headers["tags"] == "rotating_light,alert,p1,Klojen"
    assert headers["click"] == notification.link
    assert headers["attach"] == "https://console.pantau.example/snap/7.jpg"
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-idempotency-key"] == notification.delivery_id
    assert headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(("priority", "ntfy_priority"), [(1, "5"), (2, "4"), (3, "3"), (4, "2")])
def test_maps_priorities(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory, priority: int, ntfy_priority: str
) -> None:
    receiver = receiver_factory()
    with _channel(receiver.url) as channel:
        channel.send(notification_factory(priority=priority))
    assert receiver.requests[0].headers["priority"] == ntfy_priority


def test_optional_headers_are_left_out_and_stand_down_is_tagged(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    with _channel(receiver.url, token=None) as channel:
        channel.send(notification_factory(kind="stand_down", priority=3, district=None, snapshot_url=None))
    headers = receiver.requests[0].headers
    assert "attach" not in headers
    assert "authorization" not in headers
    assert headers["tags"] == "white_check_mark,stand_down,p3"


def test_non_ascii_headers_are_rfc2047_encoded_and_long_bodies_cut(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    title = "Banjir — Kali Brantas 🌊\nlevel 3.1 m"
    body = "Air naik ✓ " * 1000
    with _channel(receiver.url) as channel:
        channel.send(notification_factory(title=title, body=body, district="Lowokwaru, Utara"))
    request = receiver.requests[0]
    assert _decode_rfc2047(request.headers["title"]) == "Banjir — Kali Brantas 🌊 level 3.1 m"
    assert request.headers["tags"] == "rotating_light,alert,p1,Lowokwaru Utara"
    assert len(request.body) <= 4096
    text = request.body.decode("utf-8")
    assert text.endswith("…")
    assert body.startswith(text.removesuffix("…"))


def test_empty_body_sends_the_title(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    with _channel(receiver.url) as channel:
        channel.send(notification_factory(body=""))
    assert receiver.requests[0].body.decode() == notification_factory().title


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (507, True), (401, False), (413, False)])
def test_classifies_errors_without_revealing_the_topic(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory, status: int, retryable: bool
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.json_reply(status, {"code": status * 100 + 1, "http": status, "error": "nope"}))
    with _channel(receiver.url) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory())
    assert caught.value.retryable is retryable
    assert caught.value.status_code == status
    message = str(caught.value)
    assert message.startswith(f"ntfy field-team at http://127.0.0.1:{receiver.port} returned {status}: ")
    assert '"error":"nope"' in message
    assert "pantau-field" not in message


def test_hang_times_out_retryably(receiver_factory: ReceiverFactory, notification_factory: NotificationFactory) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(hang_s=5.0))
    with _channel(receiver.url) as channel:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            channel.send(notification_factory())
        elapsed_s = time.monotonic() - started
    assert caught.value.retryable
    assert elapsed_s < TIMEOUT_S + 2.0  # the receiver hangs 5 s


def test_config_validation() -> None:
    config = parse_channel_config({"type": "ntfy", "name": "n", "base_url": "https://ntfy.example/", "topic": "t-1"})
    assert isinstance(config, NtfyChannelConfig)
    assert config.base_url == "https://ntfy.example"
    assert config.token is None
    assert isinstance(build_channel(config), NtfyChannel)
    for bad in ({"topic": "a/b"}, {"topic": ""}, {"token": "has space"}, {"base_url": "ntfy.example"}):
        with pytest.raises(ValidationError):
            parse_channel_config({"type": "ntfy", "name": "n", "base_url": "https://ntfy.example", "topic": "t", **bad})
