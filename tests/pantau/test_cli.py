"""The ``pantau`` command against the real local stack: stack status, tokens, up / status / down,
and ``up`` again with another configuration restarting the services on it."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest
from kafka import KafkaProducer
from psycopg import sql

from pantau.auth import Role, verify_token
from pantau.stack import Stack
from pantau.supervisor import SERVICES
from tests.pipeline import free_port

pytestmark = pytest.mark.integration


def pantau(*args: str, env: dict[str, str] | None = None, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pantau.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
        check=False,
    )


def test_stack_status_prints_only_connection_settings_on_stdout(stack: Stack) -> None:
    result = pantau("stack", "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        f"PANTAU_KAFKA_BOOTSTRAP={stack.settings.kafka_bootstrap}",
        f"PANTAU_DATABASE_URL={stack.settings.database_url}",
    ]
    assert "kafka: up" in result.stderr and "postgres: up" in result.stderr


def test_token_prints_only_a_token_signed_with_the_configured_secret() -> None:
    env = dict(os.environ, PANTAU_TOKEN_SECRET="cli-test-secret-" + "x" * 32)
    result = pantau("token", "--role", "responder", "--user", "budi", "--ttl", "60", env=env)
    assert result.returncode == 0
    principal = verify_token("cli-test-secret-" + "x" * 32, result.stdout.strip())
    assert (principal.user, principal.role) == ("budi", Role.responder)
    assert pantau("token", "--role", "mayor", env=env).returncode != 0
    short = pantau("token", "--role", "operator", env=dict(os.environ, PANTAU_TOKEN_SECRET="short"))
    assert short.returncode == 1 and "too short" in short.stderr


def test_vapid_keys_prints_a_pair_that_belongs_together() -> None:
    from alerting.channels.config import load_vapid_private_key, vapid_public_key

    out = pantau("vapid-keys")
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert set(lines) == {"vapid_private_key", "application_server_key"}
    assert vapid_public_key(load_vapid_private_key(lines["vapid_private_key"])) == lines["application_server_key"]


def test_config_check_names_the_unknown_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sensor_rules:\n  - {name: r, kind: water_level, above: 2.5, sevrity: high}\n")
    result = pantau("config", "check", str(bad))
    assert result.returncode == 1 and "sevrity" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text((Path(__file__).resolve().parents[2] / "deploy/config/demo.yaml").read_text())
    assert pantau("config", "check", str(good)).returncode == 0


def test_bench_detect_refuses_look_budgets_without_a_recording() -> None:
    result = pantau("bench", "detect", "--looks-per-s", "0.5")
    assert result.returncode == 2 and "--video" in result.stderr and result.stdout == ""


def _alert_types(database_url: str, schema: str) -> set[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        try:
            return {row[0] for row in conn.execute("SELECT type FROM alerts")}
        except psycopg.errors.UndefinedTable:
            return set()


def _wait_alert(database_url: str, schema: str, alert_type: str) -> None:
    # Generous: the services just restarted and rejoined their groups, on a machine that may be busy.
    deadline = time.monotonic() + 45
    while alert_type not in _alert_types(database_url, schema):
        assert time.monotonic() < deadline, f"no {alert_type} alert"
        time.sleep(0.2)


def _pids(status: str) -> dict[str, int]:
    """``name: pid`` of every line of ``pantau status --pids`` that has one."""
    found = {}
    for line in status.splitlines():
        name, _, rest = line.partition(": ")
        for word in rest.split():
            if word.startswith("pid="):
                found[name] = int(word.removeprefix("pid="))
    return found


def test_up_status_up_with_another_config_and_down(stack: Stack, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    instance, prefix, schema = f"t{tag}", f"cli{tag}.", f"cli_{tag}"
    env = dict(
        os.environ,
        PANTAU_TOPIC_PREFIX=prefix,
        PANTAU_DB_SCHEMA=schema,
        PANTAU_TOKEN_SECRET=secrets.token_urlsafe(32),
        PANTAU_CONSOLE_PORT=str(free_port()),
        PANTAU_INGEST_PORT=str(free_port()),
    )
    river = tmp_path / "river.yaml"
    river.write_text("sensor_rules:\n  - {name: flood, kind: water_level, above: 2.5, severity: critical}\n")
    smoke = tmp_path / "smoke.yaml"
    smoke.write_text("sensor_rules:\n  - {name: fire, kind: smoke, above: 0.3, severity: critical}\n")
    producer = KafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    topic = f"{prefix}pantau.sensor-readings.v1"
    now = datetime.now(UTC)
    try:
        up = pantau("up", "--instance", instance, "--config", str(river), env=env)
        assert up.returncode == 0, up.stderr
        assert f"PANTAU_KAFKA_BOOTSTRAP={stack.settings.kafka_bootstrap}" in up.stdout.splitlines()
        status = pantau("status", "--instance", instance, "--pids", env=env)
        assert status.returncode == 0, status.stdout
        assert len(SERVICES) == 9
        pids = _pids(status.stdout)
        assert set(pids) == {"supervisor", *SERVICES}, status.stdout
        assert "pid=" not in pantau("status", "--instance", instance, env=env).stdout  # only with --pids

        producer.send(
            topic,
            key=b"wl-1",
            value=orjson.dumps(
                {"sensor_id": "wl-1", "kind": "water_level", "value": 3.1, "unit": "m", "ts": now.isoformat()}
            ),
        ).get(10)
        _wait_alert(stack.settings.database_url, schema, "water_level_high")

        # kill -9 of a service: the supervisor starts it again, and it is ready again within 10 s.
        os.kill(pids["detectors"], signal.SIGKILL)
        killed_at = time.monotonic()
        while True:
            status = pantau("status", "--instance", instance, "--pids", env=env)
            now_pids = _pids(status.stdout)
            if status.returncode == 0 and now_pids.get("detectors") not in (None, pids["detectors"]):
                break
            assert time.monotonic() - killed_at < 10, status.stdout
            time.sleep(0.2)
        assert "detectors: ready pid=" in status.stdout and "restarts=1 last_exit=-9" in status.stdout
        assert {k: v for k, v in now_pids.items() if k != "detectors"} == {
            k: v for k, v in pids.items() if k != "detectors"
        }

        # Again with another config: the services restart on it (the smoke rule now exists).
        again = pantau("up", "--instance", instance, "--config", str(smoke), env=env)
        assert again.returncode == 0, again.stderr
        producer.send(
            topic,
            key=b"smk-1",
            value=orjson.dumps(
                {
                    "sensor_id": "smk-1",
                    "kind": "smoke",
                    "value": 0.8,
                    "unit": "ratio",
                    "ts": (now + timedelta(seconds=1)).isoformat(),
                }
            ),
        ).get(10)
        _wait_alert(stack.settings.database_url, schema, "smoke_high")
    finally:
        producer.close()
        down = pantau("down", "--instance", instance, env=env)
    assert down.returncode == 0, down.stderr
    after = pantau("status", "--instance", instance, env=env)
    assert after.returncode == 1 and "console: down" in after.stdout
    assert all(state.up for state in stack.states())  # an extra instance's down leaves the stack running
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
