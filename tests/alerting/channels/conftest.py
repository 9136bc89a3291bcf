"""A real local HTTP receiver for the channel tests, and a notification factory.

Each receiver is a ``ThreadingHTTPServer`` on 127.0.0.1 (a free port), speaking HTTP/1.1 with
keep-alive. It records every request and answers with the next queued :class:`Reply` (the last one
repeats), or with what its ``handler`` returns. A reply can also hang (longer than the client's
timeout) or close the connection without answering.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import orjson
import pytest

from alerting.channels import Notification


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the receiver saw it; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int
    received_at_s: float

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """How the receiver answers: a status with body and headers, after ``hang_s``, or a dropped connection."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0
    close: bool = False

    @classmethod
    def json(cls, status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, orjson.dumps(document), {"Content-Type": "application/json", **(headers or {})})


Handler = Callable[[RecordedRequest], Reply]


class Receiver:
    """A local HTTP server that records requests and answers as told."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.handler: Handler | None = None
        self._replies: list[Reply] = [Reply()]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    @staticmethod
    def reply(
        status: int = 200,
        body: bytes = b"ok",
        headers: dict[str, str] | None = None,
        *,
        hang_s: float = 0.0,
        close: bool = False,
    ) -> Reply:
        """A :class:`Reply` (so tests need not import this module)."""
        return Reply(status, body, headers or {}, hang_s, close)

    @staticmethod
    def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
        return Reply.json(status, document, headers)

    def reply_with(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order; the last one repeats."""
        with self._lock:
            self._replies = list(replies) or [Reply()]

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.handler is not None:
                handler = self.handler
            else:
                return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
        return handler(request)

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, each answer would wait ~40 ms.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_GET(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = RecordedRequest(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length),
                    client_port=int(self.client_address[1]),
                    received_at_s=time.monotonic(),
                )
                reply = receiver._next_reply(request)
                if reply.hang_s:
                    receiver._stop.wait(reply.hang_s)
                if reply.close:
                    self.close_connection = True
                    return
                # The client may have given up while we hung.
                with contextlib.suppress(OSError):
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _Handler


class ReceiverFactory(Protocol):
    def __call__(self) -> Receiver: ...


class NotificationFactory(Protocol):
    def __call__(self, **overrides: Any) -> Notification: ...


@pytest.fixture
def receiver_factory() -> Iterator[ReceiverFactory]:
    made: list[Receiver] = []

    def make() -> Receiver:
        receiver = Receiver()
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.stop()


@pytest.fixture
def notification_factory() -> NotificationFactory:
    def make(**overrides: Any) -> Notification:
        values: dict[str, Any] = {
            "delivery_id": "dlv-0001-alert-7",
            "alert_id": "alert-7",
            "kind": "alert",
            "title": "Flood: water level 3.1 m at river-01",
            "body": "Water level above 2.5 m for 4 minutes. Nearby: Jl. Basuki Rahmat.",
            "priority": 1,
            "lat": -7.98,
            "lon": 112.63,
            "district": "Klojen",
            "snapshot_url": None,
            "link": "https://console.pantau.example/alerts/alert-7",
            "alert": {"id": "alert-7", "status": "new", "priority": 1, "count": 3, "evidence": {"value": 3.1}},
            "created_at": datetime(2025, 1, 15, 5, 0, tzinfo=UTC),
        }
        values.update(overrides)
        return Notification(**values)

    return make


@pytest.fixture
def closed_port_url() -> str:
    """The URL of a local port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}"
