"""Starts, stops and reports Pantau's services on this machine (``pantau up`` / ``down`` / ``status``).

Each service runs as its own process (``pantau run NAME``) with the stack's connection settings in
its environment, logs to ``<home>/logs/NAME.log`` and signals readiness by creating
``<home>/run/NAME.ready`` once its consumers are assigned (or its server listens).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pantau.exceptions import ConfigError, StackError
from pantau.stack import Stack

log = logging.getLogger(__name__)

# Start order: the consumers first, the console last, so it is ready when `up` returns.
SERVICES: tuple[str, ...] = (
    "archiver",
    "alerting",
    "detectors",
    "camera-health",
    "camera-detectors",
    "ingest-api",
    "camera-ingest",
    "console",
)


def token_secret_file(home: Path) -> Path:
    return home / "token.secret"


def local_token_secret(home: Path) -> str:
    """The local stack's token secret, created on first use (kept out of git under the stack home)."""
    path = token_secret_file(home)
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass(frozen=True)
class ServiceState:
    name: str
    pid: int | None
    ready: bool


class Supervisor:
    """The services of one stack home."""

    def __init__(self, stack: Stack, instance: str = "main", extra_env: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.home = stack.settings.home
        self.extra_env = dict(extra_env or {})
        # Instances other than the main one (the benchmark's) keep their pid and log files apart.
        suffix = "" if instance == "main" else f"/{instance}"
        self.run_dir = Path(f"{self.home / 'run'}{suffix}")
        self.log_dir = Path(f"{self.home / 'logs'}{suffix}")

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def _ready_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.ready"

    def _pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        with contextlib.suppress(OSError):
            if " Z " in Path(f"/proc/{pid}/stat").read_text():
                return None
        return pid

    def service_env(self, config: Path | None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.stack.env())
        env.setdefault("PANTAU_TOKEN_SECRET", local_token_secret(self.home))
        env.setdefault("PANTAU_EVIDENCE_DIR", str(self.home / "evidence"))
        env.setdefault("PANTAU_REPORTS_DIR", str(self.home / "reports"))
        if config is not None:
            env["PANTAU_CONFIG"] = str(config.resolve())
        env.update(self.extra_env)
        return env

    def up(self, config: Path | None, timeout_s: float = 120.0, services: tuple[str, ...] = SERVICES) -> None:
        if config is not None and not config.exists():
            raise ConfigError(f"config file {config} does not exist")
        self.stack.up()
        self.stop_services()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = self.service_env(config)
        for name in services:
            self._ready_file(name).unlink(missing_ok=True)
            service_env = dict(env, PANTAU_READY_FILE=str(self._ready_file(name)))
            with (self.log_dir / f"{name}.log").open("ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "pantau.cli", "run", name],
                    env=service_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self._pid_file(name).write_text(str(proc.pid))
        deadline = time.monotonic() + timeout_s
        waiting = list(services)
        while waiting:
            for name in list(waiting):
                if self._ready_file(name).exists():
                    waiting.remove(name)
                elif self._pid(name) is None:
                    self.stop_services()
                    raise StackError(f"service {name} exited during start:\n{self._tail(name)}")
            if time.monotonic() > deadline:
                self.stop_services()
                raise StackError(f"services not ready after {timeout_s:.0f} s: {', '.join(waiting)}")
            time.sleep(0.2)

    def _tail(self, name: str, lines: int = 25) -> str:
        try:
            return "\n".join((self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop_services(self, timeout_s: float = 20.0) -> None:
        for name in reversed(SERVICES):
            pid = self._pid(name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name in SERVICES:
            while self._pid(name) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            pid = self._pid(name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            self._pid_file(name).unlink(missing_ok=True)
            self._ready_file(name).unlink(missing_ok=True)

    def down(self) -> None:
        self.stop_services()
        self.stack.down()

    def states(self) -> list[ServiceState]:
        return [
            ServiceState(name, self._pid(name), self._pid(name) is not None and self._ready_file(name).exists())
            for name in SERVICES
        ]
