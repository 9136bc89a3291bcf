"""The local single-node stack: a real Apache Kafka broker (KRaft) and PostgreSQL 15 with TimescaleDB.

Everything lives under the stack home (``.pantau/`` at the repository root by default): the Kafka
jars fetched from Maven Central, the broker's log directory, the PostgreSQL cluster, logs and pid
files. ``up`` is idempotent and fast once installed; ``status`` prints the connection settings the
services read (``PANTAU_KAFKA_BOOTSTRAP=...``) so that tests and shells can ``eval`` them.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pantau.exceptions import StackError
from pantau.private_files import private_once, write_private
from pantau.tls import TlsFiles, ensure_tls

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_MAJOR = 15
PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
DB_NAME = "pantau"
DB_USER = "pantau"
SASL_USER = "pantau"  # the local broker's SASL user (SASL_SSL listener)


def _default_home() -> Path:
    # In a source checkout (the editable install `make` does) the stack sits beside the code.
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / ".pantau"
    return Path.cwd() / ".pantau"


class StackSettings(BaseSettings):
    """Where the local stack lives and which ports it listens on (env prefix ``PANTAU_STACK_``)."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_STACK_", extra="ignore", frozen=True)

    home: Path = Field(default_factory=_default_home)
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_tls_port: int | None = Field(None, description="The broker's TLS listener (unset: the Kafka port + 2)")
    kafka_sasl_port: int | None = Field(
        None, description="The broker's SASL_SSL listener, PLAIN and SCRAM-SHA-512 (unset: the Kafka port + 3)"
    )
    kafka_heap_mb: int = 768
    pg_port: int = 5433
    start_timeout_s: float = 90.0

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def pg_password_file(self) -> Path:
        return self.home / "postgres.password"

    @property
    def pg_password(self) -> str:
        """The database user's password, made on first use and kept (mode 0600) under the stack home.
        Connections over TCP must give it (scram-sha-256); only the cluster's own socket, in a folder
        no other user may enter, is trusted (the stack's administration)."""
        return private_once(self.pg_password_file, lambda: secrets.token_urlsafe(24))

    @property
    def database_url(self) -> str:
        return f"postgresql://{DB_USER}:{self.pg_password}@127.0.0.1:{self.pg_port}/{DB_NAME}"

    @property
    def tls_port(self) -> int:
        return self.kafka_tls_port if self.kafka_tls_port is not None else self.kafka_port + 2

    @property
    def sasl_port(self) -> int:
        return self.kafka_sasl_port if self.kafka_sasl_port is not None else self.kafka_port + 3

    @property
    def tls_dir(self) -> Path:
        return self.home / "tls"


@dataclass(frozen=True)
class ComponentState:
    name: str
    up: bool
    detail: str


def _port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A zombie left by a parent that is gone still answers kill(0); /proc tells the truth.
    with contextlib.suppress(OSError):
        if " Z " in Path(f"/proc/{pid}/stat").read_text():
            return None
    return pid


def _run(cmd: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]
    except FileNotFoundError as exc:
        raise StackError(f"{what}: {cmd[0]} not found") from exc
    except subprocess.CalledProcessError as exc:
        raise StackError(
            f"{what} failed ({exc.returncode}): {(exc.stderr or exc.stdout or '').strip()[-2000:]}"
        ) from exc


class KafkaBroker:
    """One KRaft broker+controller run from the jars in ``<home>/kafka/libs``."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.dir = settings.home / "kafka"
        self.libs = self.dir / "libs"
        self.data = self.dir / "data"
        self.props = self.dir / "server.properties"
        self.log4j = self.dir / "log4j2.properties"
        self.pid_file = self.dir / "kafka.pid"
        self.log_file = self.dir / "kafka.out"

    def install(self) -> None:
        if (self.libs / ".complete").exists():
            return
        log.info("fetching Kafka broker jars from Maven Central into %s", self.libs)
        _run(["bash", str(REPO_ROOT / "deploy/local/install-kafka.sh"), str(self.libs)], "install kafka")

    def _write_config(self) -> None:
        s = self.settings
        self.dir.mkdir(parents=True, exist_ok=True)
        tls = ensure_tls(s.tls_dir)
        # It holds the SASL user's password: private from the first byte.
        write_private(
            self.props,
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},SSL://127.0.0.1:{s.tls_port},"
                    f"SASL_SSL://127.0.0.1:{s.sasl_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},SSL://127.0.0.1:{s.tls_port},"
                    f"SASL_SSL://127.0.0.1:{s.sasl_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
                    # SASL over TLS with a user of its own (SASL_USER, the password in sasl_password_file):
                    # PLAIN from this file, SCRAM-SHA-512 from the credential added when the storage is
                    # formatted (a broker formatted before this listener existed has PLAIN only).
                    "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
                    "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain."
                    f'PlainLoginModule required user_{SASL_USER}="{self.sasl_password}";',
                    "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                    # TLS beside plaintext, so the clients' TLS options are tested against a real broker.
                    "ssl.keystore.type=PEM",
                    f"ssl.keystore.location={tls.keystore}",
                    "ssl.client.auth=none",
                    f"log.dirs={self.data}",
                    "num.partitions=4",
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=4",
                    # A single local broker: start consumer groups at once instead of waiting 3 s.
                    "group.initial.rebalance.delay.ms=0",
                    "log.retention.hours=168",
                    "log.cleaner.enable=true",
                    "delete.topic.enable=true",
                    "",
                ]
            ).encode(),
        )
        self.log4j.write_text(
            "\n".join(
                [
                    "status = warn",
                    "appender.file.type = File",
                    "appender.file.name = file",
                    f"appender.file.fileName = {self.dir / 'server.log'}",
                    "appender.file.layout.type = PatternLayout",
                    "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = WARN",
                    "rootLogger.appenderRef.file.ref = file",
                    "logger.kafka.name = kafka.server.KafkaServer",
                    "logger.kafka.level = INFO",
                    "",
                ]
            )
        )

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [
            shutil.which("java") or "java",
            "-Xms256m",
            f"-Xmx{self.settings.kafka_heap_mb}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j}",
            "-cp",
            f"{self.libs}/*",
            main_class,
            *args,
        ]

    def _format(self) -> None:
        if (self.data / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        scram = f"SCRAM-SHA-512=[name={SASL_USER},password={self.sasl_password}]"
        _run(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.props), "--add-scram", scram
            ),
            "kafka storage format",
        )

    @property
    def sasl_password_file(self) -> Path:
        return self.dir / "sasl-password"

    @property
    def sasl_password(self) -> str:
        """The local SASL user's password, made on first use and kept (mode 0600) beside the broker."""
        return private_once(self.sasl_password_file, lambda: secrets.token_urlsafe(24))

    def state(self) -> ComponentState:
        pid = _pid_alive(self.pid_file)
        if pid is None:
            return ComponentState("kafka", False, "not running")
        if not _port_open(self.settings.kafka_port):
            return ComponentState("kafka", False, f"pid {pid} running, port {self.settings.kafka_port} not open yet")
        return ComponentState("kafka", True, f"pid {pid} on {self.settings.kafka_bootstrap}")

    def up(self) -> None:
        if self.state().up:
            return
        if _pid_alive(self.pid_file) is None and _port_open(self.settings.kafka_port):
            raise StackError(
                f"port {self.settings.kafka_port} is taken by another process; set PANTAU_STACK_KAFKA_PORT"
            )
        self.install()
        self._write_config()
        self._format()
        if _pid_alive(self.pid_file) is None:
            with self.log_file.open("ab") as out:
                proc = subprocess.Popen(
                    self._java("kafka.Kafka", str(self.props)),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.pid_file.write_text(str(proc.pid))
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        while time.monotonic() < deadline:
            if _pid_alive(self.pid_file) is None:
                raise StackError(f"Kafka broker exited during start; see {self.log_file} and {self.dir / 'server.log'}")
            if _port_open(self.settings.kafka_port) and self._metadata_ok():
                return
            time.sleep(0.3)
        raise StackError(f"Kafka broker not ready after {self.settings.start_timeout_s:.0f} s; see {self.log_file}")

    def _metadata_ok(self) -> bool:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError as _KafkaError

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=3000)
        except (_KafkaError, OSError):
            return False
        try:
            admin.list_topics()
            return True
        except (_KafkaError, OSError):
            return False
        finally:
            admin.close()

    def down(self) -> None:
        _terminate(self.pid_file, "kafka", timeout_s=30)

    def wipe(self) -> None:
        self.down()
        shutil.rmtree(self.data, ignore_errors=True)


class Postgres:
    """A PostgreSQL 15 cluster with TimescaleDB preloaded, run as the ``postgres`` user when we are root."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.dir = self._cluster_dir(settings.home / "pg")
        self.data = self.dir / "data"
        self.sock = self.dir / "run"
        self.log_file = self.dir / "postgres.log"

    @staticmethod
    def _cluster_dir(preferred: Path) -> Path:
        if os.geteuid() != 0 or _user_can_enter("postgres", preferred.parent):
            return preferred
        # The checkout sits where the postgres user cannot reach (a home folder): keep the cluster in /var/tmp.
        digest = uuid.uuid5(uuid.NAMESPACE_URL, str(preferred)).hex[:12]
        return Path("/var/tmp") / f"pantau-pg-{digest}"

    def _as_owner(self, cmd: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def install(self) -> None:
        _run(
            [
                "bash",
                str(REPO_ROOT / "deploy/local/install-timescaledb.sh"),
                str(self.settings.home / "build" / "timescaledb"),
            ],
            "install timescaledb",
        )

    def _initdb(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        _run(
            self._as_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    DB_USER,
                    # TCP needs the password; the socket folder is the owner's alone (see _write_config).
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            "initdb",
        )
        self._private_socket_dir()

    def _private_socket_dir(self) -> None:
        self.sock.mkdir(exist_ok=True)
        self.sock.chmod(0o700)  # the socket is trusted: nobody else may reach it
        if os.geteuid() == 0:
            shutil.chown(self.sock, "postgres", "postgres")

    def _write_config(self) -> None:
        conf = self.data / "pantau.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port = {self.settings.pg_port}",
                    "listen_addresses = '127.0.0.1'",
                    f"unix_socket_directories = '{self.sock}'",
                    f"hba_file = '{self.data / 'pantau_hba.conf'}'",
                    "password_encryption = scram-sha-256",
                    "shared_preload_libraries = 'timescaledb'",
                    "timescaledb.telemetry_level = off",
                    "max_connections = 200",
                    "shared_buffers = 256MB",
                    "work_mem = 16MB",
                    "max_wal_size = 2GB",
                    "log_min_messages = warning",
                    # TLS for clients that ask for it (sslmode=verify-full); plain connections still work.
                    "ssl = on",
                    "ssl_cert_file = 'server.crt'",
                    "ssl_key_file = 'server.key'",
                    "",
                ]
            )
        )
        # Written on every start, so a cluster made before passwords were required gets them too.
        hba = self.data / "pantau_hba.conf"
        hba.write_text(
            "# Written by `pantau stack`: the socket (a folder only its owner may enter) is trusted;\n"
            "# TCP connections give the password (scram-sha-256), over TLS when the client asks for it.\n"
            "local all all trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        if os.geteuid() == 0:
            shutil.chown(hba, "postgres", "postgres")
        self._private_socket_dir()
        tls = ensure_tls(self.settings.tls_dir)
        for source, name in ((tls.server_cert, "server.crt"), (tls.server_key, "server.key")):
            target = self.data / name
            write_private(target, source.read_bytes())  # PostgreSQL refuses a key others can read
            if os.geteuid() == 0:
                shutil.chown(target, "postgres", "postgres")
        main_conf = self.data / "postgresql.conf"
        text = main_conf.read_text()
        if "include_if_exists = 'pantau.conf'" not in text:
            main_conf.write_text(text + "\ninclude_if_exists = 'pantau.conf'\n")
        if os.geteuid() == 0:
            shutil.chown(conf, "postgres", "postgres")

    def state(self) -> ComponentState:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return ComponentState("postgres", False, "not running")
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return ComponentState("postgres", False, "stale pid file")
        if not _port_open(self.settings.pg_port):
            return ComponentState("postgres", False, f"pid {pid} running, port {self.settings.pg_port} not open yet")
        return ComponentState("postgres", True, f"pid {pid} on 127.0.0.1:{self.settings.pg_port}")

    def up(self) -> None:
        if self.state().up:
            return
        if _port_open(self.settings.pg_port):
            raise StackError(f"port {self.settings.pg_port} is taken by another process; set PANTAU_STACK_PG_PORT")
        self.install()
        self._initdb()
        self._write_config()
        _run(
            self._as_owner(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(int(self.settings.start_timeout_s)),
                    "start",
                ]
            ),
            "start postgres",
        )
        self._bootstrap_db()

    def _psql(self, sql: str, db: str = "postgres") -> str:
        return _run(
            [
                str(PG_BIN / "psql"),
                "-h",
                str(self.sock),
                "-p",
                str(self.settings.pg_port),
                "-U",
                DB_USER,
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ],
            "psql",
        ).stdout.strip()

    def _bootstrap_db(self) -> None:
        # Over the trusted socket: the password the stack's clients give over TCP.
        password = self.settings.pg_password.replace("'", "''")
        self._psql(f"ALTER ROLE {DB_USER} PASSWORD '{password}'")
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'") != "1":
            self._psql(f"CREATE DATABASE {DB_NAME}")
        self._psql("CREATE EXTENSION IF NOT EXISTS timescaledb", db=DB_NAME)

    def down(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        _run(
            self._as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]), "stop postgres"
        )

    def wipe(self) -> None:
        self.down()
        shutil.rmtree(self.dir, ignore_errors=True)


def _user_can_enter(user: str, path: Path) -> bool:
    probe = path
    while not probe.exists():
        probe = probe.parent
    result = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(probe), "-a", "-r", str(probe)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def _terminate(pid_file: Path, name: str, timeout_s: float) -> None:
    pid = _pid_alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return
    log.info("stopping %s (pid %d)", name, pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _pid_alive(pid_file) is not None:
        time.sleep(0.2)
    if _pid_alive(pid_file) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


class Stack:
    """Kafka and PostgreSQL together."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.kafka = KafkaBroker(self.settings)
        self.postgres = Postgres(self.settings)

    def up(self) -> None:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        # Two starts at once (two test runs, `make demo` beside `make test`) would both format Kafka's
        # storage and init the cluster: the second waits here and finds the stack up.
        with (self.settings.home / ".up.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.postgres.up()
            self.kafka.up()

    def down(self) -> None:
        errors = []
        for component in (self.kafka, self.postgres):
            try:
                component.down()
            except StackError as exc:
                errors.append(str(exc))
        if errors:
            raise StackError("; ".join(errors))

    def states(self) -> list[ComponentState]:
        return [self.kafka.state(), self.postgres.state()]

    @property
    def tls(self) -> TlsFiles:
        """The local CA and server certificate both servers present on their TLS connections."""
        return ensure_tls(self.settings.tls_dir)

    def env(self) -> dict[str, str]:
        """The connection settings, named as the services read them."""
        return {
            "PANTAU_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "PANTAU_DATABASE_URL": self.settings.database_url,
        }
