"""Configuration of the delivery channels, one strict model per channel type.

A channel's configuration is one of the models of :data:`ChannelConfig`, told apart by ``type``::

    - {type: webhook, name: ops-hook, url: "https://hooks.example/pantau", secret: "..."}
    - {type: ntfy, name: field-team, base_url: "https://ntfy.example", topic: pantau-field, token: "tk_..."}
    - {type: telegram, name: command-room, bot_token: "123456:ABC...", chat_id: "-1001234567890"}
    - {type: webpush, name: browsers, vapid_private_key: "...", vapid_subject: "mailto:ops@city.example"}

Secrets are kept out of ``repr`` and out of validation error messages. That holds for the models
and for :func:`parse_channel_config`; a model that embeds :data:`ChannelConfig` decides for itself
(set ``hide_input_in_errors=True`` on it, or report errors with
:func:`pantau.config.format_validation_error`, which leaves inputs out).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from alerting.channels.base import b64url_decode, b64url_encode, check_http_url

# Headers the webhook channel sets itself; a configured header must not change them.
RESERVED_WEBHOOK_HEADERS = frozenset(
    {"content-type", "content-length", "host", "x-pantau-delivery", "x-pantau-timestamp", "x-pantau-signature"}
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_NTFY_TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
_TELEGRAM_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
_TELEGRAM_CHAT_ID = re.compile(r"^(-?[0-9]+|@[A-Za-z0-9_]{5,})$")
# As strict as py_vapid's own check of ``sub``, so a config that loads also signs.
_VAPID_MAILTO = re.compile(r"^mailto:[^@\s]+@(localhost|[\w%-]+(\.[\w%-]+)+)$")
_VAPID_HTTPS = re.compile(r"^https://(localhost|[\w-]+(\.[\w-]+)+)$")

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
TimeoutS = Annotated[float, Field(gt=0, le=120, description="seconds one send may block")]


def _http_url(value: str) -> str:
    check_http_url(value)
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
BaseUrl = Annotated[str, AfterValidator(lambda value: _http_url(value).rstrip("/"))]  # joined with paths


class _ChannelConfigBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class WebhookChannelConfig(_ChannelConfigBase):
    """POST a signed JSON document to an HTTP endpoint (see :mod:`alerting.channels.webhook`)."""

    type: Literal["webhook"] = "webhook"
    name: Name
    url: HttpUrl
    secret: str = Field(min_length=16, repr=False, description="HMAC-SHA256 key shared with the receiver")
    timeout_s: TimeoutS = 5.0
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers, e.g. an API key")

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in RESERVED_WEBHOOK_HEADERS:
                raise ValueError(f"header {name} is set by the webhook channel and cannot be configured")
            if not header_value.isascii() or "\r" in header_value or "\n" in header_value:
                raise ValueError(f"the value of header {name} must be one line of ASCII")
        return value


class NtfyChannelConfig(_ChannelConfigBase):
    """Publish to an ntfy (or ntfy-compatible) topic (see :mod:`alerting.channels.ntfy`)."""

    type: Literal["ntfy"] = "ntfy"
    name: Name
    base_url: BaseUrl = Field(description="the server, e.g. https://ntfy.sh")
    topic: str = Field(repr=False, description="on a public server the topic name is the password")
    token: str | None = Field(None, repr=False, description="access token, sent as Authorization: Bearer")
    timeout_s: TimeoutS = 5.0

    @field_validator("topic")
    @classmethod
    def _check_topic(cls, value: str) -> str:
        if not _NTFY_TOPIC.match(value):
            raise ValueError("an ntfy topic is 1-64 letters, digits, '-' or '_'")
        return value

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        if value is not None and (not value or not value.isascii() or any(c.isspace() for c in value)):
            raise ValueError("the token must be non-empty ASCII without whitespace")
        return value


class TelegramChannelConfig(_ChannelConfigBase):
    """Send to a Telegram chat through the Bot API (see :mod:`alerting.channels.telegram`)."""

    type: Literal["telegram"] = "telegram"
    name: Name
    base_url: BaseUrl = "https://api.telegram.org"
    bot_token: str = Field(repr=False, description="from @BotFather, e.g. 123456:ABC-DEF...")
    chat_id: str = Field(description="numeric id (groups are negative) or @channelusername")
    timeout_s: TimeoutS = 5.0

    @field_validator("bot_token")
    @classmethod
    def _check_bot_token(cls, value: str) -> str:
        if not _TELEGRAM_TOKEN.match(value):
            raise ValueError("a bot token looks like 123456:ABC-DEF1234ghIkl")
        return value

    @field_validator("chat_id", mode="before")
    @classmethod
    def _check_chat_id(cls, value: Any) -> Any:
        # YAML reads an unquoted chat id as a number.
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not _TELEGRAM_CHAT_ID.match(value):
            raise ValueError("a chat id is a number (groups are negative) or @channelusername")
        return value


# The push services of the browsers responders use (Chrome/Edge/Android: FCM; Firefox: Mozilla's;
# Safari: Apple's; Windows: WNS).
DEFAULT_PUSH_SERVICES = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.apple.com",
    "*.notify.windows.com",
)


def push_service_entry(entries: Sequence[str], endpoint: str) -> str | None:
    """The entry of ``entries`` that ``endpoint`` matches (see ``push_services``), or None."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if not host:
        return None
    for entry in entries:
        entry = entry.lower()
        if entry.startswith("http://"):
            listed = urlsplit(entry)
            same_port = listed.port is None or listed.port == (parts.port or 80)
            if parts.scheme == "http" and listed.hostname == host and same_port:
                return entry
            continue
        if parts.scheme != "https":
            continue
        if (entry.startswith("*.") and host.endswith(entry[1:])) or host == entry:
            return entry
    return None


class WebPushChannelConfig(_ChannelConfigBase):
    """Push to browsers' subscriptions with Web Push and VAPID (see :mod:`alerting.channels.webpush`)."""

    type: Literal["webpush"] = "webpush"
    name: Name
    vapid_private_key: str = Field(
        repr=False, description="P-256 private key: PEM, or base64url of the raw 32 bytes or of the DER"
    )
    vapid_subject: str = Field(description="contact of the operator: mailto:... or https://host")
    ttl_s: int = Field(3600, ge=0, le=28 * 24 * 3600, description="how long the push service keeps the message")
    timeout_s: TimeoutS = 5.0
    push_services: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PUSH_SERVICES),
        min_length=1,
        description=(
            "hosts browsers' subscriptions may point at: `host`, `*.suffix`, or `http://host[:port]` for a push "
            "service of your own without TLS; any other endpoint is refused, so alerting never sends where a "
            "subscriber chooses. Only a host listed by its exact name may resolve to a private or loopback address"
        ),
    )

    def allows(self, endpoint: str) -> bool:
        """Whether a subscription's endpoint points at one of :attr:`push_services`."""
        return push_service_entry(self.push_services, endpoint) is not None

    @field_validator("vapid_private_key")
    @classmethod
    def _check_vapid_private_key(cls, value: str) -> str:
        load_vapid_private_key(value)
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _check_vapid_subject(cls, value: str) -> str:
        if not (_VAPID_MAILTO.match(value) or _VAPID_HTTPS.match(value)):
            raise ValueError("must be mailto:user@domain or https://host (no path)")
        return value

    @property
    def application_server_key(self) -> str:
        """The public key browsers pass to ``pushManager.subscribe({applicationServerKey})``."""
        return vapid_public_key(load_vapid_private_key(self.vapid_private_key))


ChannelConfig = Annotated[
    WebhookChannelConfig | NtfyChannelConfig | TelegramChannelConfig | WebPushChannelConfig,
    Field(discriminator="type"),
]

_CHANNEL_CONFIG = TypeAdapter[ChannelConfig](ChannelConfig, config=ConfigDict(hide_input_in_errors=True))


def parse_channel_config(data: Any) -> ChannelConfig:
    """Validate one channel's configuration (a mapping with ``type``); raises pydantic's ValidationError."""
    return _CHANNEL_CONFIG.validate_python(data)


def load_vapid_private_key(value: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 key of a PEM, or of base64url of the raw 32-byte scalar or of the DER.

    Raises ValueError (whose message never contains the key) when it is none of these.
    """
    text = value.strip()
    try:
        if text.startswith("-----BEGIN"):
            key: object = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        else:
            raw = b64url_decode("".join(text.split()))
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
        raise ValueError(
            "not a VAPID private key: expected an unencrypted PEM, or base64url of the raw 32 bytes or the DER"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("a VAPID key must be an ECDSA P-256 (prime256v1) key")
    return key


def vapid_public_key(private_key: ec.EllipticCurvePrivateKey) -> str:
    """base64url of the uncompressed public point: the ``applicationServerKey`` of browsers."""
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(point)


def generate_vapid_keys() -> tuple[str, str]:
    """A new VAPID key pair: (private key, public key), both base64url.

    The private key is the raw 32-byte scalar (one line, for ``vapid_private_key``); the public key
    is the 65-byte uncompressed point browsers need as ``applicationServerKey``.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    private = b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))
    return private, vapid_public_key(key)
