"""Starts, supervises, stops and reports Pantau's services on this machine (``pantau up`` / ``down`` /
``status``).

``pantau up`` starts one supervisor process (``pantau supervise``, logging to
``<home>/logs/supervisor.log``) and returns once every service is ready. The supervisor runs each
service as its own process (``pantau run NAME``) with the stack's connection settings in its
environment, and starts a service again when it dies, at once the first time and with a growing
pause (up to 30 s) when it keeps dying soon after its start. A service logs to
``<home>/logs/NAME.log`` and signals readiness by creating ``<home>/run/NAME.ready`` once its
consumers are assigned (or its server listens). The supervisor forwards SIGHUP (``pantau reload``)
to every service and stops them all on SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pantau.exceptions import ConfigError, StackError
from pantau.private_files import private_once
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
    "mqtt-bridge",
    "camera-ingest",
    "console",
)


def token_secret_file(home: Path) -> Path:
    return home / "token.secret"


def local_token_secret(home: Path) -> str:
    """The local stack's token secret, created on first use (kept out of git under the stack home)."""
    return private_once(token_secret_file(home), lambda: secrets.token_urlsafe(32))


RESTART_BACKOFF_MAX_S = 30.0
# The main instance's services serve /metrics on fixed ports (archiver 9401, alerting 9402, ...);
# other instances (benchmarks, tests) on free ports, listed by `pantau status`.
METRICS_BASE_PORT = 9400
# A service that ran this long before dying is restarted at once again (its backoff is forgotten).
STABLE_AFTER_S = 60.0


@dataclass(frozen=True)
class ServiceState:
    name: str
    pid: int | None
    ready: bool
    restarts: int = 0
    last_exit: int | None = None
    metrics_port: int | None = None


@dataclass
class _Child:
    """A service the supervisor runs: its process and its restart bookkeeping."""

    name: str
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = 0.0
    restart_at: float | None = None
    last_exit: int | None = None
    metrics_port: int | None = None


class Supervisor:
    """The services of one stack home."""

    def __init__(self, stack: Stack, instance: str = "main", extra_env: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.home = stack.settings.home
        self.extra_env = dict(extra_env or {})
        # Instances other than the main one (the benchmark's) keep their pid and log files apart.
        suffix = "" if instance == "main" else f"/{instance}"
        self.instance = instance
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

    def _supervisor_pid_file(self) -> Path:
        return self.run_dir / "supervisor.pid"

    def _state_file(self) -> Path:
        return self.run_dir / "supervisor.json"

    def _config_file(self) -> Path:
        return self.run_dir / "config.path"

    def config_path(self) -> Path | None:
        """The configuration file the running services were started with, if any."""
        try:
            return Path(self._config_file().read_text().strip())
        except OSError:
            return None

    def supervisor_pid(self) -> int | None:
        """The supervisor process's id, while it runs."""
        try:
            pid = int(self._supervisor_pid_file().read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        with contextlib.suppress(OSError):
            if " Z " in Path(f"/proc/{pid}/stat").read_text():
                return None
        return pid

    def _restart_counts(self) -> dict[str, dict[str, int | None]]:
        try:
            data = json.loads(self._state_file().read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def up(self, config: Path | None, timeout_s: float = 120.0, services: tuple[str, ...] = SERVICES) -> None:
        """Starts the stack and the supervisor with ``services``; returns when every one is ready."""
        if config is not None and not config.exists():
            raise ConfigError(f"config file {config} does not exist")
        self.stack.up()
        self.stop_services()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = self.service_env(config)
        for name in services:
            self._ready_file(name).unlink(missing_ok=True)
        self._state_file().unlink(missing_ok=True)
        if config is not None:
            self._config_file().write_text(str(config.resolve()))
        else:
            self._config_file().unlink(missing_ok=True)
        command = [sys.executable, "-m", "pantau.cli", "supervise", "--instance", self.instance]
        # The supervisor finds its run and log folders from the same stack settings as this process.
        stack_env = {
            "PANTAU_STACK_HOME": str(self.home),
            "PANTAU_STACK_KAFKA_PORT": str(self.stack.settings.kafka_port),
            "PANTAU_STACK_KAFKA_CONTROLLER_PORT": str(self.stack.settings.kafka_controller_port),
            "PANTAU_STACK_PG_PORT": str(self.stack.settings.pg_port),
        }
        with (self.log_dir / "supervisor.log").open("ab") as out:
            proc = subprocess.Popen(
                [*command, "--services", ",".join(services)],
                env={**env, **stack_env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._supervisor_pid_file().write_text(str(proc.pid))
        deadline = time.monotonic() + timeout_s
        waiting = list(services)
        while waiting:
            if proc.poll() is not None:
                raise StackError(f"the supervisor exited during start:\n{self._tail('supervisor')}")
            counts = self._restart_counts()
            for name in list(waiting):
                if self._ready_file(name).exists():
                    waiting.remove(name)
                elif (counts.get(name) or {}).get("restarts"):
                    self.stop_services()
                    raise StackError(f"service {name} exited during start:\n{self._tail(name)}")
            if time.monotonic() > deadline:
                self.stop_services()
                raise StackError(f"services not ready after {timeout_s:.0f} s: {', '.join(waiting)}")
            time.sleep(0.2)

    def supervise(self, services: tuple[str, ...]) -> None:
        """Runs ``services`` until SIGTERM or SIGINT, starting each again when it dies (the process
        ``pantau up`` starts; its environment is the services' environment)."""
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise ConfigError(f"unknown services {sorted(unknown)}; valid: {', '.join(SERVICES)}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._supervisor_pid_file().write_text(str(os.getpid()))
        children = {name: _Child(name, metrics_port=self._metrics_port(name)) for name in services}
        stopping = False

        def stop(_signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        def reload(_signum: int, _frame: object) -> None:
            for child in children.values():
                if child.proc is not None and child.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.proc.pid, signal.SIGHUP)
            log.info("reload: SIGHUP sent to every service")

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        for child in children.values():
            self._start_child(child)
        self._write_state(children)
        log.info("supervising %s", ", ".join(services))
        while not stopping:
            changed = False
            now = time.monotonic()
            for child in children.values():
                if child.proc is not None and (code := child.proc.poll()) is not None:
                    lived_s = now - child.started_at
                    child.proc, child.last_exit = None, code
                    self._ready_file(child.name).unlink(missing_ok=True)
                    if lived_s >= STABLE_AFTER_S or child.restarts == 0:
                        child.backoff_s = 0.0  # a first death, or one after a good run: start it at once
                    else:  # it keeps dying soon after its start: wait longer each time
                        child.backoff_s = min(RESTART_BACKOFF_MAX_S, max(0.5, child.backoff_s * 2))
                    child.restart_at = now + child.backoff_s
                    log.warning(
                        "%s exited with %s after %.1f s; starting it again in %.1f s",
                        child.name,
                        code,
                        lived_s,
                        child.backoff_s,
                    )
                    child.restarts += 1
                    changed = True
                if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                    self._start_child(child)
                    changed = True
            if changed:
                self._write_state(children)
            time.sleep(0.1)
        log.info("stopping every service")
        self._stop_children(list(children.values()))
        self._state_file().unlink(missing_ok=True)
        self._supervisor_pid_file().unlink(missing_ok=True)

    def _metrics_port(self, name: str) -> int | None:
        """The port of ``name``'s /metrics: fixed for the main instance, free for the others; none
        when PANTAU_METRICS_PORT is set in the environment to ``off``."""
        if os.environ.get("PANTAU_METRICS_PORT", "").lower() == "off":
            return None
        if self.instance == "main":
            return METRICS_BASE_PORT + 1 + SERVICES.index(name)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def _start_child(self, child: _Child) -> None:
        self._ready_file(child.name).unlink(missing_ok=True)
        env = dict(os.environ, PANTAU_READY_FILE=str(self._ready_file(child.name)))
        if child.metrics_port is not None:
            env["PANTAU_METRICS_PORT"] = str(child.metrics_port)
        # The same id after a restart: the service takes its partitions back without a rebalance.
        env.setdefault("PANTAU_CONSUMER_INSTANCE_ID", f"{socket.gethostname()}-{self.instance}-{child.name}")
        with (self.log_dir / f"{child.name}.log").open("ab") as out:
            child.proc = subprocess.Popen(
                [sys.executable, "-m", "pantau.cli", "run", child.name],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        child.started_at, child.restart_at = time.monotonic(), None
        self._pid_file(child.name).write_text(str(child.proc.pid))

    def _write_state(self, children: dict[str, _Child]) -> None:
        state = {
            c.name: {
                "pid": c.proc.pid if c.proc else None,
                "restarts": c.restarts,
                "last_exit": c.last_exit,
                "metrics_port": c.metrics_port,
            }
            for c in children.values()
        }
        tmp = self._state_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self._state_file())

    def _stop_children(self, children: list[_Child], timeout_s: float = 20.0) -> None:
        order = {name: i for i, name in enumerate(SERVICES)}
        running = sorted((c for c in children if c.proc is not None), key=lambda c: -order[c.name])
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
        for child in children:
            self._pid_file(child.name).unlink(missing_ok=True)
            self._ready_file(child.name).unlink(missing_ok=True)

    def reload(self) -> None:
        """Asks every service to apply the configuration again (SIGHUP through the supervisor)."""
        pid = self.supervisor_pid()
        if pid is None:
            raise StackError("no supervisor is running (start the services with `pantau up`)")
        os.kill(pid, signal.SIGHUP)

    def _tail(self, name: str, lines: int = 25) -> str:
        try:
            return "\n".join((self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop_services(self, timeout_s: float = 20.0) -> None:
        supervisor = self.supervisor_pid()
        if supervisor is not None:  # it stops its services itself, in order, then exits
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s + 5.0
            while self.supervisor_pid() is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            if (left := self.supervisor_pid()) is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(left, signal.SIGKILL)
            self._supervisor_pid_file().unlink(missing_ok=True)
        # Whatever is left (a supervisor killed by hand leaves its services running): stop by pid file.
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
        counts = self._restart_counts()
        states = []
        for name in SERVICES:
            pid = self._pid(name)
            known = counts.get(name) or {}
            restarts, last_exit = known.get("restarts") or 0, known.get("last_exit")
            ready = pid is not None and self._ready_file(name).exists()
            states.append(ServiceState(name, pid, ready, restarts, last_exit, known.get("metrics_port")))
        return states
