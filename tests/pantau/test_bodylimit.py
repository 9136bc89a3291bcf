"""Request bodies are capped before anything reads them whole (``pantau/bodylimit.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.middleware.base import RequestResponseEndpoint

from pantau.bodylimit import BodyLimit

pytestmark = pytest.mark.unit
LIMIT = 64 * 1024


def _app() -> tuple[FastAPI, list[int]]:
    """An app whose middleware reads every body before the handler (as the console's NUL check does)."""
    app = FastAPI()
    read: list[int] = []

    @app.middleware("http")
    async def read_first(request: Request, call_next: RequestResponseEndpoint) -> Response:
        read.append(len(await request.body()))
        return await call_next(request)

    @app.post("/echo")
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"bytes": len(await request.body())})

    app.add_middleware(BodyLimit, max_bytes=LIMIT)
    return app, read


async def _call(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes, int]:
    """(status, body, chunks the app pulled) of one request sent as ``chunks``."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/echo", "raw_path": b"/echo", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, pulled


def test_a_declared_length_over_the_cap_is_refused_unread() -> None:
    app, read = _app()
    status, body, pulled = asyncio.run(_call(app, [(b"content-length", str(LIMIT + 1).encode())], [b"x" * 10]))
    assert status == 413 and b"larger than 65536 bytes" in body
    assert pulled == 0 and read == []  # nothing was read, the app never ran


def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_cap() -> None:
    app, read = _app()
    chunks = [b"x" * 16 * 1024] * 100  # 1.6 MB announced by no header
    status, body, pulled = asyncio.run(_call(app, [(b"transfer-encoding", b"chunked")], chunks))
    assert status == 413 and b"larger than" in body
    assert pulled == LIMIT // (16 * 1024) + 1  # one chunk past the cap, not one more
    assert read == []


def test_bodies_within_the_cap_pass_whole() -> None:
    app, read = _app()
    status, body, _ = asyncio.run(_call(app, [(b"transfer-encoding", b"chunked")], [b"x" * 1000] * 60))
    assert status == 200 and body == b'{"bytes":60000}' and read == [60000]
    status, body, _ = asyncio.run(_call(app, [(b"content-length", str(LIMIT).encode())], [b"y" * LIMIT]))
    assert status == 200 and body == b'{"bytes":65536}'


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def make(app: Any) -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        servers.append((server, thread))
        return port

    yield make
    for server, thread in servers:
        server.should_exit = True
        thread.join(5)


def test_a_real_server_answers_413_while_a_chunked_upload_is_still_coming(server_factory: Any) -> None:
    app, _read = _app()
    port = server_factory(app)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (16 * 1024, b"z" * 16 * 1024)
        sent = 0
        conn.settimeout(0.05)
        answer = b""
        while sent < 100 * 1024 * 1024 and not answer:
            try:
                conn.sendall(chunk)
                sent += 16 * 1024
                answer = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:  # the server closed after answering
                break
        conn.settimeout(5)
        with contextlib.suppress(OSError):
            answer += conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 4 * LIMIT  # answered while the client was still sending, not after 100 MB
