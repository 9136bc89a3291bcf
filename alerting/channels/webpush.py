"""Web Push channel: push the notification to a browser's subscription (RFC 8030, 8291, 8292).

The target of each send is a :class:`~alerting.channels.base.WebPushSubscription` (what the
browser's ``PushSubscription.toJSON()`` gave). The payload is JSON, encrypted to the browser's keys
(``aes128gcm``) by pywebpush and signed with the VAPID key::

    {"title", "body", "priority", "alert_id", "kind", "lat", "lon", "district",
     "snapshot_url", "link", "delivery_id"}

kept under ``MAX_PAYLOAD_BYTES`` (push services refuse more than 4 KB once encrypted) by capping the
title and cutting the body. The full alert is not sent: the service worker opens ``link``.

Headers: ``TTL`` (the config's ``ttl_s``), ``Urgency: high`` for P1/P2 and ``normal`` otherwise,
``Authorization: vapid t=<JWT>, k=<public key>`` (the JWT's ``aud`` is the endpoint's origin).

A 404 or 410 means the browser dropped the subscription: the error has ``gone=True`` and
``retryable=False``; delete the subscription.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import orjson
import requests
import requests.adapters
from py_vapid import Vapid, VapidException
from pywebpush import WebPushException, webpush

from alerting.channels.base import (
    DeliveryError,
    DeliveryResult,
    Notification,
    WebPushSubscription,
    origin_of,
    status_error,
)
from alerting.channels.config import WebPushChannelConfig, load_vapid_private_key, push_service_entry

MAX_PAYLOAD_BYTES = 3072
MAX_TITLE_CHARS = 200
ELLIPSIS = "…"
GONE_STATUS_CODES = frozenset({404, 410})


def push_payload(notification: Notification, max_bytes: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The JSON the service worker receives, at most ``max_bytes``.

    The title is capped at ``MAX_TITLE_CHARS`` (a notification shows less); if the JSON is still too
    long the body is cut, then the title, then the snapshot URL is left out.
    """
    document: dict[str, Any] = {
        "title": _cut(notification.title, MAX_TITLE_CHARS),
        "body": notification.body,
        "priority": notification.priority,
        "alert_id": notification.alert_id,
        "kind": notification.kind,
        "lat": notification.lat,
        "lon": notification.lon,
        "district": notification.district,
        "snapshot_url": notification.snapshot_url,
        "link": notification.link,
        "delivery_id": notification.delivery_id,
    }
    data = orjson.dumps(document)
    for field in ("body", "title"):
        if len(data) > max_bytes and document[field]:
            value: str = document[field]
            room = _json_len(value) - (len(data) - max_bytes)
            document[field] = _cut_json(value, room)
            data = orjson.dumps(document)
    if len(data) > max_bytes and document["snapshot_url"]:
        document["snapshot_url"] = None
        data = orjson.dumps(document)
    if len(data) > max_bytes:
        raise DeliveryError(
            f"web push payload of delivery {notification.delivery_id} is {len(data)} bytes even without its "
            f"texts (limit {max_bytes}): the link or ids are too long",
            retryable=False,
        )
    return data


def _json_len(text: str) -> int:
    """Bytes ``text`` takes inside a JSON string (UTF-8, with escapes)."""
    return len(orjson.dumps(text)) - 2


def _cut_json(text: str, max_json_bytes: int) -> str:
    """The longest start of ``text`` that, with an ellipsis, takes at most ``max_json_bytes`` in JSON."""
    room = max_json_bytes - _json_len(ELLIPSIS)
    if room <= 0:
        return ""
    used = 0
    for index, char in enumerate(text):
        used += _json_len(char)
        if used > room:
            return text[:index].rstrip() + ELLIPSIS
    return text


def _cut(text: str, max_chars: int) -> str:
    """``text`` within ``max_chars`` characters, ending with an ellipsis when cut ("" when no room)."""
    if len(text) <= max_chars:
        return text
    if max_chars <= len(ELLIPSIS):
        return ""
    return text[: max_chars - len(ELLIPSIS)].rstrip() + ELLIPSIS


MAX_REPLY_BYTES = 16 * 1024  # of a push service's answer: its status is what counts


class _BoundedAdapter(requests.adapters.HTTPAdapter):
    """Reads at most ``MAX_REPLY_BYTES`` of an answer, and stops reading at the request's timeout
    counted from its start (requests' own timeout is per socket operation: a service that trickles
    its answer a byte at a time would hold a push thread for as long as it likes)."""

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        started = time.monotonic()
        response = super().send(request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        limit_s = float(timeout) if isinstance(timeout, int | float) else 5.0
        chunks: list[bytes] = []
        size = 0
        try:
            # read1: whatever has arrived (read(n) would wait for n bytes, a byte at a time if it must).
            while size < MAX_REPLY_BYTES and time.monotonic() - started <= limit_s:
                chunk = response.raw.read1(4096)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            response.close()
        response._content = b"".join(chunks)[:MAX_REPLY_BYTES]
        response._content_consumed = True
        return response


class WebPushChannel:
    """Deliver notifications to browsers' push subscriptions, signed with the configured VAPID key.

    Thread-safe: one instance may send from several threads at once. pywebpush sends with
    requests, whose sessions are not documented as thread-safe, so each thread gets its own
    session (kept alive between its sends); :meth:`close` closes them all.
    """

    kind = "webpush"

    def __init__(self, config: WebPushChannelConfig) -> None:
        self.name = config.name
        self.config = config
        self.timeout_s = config.timeout_s
        # A Vapid instance, not the key string: pywebpush would first try the string as a file path.
        self._vapid = Vapid(private_key=load_vapid_private_key(config.vapid_private_key))
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._closed = False

    def send(self, notification: Notification, target: WebPushSubscription | None = None) -> DeliveryResult:
        """Push the notification to ``target``; raises :class:`DeliveryError` (``gone`` on 404/410)."""
        if not isinstance(target, WebPushSubscription):
            raise TypeError("a web push channel sends to a subscription: pass target=WebPushSubscription(...)")
        deadline = time.monotonic() + self.timeout_s
        where = f"web push {origin_of(target.endpoint)}"
        self._check_endpoint(where, target.endpoint)
        data = push_payload(notification)
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise DeliveryError(f"{where}: timed out after {self.timeout_s} s", retryable=True)
        try:
            response = webpush(
                subscription_info=target.subscription_info(),
                data=data.decode("utf-8"),
                vapid_private_key=self._vapid,
                # A new dict each time: pywebpush writes the endpoint's `aud` and an `exp` into it.
                vapid_claims={"sub": self.config.vapid_subject},
                ttl=self.config.ttl_s,
                timeout=remaining_s,
                headers={"Urgency": "high" if notification.priority <= 2 else "normal"},
                requests_session=self._session(),
            )
        except WebPushException as exc:
            raise self._push_error(where, exc) from exc
        except requests.Timeout as exc:
            raise DeliveryError(f"{where}: timed out after {self.timeout_s} s", retryable=True) from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise DeliveryError(f"{where}: connection failed: {exc}", retryable=True) from exc
        except requests.RequestException as exc:
            raise DeliveryError(f"{where}: request failed: {exc}", retryable=False) from exc
        except (VapidException, ValueError) as exc:
            raise DeliveryError(f"{where}: cannot encrypt or sign the message: {exc}", retryable=False) from exc
        status_code = getattr(response, "status_code", None)
        return DeliveryResult(
            status_code if isinstance(status_code, int) else None,
            f"{where} accepted delivery {notification.delivery_id}",
        )

    def _check_endpoint(self, where: str, endpoint: str) -> None:
        """Refuse an endpoint outside ``push_services`` (stored before the list was checked at
        subscription), and one whose host resolves to a private, loopback or link-local address
        unless that host is listed by its exact name: a subscriber must not aim alerting's requests
        at the city's internal network."""
        entry = push_service_entry(self.config.push_services, endpoint)
        if entry is None:
            raise DeliveryError(f"{where}: not one of the push services this channel sends to", retryable=False)
        host = urlsplit(endpoint).hostname or ""
        if not entry.startswith("*."):
            return  # listed by name: the operator chose it, wherever it is
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
        except OSError as exc:
            raise DeliveryError(f"{where}: cannot resolve {host}: {exc}", retryable=True) from exc
        internal = [a for a in addresses if not ipaddress.ip_address(str(a).split("%")[0]).is_global]
        if internal:
            raise DeliveryError(f"{where}: {host} resolves to an internal address {internal[0]}", retryable=False)

    def close(self) -> None:
        """Close every thread's session; the channel cannot send afterwards."""
        with self._sessions_lock:
            self._closed = True
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is not None and not self._closed:
            return session
        with self._sessions_lock:
            if self._closed:
                raise RuntimeError(f"web push channel {self.name} is closed")
            session = requests.Session()
            # Settings come from the config only, never from environment variables (proxies, CA bundle).
            session.trust_env = False
            # A push service that redirects is misconfigured; requests would turn the POST into a GET.
            session.max_redirects = 0
            adapter = _BoundedAdapter()
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._sessions.append(session)
        self._local.session = session
        return session

    @staticmethod
    def _push_error(where: str, exc: WebPushException) -> DeliveryError:
        response = exc.response
        status_code = getattr(response, "status_code", None)
        if not isinstance(status_code, int):
            return DeliveryError(f"{where}: {exc.message}", retryable=False)
        headers = response.headers if response.headers is not None else {}
        # The status only: what a push service answers goes into the delivery log operators read.
        return status_error(where, status_code, b"", headers, gone=status_code in GONE_STATUS_CODES)
