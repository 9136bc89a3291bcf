"""Fixtures of the ingest tests: a throwaway Mosquitto broker per test, on a free port.

Debian's ``mosquitto`` package (``deploy/local/install-system.sh``) provides the binary; its system
service is never used. Each broker is anonymous, in-memory, and bound to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.pipeline import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@dataclass
class Mosquitto:
    """A mosquitto process on ``port``; :meth:`restart` keeps the port (the bridge reconnects to it)."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def conf(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self, timeout_s: float = 10.0) -> None:
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[[], Mosquitto]]:
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed (deploy/local/install-system.sh installs it)")
    made: list[Mosquitto] = []

    def make() -> Mosquitto:
        workdir = tmp_path / f"mosquitto-{len(made)}"
        workdir.mkdir()
        broker = Mosquitto(free_port(), workdir)
        made.append(broker)
        broker.start()
        return broker

    yield make
    for broker in made:
        broker.stop()
