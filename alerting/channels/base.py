"""What every delivery channel shares: the notification, the result, the error and the HTTP plumbing.

A channel turns one :class:`Notification` into one request to a receiver (a webhook, an ntfy server,
the Telegram Bot API, a browser's push service). It either returns a :class:`DeliveryResult` or
raises :class:`DeliveryError`, whose ``retryable`` flag tells the dispatcher whether trying again
later can help. The dispatcher owns the retry loop; :func:`retry_delay_s` is its backoff schedule.

Classification, the same for every channel: network errors, timeouts, 408, 425, 429 and 5xx are
retryable; 3xx (redirects are never followed) and the other 4xx are not. ``Retry-After`` on 429
and 503 is reported as :attr:`DeliveryError.retry_after_s`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, Protocol, Self
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from alerting.exceptions import AlertingError

NotificationKind = Literal["alert", "reminder", "escalation", "stand_down"]

RETRYABLE_STATUS_CODES = frozenset({408, 425, 429})
RETRY_AFTER_STATUS_CODES = frozenset({429, 503})
ERROR_BODY_CHARS = 200
# Receivers answer with a few bytes; a cap keeps a misbehaving one from filling memory.
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "pantau-alerting/1"


class Notification(BaseModel):
    """One message about one alert, for one delivery (the same ``delivery_id`` on every retry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: str = Field(
        pattern=r"^[\x21-\x7e]{1,200}$",
        description="idempotency key, stable across retries of a delivery; printable ASCII (it goes in headers)",
    )
    alert_id: str = Field(min_length=1)
    kind: NotificationKind
    title: str
    body: str
    priority: int = Field(ge=1, le=4, description="1 is the most urgent")
    lat: float | None = None
    lon: float | None = None
    district: str | None = None
    snapshot_url: str | None = None
    link: str = Field(description="deep link into the console")
    alert: dict[str, Any] = Field(description="the alert's full JSON")
    created_at: AwareDatetime

    @field_validator("title", "body", "district", "snapshot_url", "link")
    @classmethod
    def _check_encodable(cls, value: str | None) -> str | None:
        # A lone surrogate (from badly decoded input) would only fail later, inside a channel.
        if value is not None:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
        return value


class WebPushKeys(BaseModel):
    """The browser's keys of a push subscription (base64url, as ``PushSubscription.toJSON()`` gives them)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    p256dh: str = Field(description="the browser's P-256 public key, uncompressed point")
    auth: str = Field(description="the 16-byte authentication secret")

    @field_validator("p256dh")
    @classmethod
    def _check_p256dh(cls, value: str) -> str:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(value))
        except ValueError as exc:
            raise ValueError("p256dh is not a base64url P-256 public key (uncompressed point)") from exc
        return value

    @field_validator("auth")
    @classmethod
    def _check_auth(cls, value: str) -> str:
        try:
            raw = b64url_decode(value)
        except ValueError as exc:
            raise ValueError("auth is not base64url") from exc
        if len(raw) != 16:
            raise ValueError(f"auth must be 16 bytes, got {len(raw)}")
        return value


class WebPushSubscription(BaseModel):
    """A browser's push subscription: the target of a Web Push delivery.

    Validate the JSON of ``PushSubscription.toJSON()`` with ``WebPushSubscription.model_validate``;
    ``expirationTime`` (milliseconds since the epoch, usually null) is kept as ``expiration_time``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    endpoint: str = Field(description="the push service URL of this subscription (a capability: keep it secret)")
    keys: WebPushKeys
    expiration_time: float | None = Field(None, alias="expirationTime")

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        check_http_url(value)
        return value

    def subscription_info(self) -> dict[str, Any]:
        """The dict pywebpush expects."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.keys.p256dh, "auth": self.keys.auth}}


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """A delivery the receiver accepted."""

    status_code: int | None
    detail: str


class DeliveryError(AlertingError):
    """A delivery failed; ``retryable`` says whether trying again later can succeed.

    ``status_code`` is the receiver's HTTP status (None for network errors and timeouts),
    ``retry_after_s`` the receiver's ``Retry-After`` (429/503) or Telegram's ``retry_after``, and
    ``gone`` is true when a Web Push subscription no longer exists (404/410): delete it.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after_s: float | None = None,
        gone: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        self.gone = gone

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are lost by Exception's default pickling (e.g. across a process pool).
        return (
            _rebuild_delivery_error,
            (self.message, self.retryable, self.status_code, self.retry_after_s, self.gone),
        )


def _rebuild_delivery_error(
    message: str, retryable: bool, status_code: int | None, retry_after_s: float | None, gone: bool
) -> DeliveryError:
    return DeliveryError(message, retryable=retryable, status_code=status_code, retry_after_s=retry_after_s, gone=gone)


class _Uniform(Protocol):
    def uniform(self, a: float, b: float, /) -> float: ...


def retry_delay_s(
    attempt: int, base_s: float = 1.0, max_s: float = 300.0, jitter: float = 0.2, rng: _Uniform = random
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Exponential: ``base_s``, then doubling, capped at ``max_s``; each delay is spread by
    ``± jitter`` (a fraction) so that deliveries failing together do not retry together. When the
    receiver sent ``Retry-After``, wait ``max(error.retry_after_s, retry_delay_s(attempt))``.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if base_s <= 0 or max_s <= 0:
        raise ValueError("base_s and max_s must be positive")
    if not 0 <= jitter <= 1:
        raise ValueError(f"jitter is a fraction in [0, 1], got {jitter}")
    # The exponent is bounded so that a huge attempt number cannot overflow the float.
    delay_s = min(max_s, base_s * 2.0 ** min(attempt - 1, 1000))
    delay_s *= 1.0 + rng.uniform(-jitter, jitter)
    return max(0.0, min(max_s, delay_s))


def is_retryable_status(status_code: int) -> bool:
    """Whether a failed HTTP status is worth retrying (408, 425, 429 and 5xx)."""
    return status_code in RETRYABLE_STATUS_CODES or status_code >= 500


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def b64url_decode(value: str) -> bytes:
    """Decode base64url with or without padding (browsers drop it); also accepts standard base64."""
    text = value.strip().replace("+", "-").replace("/", "_")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64url") from exc


def b64url_encode(data: bytes) -> str:
    """base64url without padding, the form Web Push uses for keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def check_http_url(value: str) -> None:
    """Raise ValueError unless ``value`` is an absolute http(s) URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if any(char.isspace() for char in value):
        raise ValueError("must not contain whitespace")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def body_snippet(body: bytes) -> str:
    """The first characters of a response body on one line, for error messages."""
    return " ".join(body.decode("utf-8", errors="replace").split())[:ERROR_BODY_CHARS]


def status_error(
    target: str, status_code: int, body: bytes, headers: Mapping[str, str], *, gone: bool = False
) -> DeliveryError:
    """The error for a non-2xx answer, classified by status."""
    retry_after_s = parse_retry_after(headers.get("retry-after")) if status_code in RETRY_AFTER_STATUS_CODES else None
    snippet = body_snippet(body)
    message = f"{target} returned {status_code}" + (f": {snippet}" if snippet else "")
    if 300 <= status_code < 400:
        message += " (redirects are not followed: configure the final URL)"
    return DeliveryError(
        message,
        retryable=not gone and is_retryable_status(status_code),
        status_code=status_code,
        retry_after_s=retry_after_s,
        gone=gone,
    )


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A receiver's answer: status, headers and (up to a cap) the body."""

    status_code: int
    headers: httpx.Headers
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


class _RedactSecretUrls(logging.Filter):
    """Rewrites the URL of httpx's per-request log line when it holds a secret (a bot token, a topic)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._safe_by_prefix: dict[str, str] = {}

    def add(self, prefix: str, safe_prefix: str) -> None:
        with self._lock:
            self._safe_by_prefix = {**self._safe_by_prefix, str(httpx.URL(prefix)): safe_prefix}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 2:
            url = str(args[1])
            for prefix, safe_prefix in self._safe_by_prefix.items():
                if url.startswith(prefix):
                    record.args = (args[0], safe_prefix + url[len(prefix) :], *args[2:])
                    break
        return True


# httpx logs every request's full URL at INFO; channel URLs can carry secrets (Telegram puts the
# bot token in the path, an ntfy topic is its password, a webhook URL may carry a key in its query).
_URL_REDACTION = _RedactSecretUrls()
logging.getLogger("httpx").addFilter(_URL_REDACTION)


class HttpChannelBase:
    """Shared by the channels that speak HTTP with httpx.

    One :class:`httpx.Client` per channel instance keeps connections alive between deliveries, and
    httpx documents its client as safe to share between threads, so one channel instance may be
    used from several threads at once. ``trust_env`` is off: settings come from the config only,
    never from environment variables (so no ``HTTP(S)_PROXY``).

    Timeout: each send has a deadline of ``timeout_s``; connect, write and each read wait at most
    what is left of it when the request starts, and reading the body stops at the deadline. A peer
    that connects slowly and then stays silent can therefore hold a send up to about twice
    ``timeout_s``; a silent peer on a kept-alive connection holds it ``timeout_s``.
    """

    kind: str = "http"

    def __init__(self, name: str, timeout_s: float) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            # Every concurrent sender should find an idle connection rather than open a new one.
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=30.0),
            headers={"User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        """Close the kept-alive connections; the channel cannot send afterwards."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _redact_in_logs(self, prefix: str, safe_prefix: str) -> None:
        """Log requests to URLs starting with ``prefix`` as ``safe_prefix`` + the rest."""
        _URL_REDACTION.add(prefix, safe_prefix)

    def _deadline(self) -> float:
        return time.monotonic() + self.timeout_s

    def _timeout_error(self, target: str) -> DeliveryError:
        return DeliveryError(f"{target}: timed out after {self.timeout_s} s", retryable=True)

    def _post(self, target: str, url: str, *, content: bytes, headers: Mapping[str, str], deadline: float) -> HttpReply:
        """POST and read the answer; network failures become :class:`DeliveryError`.

        ``target`` names the receiver in messages; it must not contain secrets (tokens, topics).
        """
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise self._timeout_error(target)
        try:
            with self._client.stream(
                "POST", url, content=content, headers=headers, timeout=httpx.Timeout(remaining_s)
            ) as response:
                body = _read_capped(response.iter_bytes(), deadline)
                if body is None:
                    raise self._timeout_error(target)
                return HttpReply(response.status_code, response.headers, body)
        except httpx.TimeoutException as exc:
            raise self._timeout_error(target) from exc
        except httpx.ConnectError as exc:
            raise DeliveryError(f"{target}: connection failed: {_reason(exc)}", retryable=True) from exc
        except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
            # Our request is at fault (e.g. a header value httpx refuses): sending it again cannot help.
            raise DeliveryError(f"{target}: invalid request: {_reason(exc)}", retryable=False) from exc
        except httpx.TransportError as exc:
            raise DeliveryError(f"{target}: connection error: {_reason(exc)}", retryable=True) from exc


def _read_capped(chunks: Iterator[bytes], deadline: float) -> bytes | None:
    """Up to MAX_RESPONSE_BYTES of the body; None when the deadline passed while reading."""
    body = bytearray()
    try:
        for chunk in chunks:
            body += chunk
            if len(body) >= MAX_RESPONSE_BYTES:
                break
            if time.monotonic() > deadline:
                return None
    except httpx.DecodingError:
        # The status already tells the outcome; an undecodable body only loses the error detail.
        pass
    return bytes(body[:MAX_RESPONSE_BYTES])


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
