"""Pantau's services as ``pantau up`` runs them (the supervisor process and its children), on the
local stack with their own topic prefix, schema, ports and config: for the tests of supervision,
reload and faults. Built by the ``supervised_factory`` fixture."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from kafka import KafkaProducer
from psycopg import sql

from pantau.auth import Role, issue_token
from pantau.stack import Stack
from pantau.supervisor import SERVICES, ServiceState, Supervisor
from tests.pipeline import free_port

SENSORS = 40
TRIGGER_EVERY = 20
FLOOD_RULE = "sensor_rules:\n  - {name: flood, kind: water_level, above: 2.5, clear_below: 2.0, severity: critical}\n"


@dataclass
class ReadingLoad:
    """Readings of ``SENSORS`` gauges posted to the ingest API as a sensor gateway would, one of each
    gauge per request: a refused or failed batch is sent again until it is accepted (202). Reading 0
    of every ``TRIGGER_EVERY`` of a gauge rises above 2.5 m, the next one falls back to 1 m."""

    url: str
    token: str
    rate_per_s: float
    stop: threading.Event = field(default_factory=threading.Event)
    accepted: int = 0
    retries: int = 0
    refusals: dict[int, int] = field(default_factory=dict)

    def run(self) -> None:
        base = datetime.now(UTC) - timedelta(hours=2)
        start, n = time.monotonic(), 0
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=15) as client:
            while not self.stop.is_set():
                batch = []
                for _ in range(SENSORS):
                    sensor, seq = n % SENSORS, n // SENSORS
                    batch.append(
                        {
                            "sensor_id": f"gauge-{sensor:03d}",
                            "kind": "water_level",
                            "value": 3.0 if seq % TRIGGER_EVERY == 0 else 1.0,
                            "unit": "m",
                            "ts": (base + timedelta(seconds=seq)).isoformat(),
                        }
                    )
                    n += 1
                self._post(client, batch)
                delay = start + n / self.rate_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def _post(self, client: httpx.Client, batch: list[dict[str, object]]) -> None:
        while True:
            try:
                answer = client.post("/api/v1/readings", json=batch)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code == 202:
                self.accepted += len(batch)
                return
            if answer is not None:
                self.refusals[answer.status_code] = self.refusals.get(answer.status_code, 0) + 1
                assert answer.status_code == 503, answer.text  # only "Kafka unavailable" may refuse good data
            self.retries += 1
            time.sleep(0.2)


class Supervised:
    """One ``pantau up --instance`` of ``services``; :meth:`close` stops it and drops its schema."""

    def __init__(
        self,
        stack: Stack,
        folder: Path,
        config_yaml: str,
        services: tuple[str, ...] = SERVICES,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        self.stack, self.name, self.prefix, self.schema = stack, f"s{tag}", f"s{tag}.", f"s_{tag}"
        self.services = services
        self.secret = secrets.token_urlsafe(32)
        self.ingest_port, self.alerting_port, self.console_port = free_port(), free_port(), free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / f"pantau-{tag}.yaml"
        self.config.write_text(config_yaml)
        self.env = {
            "PANTAU_TOPIC_PREFIX": self.prefix,
            "PANTAU_DB_SCHEMA": self.schema,
            "PANTAU_TOKEN_SECRET": self.secret,
            "PANTAU_CONSOLE_PORT": str(self.console_port),
            "PANTAU_INGEST_PORT": str(self.ingest_port),
            "PANTAU_ALERTING_PORT": str(self.alerting_port),
            "PANTAU_ALERTING_URL": f"http://127.0.0.1:{self.alerting_port}",
            "PANTAU_REPORTS_DIR": str(folder / f"reports-{tag}"),
            "PANTAU_EVIDENCE_DIR": str(folder / f"evidence-{tag}"),
            **(extra_env or {}),
        }
        self.supervisor = Supervisor(stack, instance=self.name, extra_env=self.env)
        self._producer: KafkaProducer | None = None

    def up(self, timeout_s: float = 180.0) -> None:
        self.supervisor.up(self.config, timeout_s=timeout_s, services=self.services)

    def token(self, role: Role, user: str | None = None) -> str:
        return issue_token(self.secret, role, user)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.stack.settings.kafka_bootstrap, acks="all")
        return self._producer

    def states(self) -> dict[str, ServiceState]:
        return {state.name: state for state in self.supervisor.states() if state.name in self.services}

    def log(self, service: str) -> str:
        try:
            return (self.supervisor.log_dir / f"{service}.log").read_text(errors="replace")
        except OSError:
            return "(no log)"

    def query(self, text: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.stack.settings.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            try:
                return conn.execute(text.encode(), params).fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    def count(self, table: str, where: str = "TRUE", *params: Any) -> int:
        rows = self.query(f"SELECT count(*) FROM {table} WHERE {where}", *params)
        return int(rows[0][0]) if rows else 0

    @staticmethod
    def wait(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
            time.sleep(0.2)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
        self.supervisor.stop_services()
        with psycopg.connect(self.stack.settings.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))


def assert_stored_exactly_once(
    pantau: Supervised, load: ReadingLoad, timeout_s: float = 90.0, other_readings: int = 0
) -> None:
    """Once the pipeline catches up: every reading the load had accepted is stored once, every raise and
    clear the gauges caused is one incident, and alerting applied each once (one alert per gauge,
    counting each raise)."""
    total = load.accepted
    assert total % SENSORS == 0
    per_sensor = total // SENSORS
    raises = SENSORS * ((per_sensor + TRIGGER_EVERY - 1) // TRIGGER_EVERY)
    clears = SENSORS * ((per_sensor - 1 + TRIGGER_EVERY - 1) // TRIGGER_EVERY)  # reading 1 of each 20
    sensor = "source_kind = 'sensor'"
    gauges = "alert_id IN (SELECT id FROM alerts WHERE source LIKE 'gauge-%%')"

    def counts() -> tuple[int, int, int]:
        return (
            pantau.count("sensor_readings"),
            pantau.count("incidents", sensor),
            pantau.count("alert_incidents", gauges),
        )

    expected = (total + other_readings, raises + clears, raises + clears)
    deadline = time.monotonic() + timeout_s
    while (found := counts()) != expected:
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{pantau.log(n)[-2500:]}" for n in ("archiver", "detectors", "alerting"))
            raise AssertionError(f"counts {found}, expected {expected}\n{logs}")
        time.sleep(0.5)
    assert pantau.count("incidents", f"{sensor} AND phase = 'raised'") == raises
    assert pantau.count("incidents", f"{sensor} AND phase = 'cleared'") == clears
    assert pantau.count("alerts", "source LIKE 'gauge-%%'") == SENSORS
    assert pantau.count("alerts", "source LIKE 'gauge-%%' AND count = %s", raises // SENSORS) == SENSORS
