"""Factories for the alerting tests: alerts in any state, with sensible defaults."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import orjson
import pytest

from alerting.schemas import Alert
from ingest.schemas import Location

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # 21:00 WIB
KLOJEN = Location(lat=-7.98, lon=112.63, district="Klojen")


class AlertFactory(Protocol):
    def __call__(self, **overrides: Any) -> Alert: ...


@pytest.fixture
def alert_factory() -> AlertFactory:
    """An open P3 water-level alert from sensor river-01 in Klojen at T0; any field can be overridden.

    ``district="X"`` is a shortcut for a location in district X (``district=None``: no district).
    """

    def make(**overrides: Any) -> Alert:
        fields: dict[str, Any] = {
            "id": "alert-1",
            "status": "new",
            "priority": 3,
            "priority_reason": "P3: medium water level high at river-01 in Klojen",
            "severity": "medium",
            "type": "water_level_high",
            "source": "river-01",
            "source_kind": "sensor",
            "zone": None,
            "title": "Water level high at river-01",
            "location": KLOJEN,
            "first_seen": T0,
            "last_seen": T0,
            "count": 1,
            "last_incident_id": "incident-1",
            "version": 1,
            "change": "opened",
            "updated_at": T0,
        }
        if "district" in overrides:
            district = overrides.pop("district")
            fields["location"] = KLOJEN.model_copy(update={"district": district})
        fields.update(overrides)
        return Alert.model_validate(fields)

    return make


class Hook:
    """A loopback webhook receiver: records every request; fails the first ``fail_first`` with a 500;
    with ``hang_s``, answers only after that long."""

    def __init__(self, fail_first: int = 0, hang_s: float = 0.0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        self.hang_s = hang_s
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hook.lock:
                    hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    failing = len(hook.requests) <= hook.fail_first
                if hook.hang_s:
                    time.sleep(hook.hang_s)
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [orjson.loads(body) for _headers, body in self.requests]

    def wait_for(self, check: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while not check(bodies := self.bodies()):
            assert time.monotonic() < deadline, [(b["kind"], b["alert"]["change"]) for b in bodies]
            time.sleep(0.1)
        return bodies


@pytest.fixture
def hook_factory() -> Iterator[Callable[..., Hook]]:
    hooks: list[Hook] = []

    def make(fail_first: int = 0, hang_s: float = 0.0) -> Hook:
        hooks.append(Hook(fail_first, hang_s))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.server.shutdown()
