"""``pantau bench console``: fan-out of the live websocket feed to many clients of one console.

Starts its own console on the local stack (own topic prefix, schema, port and token secret, so a
running demo is untouched), seeds the alerts topic with a few hundred open alerts of mixed
priorities, connects the websocket clients (each first receives the snapshot of those alerts), then
produces alert changes straight to the alerts topic at a fixed rate: the alerts in a fixed shuffled
order, each change the next ``version`` of its alert, with ``updated_at`` set to the moment it is
handed to Kafka. The alert ids repeat only once every ``alerts / rate`` seconds, so a client that is
less than that behind never has two changes of one alert pending at once, and must receive every
change: coalescing would show up as missing changes.

The clients run in separate processes (asyncio + ``websockets``, ``orjson``; a few hundred clients
per process) so the console keeps a core to itself as far as a 2-core machine allows. Each client
counts every change it receives by ``seq`` (the alerts-topic offset) and checks that the versions of
each alert only go up; the latency of a delivery is ``time.time()`` on receipt minus the change's
``updated_at`` (one host, one clock). The console's resident memory is read from
``/proc/<pid>/status`` before the clients connect, once they are all connected, and at the end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import multiprocessing
import os
import random
import secrets
import socket
import time
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import orjson
from kafka import KafkaProducer
from websockets.sync.client import connect as ws_connect

from alerting.schemas import TOPIC_ALERTS, Alert, AlertStatus
from detectors.schemas import Severity
from ingest.schemas import Location
from pantau.auth import Role, issue_token
from pantau.bench import BenchInstance, bench_instance

TARGET_P99_MS = 250.0
SEVERITY_OF = {1: Severity.critical, 2: Severity.high, 3: Severity.medium, 4: Severity.low}
# Malang's districts with a point in each, and the kinds of alert the demo city raises.
DISTRICTS = {
    "Klojen": (-7.9788, 112.6352),
    "Blimbing": (-7.9470, 112.6530),
    "Lowokwaru": (-7.9405, 112.6112),
    "Sukun": (-8.0000, 112.6150),
    "Kedungkandang": (-7.9952, 112.6381),
}
SENSOR_TYPES = ("water_level_high", "rain_heavy", "smoke_high", "panic_button", "air_quality_poor", "sensor_silent")
CAMERA_TYPES = ("intrusion", "crowd", "line_crossing", "loitering", "abandoned_object")
PRIORITY_MIX = (1, 2, 2, 3, 3, 3, 3, 4, 4, 4)  # ~10 % P1, 20 % P2, 40 % P3, 30 % P4


# -- the report --------------------------------------------------------------------------------
@dataclass
class ConsoleBenchReport:
    """Settings and figures of one run; ``errors`` lists what kept it from running as planned."""

    clients: int
    rate_per_s: float
    duration_s: float
    alerts: int
    client_processes: int
    port: int = 0
    console_pid: int = 0
    topic: str = ""
    priorities: dict[int, int] = field(default_factory=dict)
    connect_s: float = float("nan")
    snapshot_alerts: int = 0  # alerts in each client's first snapshot (the smallest seen)
    produced: int = 0
    produce_rate_per_s: float = 0.0
    drain_s: float = float("nan")  # from the last change produced until every client had it
    received: list[int] = field(default_factory=list)  # per client: distinct changes received
    missing: list[int] = field(default_factory=list)  # per client: changes produced but never received
    duplicates: list[int] = field(default_factory=list)  # per client: changes received more than once
    stale: int = 0  # changes whose version was not newer than one the client already had
    unexpected: int = 0  # changes with a seq this run did not produce
    resyncs: int = 0  # snapshots with "reason": "resync" (the client fell behind)
    messages: int = 0  # websocket messages with changes
    latencies_ms: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))  # sorted
    rss_kib: dict[str, int] = field(default_factory=dict)
    cpu_pct: dict[str, float] = field(default_factory=dict)  # while producing and draining, % of one core
    errors: list[str] = field(default_factory=list)

    @property
    def expected_per_client(self) -> int:
        return self.produced

    @property
    def complete_clients(self) -> int:
        return sum(1 for m, d in zip(self.missing, self.duplicates, strict=True) if m == 0 and d == 0)

    def pct(self, q: float) -> float:
        """The ``q``-th percentile of the delivery latencies, in ms (nan without any)."""
        n = len(self.latencies_ms)
        return float(self.latencies_ms[min(n - 1, int(q / 100 * n))]) if n else float("nan")

    @property
    def target_met(self) -> bool:
        return len(self.latencies_ms) > 0 and self.pct(99) < TARGET_P99_MS

    def render(self) -> str:
        deliveries = sum(self.received)
        expected = self.produced * self.clients
        per_process = -(-self.clients // max(1, self.client_processes))
        mix = ", ".join(f"P{p} {n}" for p, n in sorted(self.priorities.items()))
        every_s = self.alerts / self.rate_per_s if self.rate_per_s else float("nan")

        def mib(phase: str) -> str:
            kib = self.rss_kib.get(phase)
            return "n/a" if kib is None else f"{kib / 1024:,.1f} MiB"

        rows = [
            ("changes produced", f"{self.produced:,} ({self.produce_rate_per_s:,.1f}/s)"),
            ("deliveries received", f"{deliveries:,} of {expected:,} ({self.produced:,} changes x {self.clients:,})"),
            ("clients with every change", f"{self.complete_clients:,} of {self.clients:,}"),
            ("missing (gaps by seq)", f"{sum(self.missing):,}"),
            ("duplicates (by seq)", f"{sum(self.duplicates):,}"),
            ("stale versions", f"{self.stale:,}"),
            ("unexpected seqs / resyncs", f"{self.unexpected:,} / {self.resyncs:,}"),
            (
                "websocket messages",
                f"{self.messages:,} ({deliveries / self.messages if self.messages else 0:.2f} changes per message)",
            ),
            ("latency p50", f"{self.pct(50):.1f} ms"),
            ("latency p95", f"{self.pct(95):.1f} ms"),
            ("latency p99", f"{self.pct(99):.1f} ms"),
            ("latency max", f"{self.pct(100):.1f} ms"),
            ("latency mean", f"{float(self.latencies_ms.mean()) if len(self.latencies_ms) else float('nan'):.1f} ms"),
            ("last change -> all clients", f"{self.drain_s * 1000:.0f} ms"),
            ("CPU while producing+draining", self._cpu()),
            ("console RSS before clients", mib("before")),
            ("console RSS, all connected", mib("connected")),
            ("console RSS at the end", mib("end")),
            ("console RSS peak (VmHWM)", mib("peak")),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [
            "settings:",
            f"  clients:      {self.clients:,} websocket clients in {self.client_processes} processes "
            f"(up to {per_process:,} each), operator machine token, no filter, "
            "no permessage-deflate",
            f"  console:      one process (pid {self.console_pid}) on 127.0.0.1:{self.port}",
            f"  changes:      {self.rate_per_s:,.0f}/s for {self.duration_s:.0f} s, produced to {self.topic}",
            f"  alerts:       {self.alerts:,} distinct ({mix}), each changed every {every_s:.1f} s",
            f"  connecting:   {self.clients:,} clients and their {self.snapshot_alerts:,}-alert snapshots "
            f"took {self.connect_s:.1f} s",
            "latency: from handing the change to the Kafka producer (its updated_at) to the client's receipt",
            "",
            *(f"  {name.ljust(width)}  {value}" for name, value in rows),
            "",
            self.verdict(),
        ]
        if self.errors:
            lines += ["errors:", *(f"  {e}" for e in self.errors)]
        return "\n".join(lines)

    def _cpu(self) -> str:
        cpu = self.cpu_pct
        if not cpu:
            return "n/a"
        return (
            f"console {cpu['console']:.0f} %, client processes {cpu['clients']:.0f} %, "
            f"this process (producer) {cpu['producer']:.0f} % (of one core); "
            f"machine {cpu['machine']:.0f} % busy of {os.cpu_count()} cores (anything else running counts)"
        )

    def verdict(self) -> str:
        p99 = self.pct(99)
        target = f"target p99 < {TARGET_P99_MS:.0f} ms: {'MET' if self.target_met else 'MISSED'} (p99 {p99:.1f} ms)"
        complete = self.complete_clients == self.clients and self.stale == 0 and self.produced > 0
        every = "every client got every change exactly once" if complete else "NOT every client got every change once"
        return f"verdict: {target}; {every}"


# -- the alerts ----------------------------------------------------------------------------------
def _make_alerts(count: int, rng: random.Random, now: datetime) -> list[Alert]:
    """``count`` open alerts (version 1) of mixed priorities, types and districts."""
    alerts = []
    for n in range(count):
        priority = rng.choice(PRIORITY_MIX)
        district = rng.choice(sorted(DISTRICTS))
        lat, lon = DISTRICTS[district]
        camera = rng.random() < 0.3
        kind = rng.choice(CAMERA_TYPES if camera else SENSOR_TYPES)
        source = f"bench-{'cam' if camera else 'sensor'}-{n:04d}"
        zone = f"zone-{n % 7}" if camera else None
        first_seen = now - timedelta(seconds=rng.uniform(60, 3600))
        evidence: dict[str, Any] = (
            {"zone": zone, "track_id": n, "bbox": [120, 80, 64, 128], "dwell_s": 12.5, "snapshot_url": f"/s/{n}"}
            if camera
            else {"value": round(rng.uniform(1, 5), 2), "unit": "m", "threshold": 2.5, "raised_ts": first_seen}
        )
        alerts.append(
            Alert.model_validate(
                {
                    "id": f"bench-alert-{n:04d}",
                    "status": "new",
                    "priority": priority,
                    "priority_reason": f"P{priority}: {SEVERITY_OF[priority].value} {kind.replace('_', ' ')} "
                    f"at {source} in {district}",
                    "severity": SEVERITY_OF[priority],
                    "type": kind,
                    "source": source,
                    "source_kind": "camera" if camera else "sensor",
                    "zone": zone,
                    "title": f"{kind.replace('_', ' ').capitalize()} at {source}",
                    "location": Location(
                        lat=lat + rng.uniform(-0.01, 0.01), lon=lon + rng.uniform(-0.01, 0.01), district=district
                    ),
                    "first_seen": first_seen,
                    "last_seen": first_seen,
                    "count": 1,
                    "last_incident_id": f"bench-inc-{n:04d}-1",
                    "version": 1,
                    "change": "opened",
                    "updated_at": now,
                    "confidence": 0.9 if camera else 1.0,
                    "evidence": evidence,
                }
            )
        )
    return alerts


def _next_version(alert: Alert, now: datetime) -> Alert:
    """The alert's next change: an operator acknowledges, then assigns; after that repeats arrive."""
    version = alert.version + 1
    update: dict[str, Any] = {"version": version, "updated_at": now}
    if version == 2:
        update |= {"status": AlertStatus.acknowledged, "change": "acknowledged"}
        update |= {"acknowledged_by": "operator-bench", "acknowledged_at": now}
    elif version == 3:
        update |= {"status": AlertStatus.assigned, "change": "assigned", "assignee": "team-bpbd"}
        update |= {"responders": {"team-bpbd": "notified"}}
    else:
        update |= {"change": "repeated", "count": alert.count + 1, "last_seen": now}
        update["last_incident_id"] = f"{alert.id.replace('alert', 'inc')}-{alert.count + 1}"
    return alert.model_copy(update=update)


# -- the client processes ------------------------------------------------------------------------
# A client needs only a few fields of each change: its seq, alert id, version and updated_at.
_Item = tuple[int, str, int, float]
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class _Parser:
    """Reads feed messages into ``(type, seq, items)``. The console sends the same message to every
    client woken by the same changes, so a message is parsed once per process, not once per client."""

    def __init__(self) -> None:
        self._messages: dict[bytes, tuple[str, int, list[_Item]]] = {}
        self._stamps: dict[str, float] = {}  # updated_at text -> epoch s

    def parse(self, raw: bytes) -> tuple[str, int, list[_Item]]:
        parsed = self._messages.get(raw)
        if parsed is not None:
            return parsed
        msg = orjson.loads(raw)
        kind = msg["type"]
        if kind == "alert":
            items = [self._item(msg["seq"], msg["alert"])]
        elif kind in ("alerts", "snapshot"):  # a snapshot's alerts have no seq of their own: -1
            items = [self._item(a.get("seq", -1), a) for a in msg["alerts"]]
        else:
            items = []
        parsed = (kind, int(msg["seq"]), items)
        if len(self._messages) >= 64:
            self._messages.clear()
        self._messages[raw] = parsed
        return parsed

    def _item(self, seq: int, alert: dict[str, Any]) -> _Item:
        stamp = alert["updated_at"]
        sent = self._stamps.get(stamp)
        if sent is None:
            sent = self._stamps[stamp] = datetime.fromisoformat(stamp).timestamp()
        return seq, alert["id"], alert["version"], sent


@dataclass
class _Tally:
    """What the clients of one process share: the parser and the latencies of every delivery."""

    base: int  # the seq of the first change the run produces
    size: int  # how many it produces
    parser: _Parser = field(default_factory=_Parser)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    unexpected: int = 0
    closing: bool = False


class _Client(asyncio.Protocol):
    """One websocket client as a bare asyncio protocol with its own minimal frame reader: no task,
    future or parser generator per message, so a few hundred fit on a fraction of a core next to
    the console. It speaks what the console's feed needs (RFC 6455 without extensions: unmasked
    text frames from the server, pings answered, close echoed)."""

    def __init__(self, url: str, tally: _Tally) -> None:
        parts = urlsplit(url)
        self.request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.tally = tally
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()
        self.open = False
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.seen = bytearray(tally.size)  # per change produced: how often it arrived (up to 255)
        self.versions: dict[str, int] = {}
        self.last_seq = -1
        self.snapshot = -1  # alerts in the first snapshot
        self.messages = 0
        self.dups = 0
        self.stale = 0
        self.resyncs = 0
        self.error: str | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buffer
        buf += data
        if not self.open:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if status.split()[1:2] != [b"101"]:
                self._fail(f"handshake refused: {status.decode(errors='replace')}")
                return
            del buf[: head_end + 4]
            self.open = True
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if end - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if second & 0x80:
                self._fail("protocol error: masked frame from the server")
                return
            if end - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self._frame(first & 0x0F, bool(first & 0x80), payload, now)
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.tally.closing:
            self._fail(f"connection lost: {exc or 'closed by the console'}")
        if not self.lost.done():
            self.lost.set_result(None)

    def _send(self, opcode: int, payload: bytes) -> None:
        """A masked control frame (payload under 126 bytes: a pong or a close)."""
        assert self.transport is not None and len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _fail(self, error: str) -> None:
        self.error = self.error or error
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(error))

    def _frame(self, opcode: int, fin: bool, payload: bytes, now: float) -> None:
        if opcode in (_TEXT, _BINARY, _CONTINUATION):
            if not fin:
                self.fragments.append(payload)
                return
            if self.fragments:
                payload = b"".join([*self.fragments, payload])
                self.fragments.clear()
            self._message(payload, now)
        elif opcode == _PING:
            self._send(_PONG, payload)
        elif opcode == _CLOSE:
            if not self.tally.closing:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._fail(f"closed by the console: {code} {payload[2:].decode(errors='replace')}".rstrip())
                self._send(_CLOSE, payload[:2])
            if self.transport is not None:
                self.transport.close()

    def _message(self, raw: bytes, now: float) -> None:
        tally = self.tally
        kind, seq, items = tally.parser.parse(raw)
        if kind == "snapshot":
            for _, alert_id, version, _ in items:
                self.versions[alert_id] = version
            self.last_seq = max(self.last_seq, seq)
            if self.snapshot < 0:
                self.snapshot = len(items)
                self.ready.set_result(None)
            else:
                self.resyncs += 1
            return
        if not items:  # a heartbeat
            return
        self.messages += 1
        seen, versions, latencies, base, size = self.seen, self.versions, tally.latencies, tally.base, tally.size
        for change_seq, alert_id, version, sent in items:
            index = change_seq - base
            if 0 <= index < size:
                count = seen[index]
                if count:
                    self.dups += 1
                if count < 255:
                    seen[index] = count + 1
            else:
                tally.unexpected += 1
            if version <= versions.get(alert_id, 0):
                self.stale += 1
            else:
                versions[alert_id] = version
            latencies.append((now - sent) * 1000.0)
        if seq > self.last_seq:
            self.last_seq = seq

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(_CLOSE, (1000).to_bytes(2, "big"))


async def _clients_main(conn: Connection, url: str, count: int, base: int, size: int) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    # The pipe is read by a thread; the event loop only ever sees whole commands.
    reader = loop.run_in_executor(None, _read_commands, conn, loop, commands)
    tally = _Tally(base, size)
    clients = [_Client(url, tally) for _ in range(count)]
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    gate = asyncio.Semaphore(25)

    async def connect(client: _Client) -> None:
        async with gate:
            try:
                async with asyncio.timeout(120):
                    await loop.create_connection(lambda: client, host, port)
                    await client.ready
            except Exception as exc:
                client._fail(f"connect: {type(exc).__name__}: {exc}")
                if client.transport is not None:
                    client.transport.abort()

    await asyncio.gather(*(connect(c) for c in clients))
    conn.send(("connected", min((c.snapshot for c in clients if c.error is None), default=0)))

    _, last_seq, timeout_s = await commands.get()  # ("drain", last seq, timeout)
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if all(c.error is not None or c.last_seq >= last_seq for c in clients):
            break
        await asyncio.sleep(0.005)
    conn.send(("drained", time.time()))

    await commands.get()  # ("close",)
    tally.closing = True
    for client in clients:
        client.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await asyncio.gather(*(c.lost for c in clients if c.transport is not None))
    for client in clients:
        if client.transport is not None:
            client.transport.abort()
    results = [(bytes(c.seen), c.messages, c.dups, c.stale, c.resyncs, c.error) for c in clients]
    conn.send(("done", results, tally.latencies.tobytes(), tally.unexpected))
    await reader


def _read_commands(conn: Connection, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[tuple[Any, ...]]) -> None:
    for _ in range(2):
        try:
            command = conn.recv()
        except EOFError:
            command = ("close",)
        loop.call_soon_threadsafe(queue.put_nowait, command)


def _client_process(conn: Connection, url: str, count: int, base: int, size: int) -> None:
    """Entry point of one client process (spawned): ``count`` clients on one event loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(_clients_main(conn, url, count, base, size))
    else:
        uvloop.run(_clients_main(conn, url, count, base, size))


# -- the driver ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    """A memory figure of a process from ``/proc/<pid>/status``, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise ValueError(f"no {field_name} for pid {pid}")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores so far, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def bench_console(
    clients: int = 1000,
    rate_per_s: float = 100.0,
    duration_s: float = 30.0,
    alerts: int = 300,
    client_processes: int = 2,
    seed: int = 7,
) -> ConsoleBenchReport:
    """Run the benchmark (see the module's docstring); the report says what was measured."""
    report = ConsoleBenchReport(clients, rate_per_s, duration_s, alerts, max(1, min(client_processes, clients)))
    secret = secrets.token_urlsafe(32)
    report.port = _free_port()
    env = {"PANTAU_CONSOLE_PORT": str(report.port), "PANTAU_TOKEN_SECRET": secret}
    with bench_instance("bench-console", "", ("console",), env) as run:
        _measure(run, report, issue_token(secret, Role.operator, "bench-console"), random.Random(seed))
    return report


def _measure(run: BenchInstance, report: ConsoleBenchReport, token: str, rng: random.Random) -> None:
    pid = next(s.pid for s in run.supervisor.states() if s.name == "console")
    if pid is None:
        raise RuntimeError("the bench console is not running")
    report.console_pid = pid
    report.topic = topic = f"{run.prefix}{TOPIC_ALERTS}"
    url = f"ws://127.0.0.1:{report.port}/ws/alerts?token={token}"
    producer = KafkaProducer(bootstrap_servers=run.stack.settings.kafka_bootstrap, acks="all", linger_ms=0)
    try:
        board = _make_alerts(report.alerts, rng, datetime.now(UTC))
        report.priorities = {p: sum(1 for a in board if a.priority == p) for p in sorted({a.priority for a in board})}
        seeds = [producer.send(topic, key=a.key(), value=orjson.dumps(a.model_dump(mode="json"))) for a in board]
        producer.flush()
        base = max(f.get(timeout=10).offset for f in seeds) + 1
        _wait_for_board(url, base - 1)
        report.rss_kib["before"] = rss_kib(pid)

        size = int(report.rate_per_s * report.duration_s)
        ctx = multiprocessing.get_context("spawn")
        workers: list[tuple[BaseProcess, Connection, int]] = []
        share, extra = divmod(report.clients, report.client_processes)
        start = time.monotonic()
        for n in range(report.client_processes):
            count = share + (1 if n < extra else 0)
            parent, child = ctx.Pipe()
            proc: BaseProcess = ctx.Process(
                target=_client_process,
                args=(child, url, count, base, size),
                name=f"bench-clients-{n}",
                daemon=True,
            )
            proc.start()
            child.close()
            workers.append((proc, parent, count))
        try:
            _run_clients(workers, report, producer, topic, board, base, size, start, pid)
        finally:
            for proc, parent, _ in workers:
                parent.close()
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=5)
    finally:
        producer.close(timeout=10)


def _wait_for_board(url: str, seq: int, timeout_s: float = 60.0) -> None:
    """Until the console has read the alerts topic up to ``seq``."""
    deadline = time.monotonic() + timeout_s
    while True:
        with ws_connect(url, open_timeout=10, max_size=None) as ws:
            if int(orjson.loads(ws.recv(timeout=10))["seq"]) >= seq:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the console did not read the seeded alerts within {timeout_s:.0f} s")
        time.sleep(0.2)


def _recv(parent: Connection, timeout_s: float, what: str) -> tuple[Any, ...]:
    if not parent.poll(timeout_s):
        raise RuntimeError(f"client process: no {what} after {timeout_s:.0f} s")
    try:
        message: tuple[Any, ...] = parent.recv()
    except EOFError as exc:
        raise RuntimeError(f"client process exited before {what}") from exc
    return message


def _run_clients(
    workers: list[tuple[BaseProcess, Connection, int]],
    report: ConsoleBenchReport,
    producer: KafkaProducer,
    topic: str,
    board: list[Alert],
    base: int,
    size: int,
    start: float,
    pid: int,
) -> None:
    snapshot_sizes = [_recv(parent, 600, "connections")[1] for _, parent, _ in workers]
    report.connect_s = time.monotonic() - start
    report.snapshot_alerts = min(snapshot_sizes, default=0)
    time.sleep(1.0)  # let the console settle after the connection storm
    report.rss_kib["connected"] = rss_kib(pid)

    cpu_before = {"console": _cpu_s(pid), "clients": sum(_cpu_s(proc.pid or 0) for proc, _, _ in workers)}
    machine_before, wall_before, own_before = _machine_ticks(), time.monotonic(), time.process_time()
    order = list(range(len(board)))
    random.Random(len(board)).shuffle(order)  # one fixed order: each alert changes once per round
    futures = []
    began = time.monotonic()
    for n in range(size):
        delay = began + n / report.rate_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        index = order[n % len(order)]
        board[index] = alert = _next_version(board[index], datetime.now(UTC))
        futures.append(producer.send(topic, key=alert.key(), value=orjson.dumps(alert.model_dump(mode="json"))))
    producer.flush()
    produced_at = time.time()
    report.produced = size
    report.produce_rate_per_s = size / max(1e-9, time.monotonic() - began)
    offsets = [f.get(timeout=10).offset for f in futures]
    if offsets != list(range(base, base + size)):
        report.errors.append(f"produced offsets are not {base}..{base + size - 1}: the topic had other writers")

    for _, parent, _ in workers:
        parent.send(("drain", base + size - 1, max(30.0, report.duration_s)))
    drained = [_recv(parent, 120, "drain")[1] for _, parent, _ in workers]
    report.drain_s = max(drained) - produced_at
    wall = time.monotonic() - wall_before
    busy, total = (now - then for now, then in zip(_machine_ticks(), machine_before, strict=True))
    report.cpu_pct = {
        "console": (_cpu_s(pid) - cpu_before["console"]) / wall * 100,
        "clients": (sum(_cpu_s(proc.pid or 0) for proc, _, _ in workers) - cpu_before["clients"]) / wall * 100,
        "producer": (time.process_time() - own_before) / wall * 100,
        "machine": busy / max(1, total) * 100,
    }
    report.rss_kib["end"] = rss_kib(pid)
    report.rss_kib["peak"] = rss_kib(pid, "VmHWM")

    latencies = array("d")
    failed: list[str] = []
    for _, parent, _ in workers:
        parent.send(("close",))
    for _, parent, _ in workers:
        _, results, latency_bytes, unexpected = _recv(parent, 120, "results")
        latencies.frombytes(latency_bytes)
        report.unexpected += unexpected
        for seen, messages, dups, stale, resyncs, error in results:
            report.received.append(size - seen.count(0))
            report.missing.append(seen.count(0))
            report.duplicates.append(dups)
            report.messages += messages
            report.stale += stale
            report.resyncs += resyncs
            if error:
                failed.append(error)
    if failed:
        report.errors.append(f"{len(failed):,} clients failed, e.g.: " + "; ".join(sorted(set(failed))[:5]))
    report.latencies_ms = np.sort(np.frombuffer(latencies, dtype=np.float64))


def main() -> None:  # pragma: no cover - `pantau bench console` is the entry point
    with contextlib.suppress(KeyboardInterrupt):
        print(bench_console().render())
