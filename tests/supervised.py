"""Pantau's services as ``pantau up`` runs them (the supervisor process and its children), on the
local stack with their own topic prefix, schema, ports and config: for the tests of supervision,
reload and faults. Built by the ``supervised_factory`` fixture."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaProducer
from psycopg import sql

from pantau.auth import Role, issue_token
from pantau.stack import Stack
from pantau.supervisor import SERVICES, ServiceState, Supervisor
from tests.pipeline import free_port


class Supervised:
    """One ``pantau up --instance`` of ``services``; :meth:`close` stops it and drops its schema."""

    def __init__(self, stack: Stack, folder: Path, config_yaml: str, services: tuple[str, ...] = SERVICES) -> None:
        tag = uuid.uuid4().hex[:8]
        self.stack, self.name, self.prefix, self.schema = stack, f"s{tag}", f"s{tag}.", f"s_{tag}"
        self.services = services
        self.secret = "x" * 40
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
