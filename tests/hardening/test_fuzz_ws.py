"""Fuzz the console's websocket (``/ws/alerts``): random handshake parameters and random frames.

The feed is one-way (``docs/contracts.md``, ``console/routers/ws.py``): the server reads nothing a
client sends. Whatever arrives (garbage text, binary, JSON of the wrong shape, unknown ops, resume
requests out of order, huge frames), the server must either keep serving (heartbeats go on) or close
with a proper close code, never answer a handshake with 5xx nor crash; and a new client still gets
the live alert stream afterwards.
"""

from __future__ import annotations

import json
import random
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from kafka import KafkaProducer
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

SEED = 20261128
HANDSHAKES = 120
CONNECTIONS = 12
FRAMES_PER_CONNECTION = 20  # under the server's incoming queue (32 messages): it never reads them
# 1000 normal, 1003 unsupported data, 1007 invalid payload, 1008 policy, 1009 too big, 1013 try later
PROPER_CLOSE_CODES = {1000, 1001, 1003, 1007, 1008, 1009, 1013}


def _junk(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.printable + "\u00e9\u4e2d\U0001f600\x00") for _ in range(n))


def _frame(rng: random.Random, i: int) -> str | bytes:
    kind = i % 10
    if kind == 0:
        return _junk(rng, rng.randint(0, 200))
    if kind == 1:
        return rng.randbytes(rng.randint(0, 300))
    if kind == 2:
        return json.dumps({"op": rng.choice(["subscribe", "resume", "ack", "explode", "", None]), "x": rng.random()})
    if kind == 3:
        return json.dumps({"type": rng.choice([1, None, [], {}, "snapshot"]), "seq": _junk(rng, 5)})
    if kind == 4:  # resume out of order: going backwards, negative, huge, not a number
        return json.dumps({"op": "resume", "since": rng.choice([-(10**30), -1, 10**30, "yesterday", 3.5, None])})
    if kind == 5:
        return "{" * rng.randint(1, 5000)  # deeply nested, unterminated
    if kind == 6:
        return json.dumps([rng.random() for _ in range(rng.randint(0, 50))])
    if kind == 7:
        return "x" * rng.randint(100_000, 1_000_000)  # large, within the 16 MiB frame limit
    if kind == 8:
        return b"\xff\xfe" + rng.randbytes(64)
    return json.dumps({"type": "alert", "alert": {"id": _junk(rng, 8), "status": "exploded"}, "seq": -5})


def _after(ws: ClientConnection, timeout_s: float = 8) -> str:
    """'heartbeat' when the server is still serving, else the close code it closed with."""
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            msg: dict[str, Any] = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg["type"] == "heartbeat":
                return "heartbeat"
    except ConnectionClosed as exc:
        return str(exc.rcvd.code if exc.rcvd is not None else "no close frame")


def _incident(n: int) -> bytes:
    now = datetime.now(UTC).isoformat()
    return orjson.dumps(
        {"id": f"inc-{n}", "type": "water_level_high", "source": f"wl-{n}", "source_kind": "sensor", "rule": "r",
         "ts": now, "detected_at": now, "severity": "high",
         "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"}, "title": f"wl-{n} high"}
    )  # fmt: skip


def test_websocket_survives_random_handshakes_and_frames(pipeline_factory: Callable[..., Pipeline]) -> None:
    config = "alerting: {corroboration_window_s: 0}\n"
    pipeline = pipeline_factory(config, services=("alerting", "console"), PANTAU_HEARTBEAT_INTERVAL_S="1")
    rng = random.Random(SEED)
    token = pipeline.token(Role.operator, "fuzz-op")
    base = f"ws://127.0.0.1:{pipeline.console_port}/ws/alerts"

    # 1. Handshakes with random parameters: accepted, or refused with 400/401/403, never 5xx.
    statuses: dict[int, int] = {}
    names = ["since", "min_priority", "district", "type", "token", "x"]
    for _ in range(HANDSHAKES):
        params = [f"token={token}"] if rng.random() < 0.8 else []
        for _ in range(rng.randint(0, 4)):
            value = rng.choice([_junk(rng, rng.randint(0, 30)), str(rng.randint(-(10**20), 10**20)), "", "1", "-1"])
            params.append(f"{rng.choice(names)}={quote(value, safe='')}")
        try:
            with ws_connect(f"{base}?{'&'.join(params)}", open_timeout=30) as ws:
                first = json.loads(ws.recv(timeout=30))
                assert first["type"] in {"snapshot", "alert", "alerts", "heartbeat"}, first
                statuses[101] = statuses.get(101, 0) + 1
        except InvalidStatus as exc:
            code = exc.response.status_code
            assert code in {400, 401, 403}, (params, code, exc.response.body)
            statuses[code] = statuses.get(code, 0) + 1

    # 2. Random frames on open connections: the feed goes on, or the server closes properly.
    outcomes: dict[str, int] = {}
    frames = 0
    for c in range(CONNECTIONS):
        with ws_connect(f"{base}?token={token}", open_timeout=30, max_size=None) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "snapshot"
            try:
                for i in range(FRAMES_PER_CONNECTION):
                    ws.send(_frame(rng, c + i))
                    frames += 1
            except ConnectionClosed:
                pass
            outcome = _after(ws)
        assert outcome == "heartbeat" or int(outcome) in PROPER_CLOSE_CODES, outcome
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    # One frame over the 16 MiB limit: closed with 1009 (message too big).
    with ws_connect(f"{base}?token={token}", open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "snapshot"
        try:
            ws.send(b"\x00" * (17 * 1024 * 1024))
            frames += 1
        except ConnectionClosed:
            pass
        huge = _after(ws)
    assert huge == "heartbeat" or int(huge) in PROPER_CLOSE_CODES, huge

    print(f"\nWS fuzz: {HANDSHAKES} handshakes {statuses}, {frames} frames on {CONNECTIONS + 1} connections")
    print(f"WS fuzz outcomes: {outcomes}, over-size frame: {huge}")

    # 3. A new client still gets the live alert stream.
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    with ws_connect(f"{base}?token={token}", open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "snapshot"
        producer.send(pipeline.topic("pantau.incidents.v1"), key=b"wl-1", value=_incident(1)).get(10)
        producer.close()
        deadline = time.monotonic() + 60
        sources: list[str] = []
        while "wl-1" not in sources and time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg["type"] == "alert":
                sources.append(msg["alert"]["source"])
            elif msg["type"] == "alerts":
                sources.extend(a["source"] for a in msg["alerts"])
        assert "wl-1" in sources

    for name, proc in pipeline.procs.items():
        assert proc.poll() is None, f"{name} died:\n{pipeline.log_tail(name)}"
        assert "Traceback" not in pipeline.log_file(name).read_text(errors="replace"), pipeline.log_tail(name, 80)
