"""The Web Push channel against a local fake push service that decrypts like a browser would.

The test plays the browser: it makes a subscription key pair (ECDH P-256) and an auth secret, points
the subscription's endpoint at the local receiver, and the receiver decrypts each push with
http_ece (aes128gcm) and checks the VAPID signature.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pydantic import ValidationError

from alerting.channels import (
    DeliveryError,
    WebPushChannel,
    WebPushChannelConfig,
    WebPushSubscription,
    build_channel,
    generate_vapid_keys,
    load_vapid_private_key,
    parse_channel_config,
    vapid_public_key,
)
from alerting.channels.webpush import MAX_PAYLOAD_BYTES, push_payload

if TYPE_CHECKING:
    from tests.alerting.channels.conftest import NotificationFactory, ReceiverFactory, RecordedRequest, Reply

pytestmark = pytest.mark.unit

SUBJECT = "mailto:ops@pantau.example"
TIMEOUT_S = 0.5
PAYLOAD_KEYS = {
    "title", "body", "priority", "alert_id", "kind", "lat", "lon", "district", "snapshot_url", "link", "delivery_id"
}  # fmt: skip


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A browser's side of one subscription: its ECDH key and auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> Browser:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    def subscription(self, endpoint: str) -> WebPushSubscription:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        # The exact shape of PushSubscription.toJSON().
        return WebPushSubscription.model_validate(
            {
                "endpoint": endpoint,
                "expirationTime": None,
                "keys": {"p256dh": _b64url(public), "auth": _b64url(self.auth)},
            }
        )

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        document = json.loads(plain)
        assert isinstance(document, dict)
        return document


def _verify_vapid(authorization: str, expected_public_key: str) -> dict[str, Any]:
    """The JWT's claims, after checking its ES256 signature with the public key in ``k``."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == expected_public_key
    header_b64, claims_b64, signature_b64 = fields["t"].split(".")
    assert json.loads(_b64url_decode(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    signature = _b64url_decode(signature_b64)
    assert len(signature) == 64
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url_decode(fields["k"]))
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public_key.verify(der, f"{header_b64}.{claims_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(_b64url_decode(claims_b64))
    assert isinstance(claims, dict)
    return claims


def _config(private_key: str, **overrides: Any) -> WebPushChannelConfig:
    values: dict[str, Any] = {
        "name": "browsers",
        "vapid_private_key": private_key,
        "vapid_subject": SUBJECT,
        "timeout_s": TIMEOUT_S,
        "push_services": ["http://127.0.0.1"],  # the local receivers stand in for the browsers' push services
    }
    values.update(overrides)
    return WebPushChannelConfig.model_validate(values)


def test_push_is_encrypted_to_the_browser_and_vapid_signed(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    browser = Browser.new()
    decrypted: list[dict[str, Any]] = []

    def push_service(request: RecordedRequest) -> Reply:
        decrypted.append(browser.decrypt(request.body))
        return receiver.reply(201, b"")

    receiver.handler = push_service
    private_key, public_key = generate_vapid_keys()
    subscription = browser.subscription(f"{receiver.url}/push/v2/abc123")
    notification = notification_factory(snapshot_url="https://console.pantau.example/snap/7.jpg")
    with WebPushChannel(_config(private_key, ttl_s=900)) as channel:
        result = channel.send(notification, subscription)

    assert result.status_code == 201
    assert "abc123" not in result.detail
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/push/v2/abc123")
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["ttl"] == "900"
    assert request.headers["urgency"] == "high"
    [payload] = decrypted
    assert payload == {
        "title": notification.title,
        "body": notification.body,
        "priority": 1,
        "alert_id": "alert-7",
        "kind": "alert",
        "lat": -7.98,
        "lon": 112.63,
        "district": "Klojen",
        "snapshot_url": "https://console.pantau.example/snap/7.jpg",
        "link": notification.link,
        "delivery_id": notification.delivery_id,
    }
    claims = _verify_vapid(request.headers["authorization"], public_key)
    assert claims["aud"] == receiver.url
    assert claims["sub"] == SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def test_forged_vapid_signature_is_detected(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(201, b""))
    private_key, _ = generate_vapid_keys()
    _, other_public_key = generate_vapid_keys()
    with WebPushChannel(_config(private_key)) as channel:
        channel.send(notification_factory(), Browser.new().subscription(receiver.url + "/p"))
    authorization = receiver.requests[0].headers["authorization"]
    own_key = authorization.rsplit("k=", 1)[1]
    with pytest.raises(InvalidSignature):
        _verify_vapid(authorization.replace(own_key, other_public_key), other_public_key)


@pytest.mark.parametrize(("priority", "urgency"), [(1, "high"), (2, "high"), (3, "normal"), (4, "normal")])
def test_urgency_follows_priority(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory, priority: int, urgency: str
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(201, b""))
    with WebPushChannel(_config(generate_vapid_keys()[0])) as channel:
        channel.send(notification_factory(priority=priority), Browser.new().subscription(receiver.url + "/p"))
    assert receiver.requests[0].headers["urgency"] == urgency
    assert receiver.requests[0].headers["ttl"] == "3600"


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory, status: int
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(status, b"push subscription has unsubscribed or expired."))
    with WebPushChannel(_config(generate_vapid_keys()[0])) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory(), Browser.new().subscription(receiver.url + "/p"))
    error = caught.value
    assert error.gone
    assert not error.retryable
    assert error.status_code == status
    # Only the status: what a push service answers never reaches the delivery log operators read.
    assert "unsubscribed or expired" not in str(error) and str(error).endswith(f"returned {status}")


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after_s"),
    [(429, {"Retry-After": "12"}, True, 12.0), (500, {}, True, None), (400, {}, False, None), (413, {}, False, None)],
)
def test_classifies_push_service_errors(
    receiver_factory: ReceiverFactory,
    notification_factory: NotificationFactory,
    status: int,
    headers: dict[str, str],
    retryable: bool,
    retry_after_s: float | None,
) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(status, b"no", headers))
    with WebPushChannel(_config(generate_vapid_keys()[0])) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory(), Browser.new().subscription(receiver.url + "/p"))
    assert caught.value.retryable is retryable
    assert caught.value.retry_after_s == retry_after_s
    assert not caught.value.gone


def test_hang_times_out_retryably(receiver_factory: ReceiverFactory, notification_factory: NotificationFactory) -> None:
    receiver = receiver_factory()
    receiver.reply_with(receiver.reply(hang_s=5.0))
    with WebPushChannel(_config(generate_vapid_keys()[0])) as channel:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            channel.send(notification_factory(), Browser.new().subscription(receiver.url + "/p"))
        elapsed_s = time.monotonic() - started
    assert caught.value.retryable
    assert "timed out after 0.5 s" in str(caught.value)
    assert elapsed_s < TIMEOUT_S + 2.0  # the receiver hangs 5 s


def test_connection_refused_is_retryable(closed_port_url: str, notification_factory: NotificationFactory) -> None:
    with WebPushChannel(_config(generate_vapid_keys()[0])) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(notification_factory(), Browser.new().subscription(closed_port_url + "/p"))
    assert caught.value.retryable


def test_sends_from_several_threads_at_once(
    receiver_factory: ReceiverFactory, notification_factory: NotificationFactory
) -> None:
    receiver = receiver_factory()
    browser = Browser.new()
    seen: list[str] = []
    lock = threading.Lock()

    def push_service(request: RecordedRequest) -> Reply:
        with lock:
            seen.append(str(browser.decrypt(request.body)["delivery_id"]))
        return receiver.reply(201, b"")

    receiver.handler = push_service
    subscription = browser.subscription(receiver.url + "/p")
    with WebPushChannel(_config(generate_vapid_keys()[0])) as channel, ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda n: channel.send(notification_factory(delivery_id=f"d-{n}"), subscription), range(40))
        )
    assert all(result.status_code == 201 for result in results)
    assert sorted(seen) == sorted(f"d-{n}" for n in range(40))


def test_payload_stays_small_and_leaves_the_alert_out(notification_factory: NotificationFactory) -> None:
    notification = notification_factory(
        title="T" * 2000, body='Banjir "besar" 🌊 ' * 500, alert={"evidence": {"blob": "x" * 10_000}}
    )
    data = push_payload(notification)
    assert len(data) <= MAX_PAYLOAD_BYTES
    document = json.loads(data)
    assert set(document) == PAYLOAD_KEYS
    assert document["title"] == "T" * 199 + "…"
    assert document["body"].endswith("…")
    assert len(data) > MAX_PAYLOAD_BYTES - 20
    assert notification.body.startswith(document["body"].removesuffix("…"))
    small = json.loads(push_payload(notification_factory()))
    assert small["body"] == notification_factory().body


def test_target_must_be_a_subscription(notification_factory: NotificationFactory) -> None:
    with WebPushChannel(_config(generate_vapid_keys()[0])) as channel, pytest.raises(TypeError):
        channel.send(notification_factory())


def test_keys_and_config() -> None:
    private_key, public_key = generate_vapid_keys()
    key = load_vapid_private_key(private_key)
    assert vapid_public_key(key) == public_key
    assert len(_b64url_decode(public_key)) == 65 and _b64url_decode(public_key)[0] == 4
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    config = parse_channel_config({"type": "webpush", "name": "b", "vapid_private_key": pem, "vapid_subject": SUBJECT})
    assert isinstance(config, WebPushChannelConfig)
    assert config.application_server_key == public_key
    assert config.ttl_s == 3600
    assert "PRIVATE" not in repr(config)
    assert isinstance(build_channel(config), WebPushChannel)
    sec1 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    assert _config(sec1).application_server_key == public_key
    assert _config(private_key, vapid_subject="https://pantau.example").vapid_subject == "https://pantau.example"
    for bad in (
        {"vapid_private_key": "not a key"},
        {"vapid_private_key": _b64url(b"\x01" * 31)},
        {"vapid_subject": "ops@pantau.example"},
        {"vapid_subject": "https://pantau.example/contact"},
        {"ttl_s": -1},
    ):
        with pytest.raises(ValidationError) as caught:
            _config(private_key, **bad)
        assert private_key not in str(caught.value)


def test_subscription_validation() -> None:
    browser = Browser.new()
    good = browser.subscription("https://fcm.googleapis.com/fcm/send/abc")
    assert good.expiration_time is None
    assert good.subscription_info() == {
        "endpoint": "https://fcm.googleapis.com/fcm/send/abc",
        "keys": {"p256dh": good.keys.p256dh, "auth": good.keys.auth},
    }
    for bad in (
        {"endpoint": "fcm.googleapis.com/x"},
        {"keys": {"p256dh": _b64url(b"\x04" + b"\x00" * 64), "auth": good.keys.auth}},
        {"keys": {"p256dh": good.keys.p256dh, "auth": _b64url(b"short")}},
        {"keys": {"p256dh": good.keys.p256dh}},
    ):
        with pytest.raises(ValidationError):
            WebPushSubscription.model_validate({**good.model_dump(by_alias=True), **bad})


def test_only_the_configured_push_services_are_sent_to() -> None:
    defaults = WebPushChannelConfig.model_validate(
        {"name": "b", "vapid_private_key": generate_vapid_keys()[0], "vapid_subject": SUBJECT}
    )
    for endpoint in ("https://fcm.googleapis.com/fcm/send/x", "https://updates.push.services.mozilla.com/wpush/v2/x",
                     "https://web.push.apple.com/Q", "https://wns2-par02p.notify.windows.com/w/?token=x"):  # fmt: skip
        assert defaults.allows(endpoint), endpoint
    for endpoint in ("http://fcm.googleapis.com/fcm/send/x", "https://169.254.169.254/", "https://10.0.0.5/push",
                     "https://push.apple.com.evil.example/x", "https://localhost:8002/api/v1/alerts",
                     "http://127.0.0.1:5433/"):  # fmt: skip
        assert not defaults.allows(endpoint), endpoint
    own = _config(generate_vapid_keys()[0], push_services=["http://push.kota.example:8080", "*.push.kota.example"])
    assert own.allows("http://push.kota.example:8080/x") and not own.allows("http://push.kota.example:9090/x")
    assert own.allows("https://a.push.kota.example/x") and not own.allows("http://a.push.kota.example/x")


def test_a_push_service_entry_by_suffix_may_not_resolve_inside(
    monkeypatch: pytest.MonkeyPatch, notification_factory: NotificationFactory
) -> None:
    import socket

    config = _config(generate_vapid_keys()[0], push_services=["*.push.kota.example"])
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.1.2.3", 0))])
    inside = pytest.raises(DeliveryError, match=r"internal address 10\.1\.2\.3")
    with WebPushChannel(config) as channel, inside as caught:
        channel.send(notification_factory(), Browser.new().subscription("https://a.push.kota.example/x"))
    assert not caught.value.retryable
    with WebPushChannel(config) as channel, pytest.raises(DeliveryError, match="not one of the push services"):
        channel.send(notification_factory(), Browser.new().subscription("https://elsewhere.example/x"))


def test_a_push_service_that_trickles_its_answer_does_not_hold_the_thread(
    notification_factory: NotificationFactory,
) -> None:
    import socket

    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 100000\r\n\r\n")
            while not stop.wait(0.1):  # a byte every 0.1 s: each read is within the timeout, for hours
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    started = time.monotonic()
    try:
        with WebPushChannel(_config(generate_vapid_keys()[0])) as channel:
            result = channel.send(notification_factory(), Browser.new().subscription(f"http://127.0.0.1:{port}/p"))
    finally:
        stop.set()
        listener.close()
    elapsed_s = time.monotonic() - started
    assert result.status_code == 201
    assert elapsed_s < 2 * TIMEOUT_S + 0.5, f"held for {elapsed_s:.1f} s"
