"""The webhook channel against a real local receiver: signature, idempotency key, classification, timeouts."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from alerting.channels import (
    DeliveryError,
    WebhookChannel,
    WebhookChannelConfig,
    build_channel,
    parse_channel_config,
    sign_webhook,
    verify_signature,
)

if TYPE_CHECKING:
    from tests.alerting.channels.conftest import NotificationFactory, ReceiverFactory

pytestmark = pytest.mark.unit

SECRET = "s3cret-shared-with-the-receiver"
TIMEOUT_S = 0.5
MARGIN_S = 2.0  # the receiver hangs 5 s: finishing well before that proves the cut-off, even on a busy machine


def _channel(url: str, **overrides: object) -> WebhookChannel:
    values: dict[str, object] = {"name": "ops-hook", "url": url + "/hook?key=abc", "secret": SECRET}
    values.update(overrides)
    return WebhookChannel(WebhookChannelConfig.model_validate({"timeout_s": TIMEOUT_S, **values}))


def test_posts_signed_json_with_the_delivery_id_as_idempotency_key(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    notification = notification_factory(snapshot_url="https://console.pantau.example/snap/7.jpg")
    with _channel(receiver.url, headers={"X-Api-Key": "k-123"}) as channel:
        result = channel.send(notification)

    assert result.status_code == 200
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hook?key=abc"
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-pantau-delivery"] == notification.delivery_id
    assert headers["x-api-key"] == "k-123"
    assert abs(int(headers["x-pantau-timestamp"]) - time.time()) < 5
    document = request.json()
    assert document == {
        "delivery_id": notification.delivery_id,
        "kind": "alert",
        "alert": notification.alert,
        "title": notification.title,
        "body": notification.body,
        "priority": 1,
        "link": notification.link,
        "snapshot_url": "https://console.pantau.example/snap/7.jpg",
        "sent_at": document["sent_at"],
    }
    assert int(headers["x-pantau-timestamp"]) == int(datetime.fromisoformat(document["sent_at"]).timestamp())

    signature, timestamp = headers["x-pantau-signature"], headers["x-pantau-timestamp"]
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, timestamp, request.body, signature)
    assert not verify_signature("another-secret-of-16+chars", timestamp, request.body, signature)
    assert not verify_signature(SECRET, timestamp, request.body.replace(b'"priority":1', b'"priority":4'), signature)
    assert not verify_signature(SECRET, int(timestamp) + 1, request.body, signature)


def test_signature_is_hmac_of_timestamp_dot_body_and_is_bounded_in_time() -> None:
    body = b'{"delivery_id":"d1"}'
    header = sign_webhook(SECRET, 1_700_000_000, body)
    assert header == sign_webhook(SECRET, "1700000000", body)
    assert verify_signature(SECRET, "1700000000", body, header, now=1_700_000_100)
    assert not verify_signature(SECRET, "1700000000", body, header, now=1_700_000_301)
    assert not verify_signature(SECRET, "1700000000", body, header, now=1_699_999_699)
    assert verify_signature(SECRET, "1700000000", body, header, tolerance_s=1000, now=1_700_000_900)
    assert not verify_signature(SECRET, "not-a-time", body, header, now=1_700_000_000)
    assert not verify_signature(SECRET, "1700000000", body, header.removeprefix("sha256="), now=1_700_000_000)
    assert not verify_signature(SECRET, "1700000000", body, "sha256=é", now=1_700_000_000)


def test_reuses_one_connection_for_consecutive_deliveries(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    with _channel(receiver.url) as channel:
        for n in range(5):
            channel.send(notification_factory(delivery_id=f"dlv-{n}"))
    assert [r.headers["x-pantau-delivery"] for r in receiver.requests] == [f"dlv-{n}" for n in range(5)]
    assert len({r.client_port for r in receiver.requests}) == 1


def test_reuses_one_kept_alive_connection(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    # Speed is measured by `pantau bench alerting`; here, that the connection is reused at all.
    receiver = receiver_factory()
    notification = notification_factory()
    with _channel(receiver.url) as channel:
        for _ in range(200):
            channel.send(notification)
    assert len(receiver.requests) == 200
    assert len({r.client_port for r in receiver.requests}) == 1


def test_one_channel_sends_from_several_threads_at_once(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    with _channel(receiver.url, timeout_s=10) as channel, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda n: channel.send(notification_factory(delivery_id=f"d-{n}")), range(200)))
    assert all(result.status_code == 200 for result in results)
    assert sorted(r.headers["x-pantau-delivery"] for r in receiver.requests) == sorted(f"d-{n}" for n in range(200))
    assert all(verify_signature(SECRET, r.headers["x-pantau-timestamp"], r.body, r.headers["x-pantau-signature"])
               for r in receiver.requests)  # fmt: skip


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (408, True), (425, True), (429, True), (400, False), (401, False),
     (403, False), (404, False), (410, False), (422, False), (301, False)],
)  # fmt: skip
def test_classifies_failed_statuses(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory, status: int, retryable: bool
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(status, b"x" * 300, {"Location": "https://elsewhere.example/"}))
    with _channel(receiver.url) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory())
    error = caught.value
    assert error.retryable is retryable
    assert error.status_code == status
    assert not error.gone
    assert str(error).startswith(f"webhook http://127.0.0.1:{receiver.port}/hook returned {status}: ")
    assert "key=abc" not in str(error)


def test_error_message_carries_the_first_200_characters_of_the_body(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(500, b"internal error: " + b"y" * 500))
    with _channel(receiver.url) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory())
    message = str(caught.value)
    assert message.endswith(": " + ("internal error: " + "y" * 500)[:200])
    assert caught.value.retry_after_s is None


@pytest.mark.parametrize("status", [429, 503])
def test_reports_retry_after_seconds(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory, status: int
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(status, b"slow down", {"Retry-After": "7"}))
    with _channel(receiver.url) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory())
    assert caught.value.retryable
    assert caught.value.retry_after_s == 7.0


def test_hanging_receiver_times_out_retryably_within_the_timeout(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(hang_s=5.0))
    with _channel(receiver.url) as channel:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            channel.send(notification_factory())
        elapsed_s = time.monotonic() - started
    assert caught.value.retryable
    assert caught.value.status_code is None
    assert "timed out after 0.5 s" in str(caught.value)
    assert TIMEOUT_S * 0.9 <= elapsed_s < TIMEOUT_S + MARGIN_S


def test_closed_connection_is_retryable(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(close=True), receiver.reply(200))
    with _channel(receiver.url) as channel:
        with pytest.raises(DeliveryError) as caught:
            channel.send(notification_factory())
        assert caught.value.retryable
        assert "connection" in str(caught.value)
        # The same channel recovers on the next attempt.
        assert channel.send(notification_factory()).status_code == 200


def test_connection_refused_is_retryable(closed_port_url: str, notification_factory: NotificationFactory) -> None:
    with _channel(closed_port_url) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory())
    assert caught.value.retryable
    assert "connection refused" in str(caught.value).lower()


def test_target_must_be_none(receiver_factory: ReceiverFactory, notification_factory: NotificationFactory) -> None:
    receiver = receiver_factory()
    with _channel(receiver.url) as channel, pytest.raises(TypeError):
        channel.send(notification_factory(), object())  # type: ignore[arg-type]
    assert receiver.requests == []


def test_config_is_strict_and_hides_the_secret() -> None:
    config = parse_channel_config({"type": "webhook", "name": "ops", "url": "https://h.example/x", "secret": SECRET})
    assert isinstance(config, WebhookChannelConfig)
    assert config.timeout_s == 5.0
    assert SECRET not in repr(config)
    assert isinstance(build_channel(config), WebhookChannel)
    for validate in (parse_channel_config, WebhookChannelConfig.model_validate):
        with pytest.raises(ValidationError) as short:
            validate({"type": "webhook", "name": "ops", "url": "https://h.example/x", "secret": "tiny-secret"})
        assert "tiny-secret" not in str(short.value)
    for bad in (
        {"url": "ftp://h.example/x"},
        {"headers": {"X-Pantau-Signature": "forged"}},
        {"headers": {"X-Ok": "two\nlines"}},
        {"unknown": 1},
        {"timeout_s": 0},
    ):
        with pytest.raises(ValidationError):
            parse_channel_config(
                {"type": "webhook", "name": "ops", "url": "https://h.example/x", "secret": SECRET, **bad}
            )
