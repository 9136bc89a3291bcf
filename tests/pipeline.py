"""A running set of Pantau services for integration tests (see ``pipeline_factory`` in conftest)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
from kafka import KafkaConsumer
from psycopg import sql

from pantau.auth import Role, issue_token
from pantau.dlq import TOPIC_DLQ
from pantau.exceptions import StackError
from pantau.settings import CommonSettings
from pantau.stack import Stack, StackSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Pipeline:
    """A running set of Pantau services on their own prefix, schema and ports."""

    stack: Stack
    workdir: Path
    env: dict[str, str]
    prefix: str
    schema: str
    secret: str
    console_port: int
    ingest_port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def settings(self) -> CommonSettings:
        return CommonSettings(
            kafka_bootstrap=self.env["PANTAU_KAFKA_BOOTSTRAP"],
            database_url=self.env["PANTAU_DATABASE_URL"],
            topic_prefix=self.prefix,
            db_schema=self.schema,
        )

    @property
    def alerting_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PANTAU_ALERTING_PORT']}"

    def topic(self, name: str) -> str:
        return self.prefix + name

    def dead_letters(self, expected: int, timeout_s: float = 60.0, settle_s: float = 0.0) -> list[dict[str, Any]]:
        """The dead letters on this pipeline's DLQ topic, read until ``expected`` arrived (or
        ``timeout_s``), then for ``settle_s`` more, so that a letter too many shows up too."""
        consumer = KafkaConsumer(
            self.topic(TOPIC_DLQ),
            bootstrap_servers=self.env["PANTAU_KAFKA_BOOTSTRAP"],
            auto_offset_reset="earliest",
            consumer_timeout_ms=1000,
        )
        letters: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while len(letters) < expected and time.monotonic() < deadline:
            letters.extend(orjson.loads(rec.value) for rec in consumer)
        if settle_s:
            time.sleep(settle_s)
            letters.extend(orjson.loads(rec.value) for rec in consumer)
        consumer.close()
        return letters

    def token(self, role: Role, user: str | None = None) -> str:
        return issue_token(self.secret, role, user)

    def ready_file(self, name: str) -> Path:
        return self.workdir / f"{name}.ready"

    def log_file(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(
        self,
        name: str,
        timeout_s: float = 60.0,
        *,
        service: str | None = None,
        wait: bool = True,
        **env_overrides: str,
    ) -> None:
        """Run ``service`` (default: ``name``) as ``name``: a second replica of a service gets a name
        of its own (its process, log and ready file) and, where it needs them, its own settings.
        Returns once it is ready, or at once without ``wait`` (a standby is not ready)."""
        self.ready_file(name).unlink(missing_ok=True)
        env = dict(self.env, PANTAU_READY_FILE=str(self.ready_file(name)), **env_overrides)
        with self.log_file(name).open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "pantau.cli", "run", service or name],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while wait and not self.ready_file(name).exists():
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited ({self.procs[name].returncode}):\n{self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout_s} s:\n{self.log_tail(name)}")
            time.sleep(0.1)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            raise RuntimeError(f"{name} ignored signal {sig} for 20 s:\n{self.log_tail(name)}") from None

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)

    def db(self) -> psycopg.Connection:
        conn = psycopg.connect(self.env["PANTAU_DATABASE_URL"], autocommit=True)
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(self.schema)))
        return conn

    def count(self, table: str, where: str = "TRUE", params: tuple[Any, ...] = ()) -> int:
        with self.db() as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE ").format(sql.Identifier(table)) + sql.SQL(where),
                params,
            ).fetchone()
        return int(row[0]) if row else 0

    def wait_count(self, table: str, expected: int, where: str = "TRUE", timeout_s: float = 60.0) -> int:
        """The row count once it reaches ``expected`` (sinks write in batches), or when time runs out."""
        deadline = time.monotonic() + timeout_s
        while (found := self.count(table, where)) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return found


def private_stack(shared: Stack, home: Path) -> Stack:
    """A Kafka broker and a database of their own under ``home``, on free ports (not started); the
    jars are the shared stack's."""
    (home / "kafka").mkdir(parents=True)
    (home / "kafka" / "libs").symlink_to(shared.kafka.libs.resolve())
    return Stack(
        StackSettings(
            home=home,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_tls_port=free_port(),
            kafka_sasl_port=free_port(),
            pg_port=free_port(),
            kafka_heap_mb=384,
        )
    )


def remove_private_stack(own: Stack) -> None:
    with contextlib.suppress(StackError):  # a test may have stopped a part already
        own.down()
    shutil.rmtree(own.postgres.dir, ignore_errors=True)
