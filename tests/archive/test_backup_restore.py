"""The logical backup of ``docs/operations.md`` ("Backup and restore of TimescaleDB") rehearsed on the
real stack (issue 7): a pipeline fills its schema (readings in hypertable chunks, incidents, alerts
with their history, rollups, users and a session), ``pg_dump -Fc`` dumps the whole database,
``pg_restore`` brings it back into a new database between ``timescaledb_pre_restore()`` and
``timescaledb_post_restore()``, and the services started on the restored database answer as before
and keep archiving. The consoles' live board is read from the (compacted) alerts topic, which no
restore touches: alerting, started on the restored database, finds the topic ahead of it and brings
the board back to the database's state (an alert changed after the dump is published again as the
database has it, at a newer version; an alert opened after the dump, which the database lacks, is
closed), see alerting/reconcile.py."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from kafka import KafkaProducer
from psycopg import sql

from console.queries import OPEN_STATUSES
from pantau.auth import Role
from pantau.stack import PG_BIN
from tests.console.conftest import make_person
from tests.console.test_history_api import (
    BASE,
    CONFIG,
    INCIDENTS,
    RAISED,
    READINGS,
    _handle_alerts,
    _incident,
    _produce,
    _reading,
)
from tests.pipeline import Pipeline

# What the restored database must hold exactly as the original did (every table of the schema is
# compared; these must also be non-empty, so that the comparison means something).
FILLED = (
    "sensor_readings",
    "incidents",
    "alerts",
    "alert_history",
    "alert_incidents",
    "incident_rollup_hourly",
    "reading_rollup_hourly",
    "reading_district_rollup_hourly",
    "users",
    "user_sessions",
)
WINDOW = {"from": BASE.isoformat(), "to": (BASE + timedelta(days=3)).isoformat()}


def _run(cmd: list[str], timeout_s: float = 60.0) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    return done, time.monotonic() - started


def _db_url(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def _snapshot(url: str, schema: str) -> dict[str, tuple[int, str]]:
    """Every table of ``schema``: its row count and a digest of all its rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                (schema,),
            ).fetchall()
        ]
        found: dict[str, tuple[int, str]] = {}
        for table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {} t"
                ).format(sql.Identifier(schema, table))
            ).fetchone()
            assert row is not None
            found[table] = (int(row[0]), str(row[1]))
    return found


def _hypertables(url: str, schema: str) -> dict[str, tuple[int, int]]:
    """Each hypertable of ``schema``: its chunks, and those of them in ``_timescaledb_internal``."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """SELECT h.hypertable_name, h.num_chunks,
                      (SELECT count(*) FROM timescaledb_information.chunks c
                        WHERE c.hypertable_schema = h.hypertable_schema AND c.hypertable_name = h.hypertable_name
                          AND c.chunk_schema = '_timescaledb_internal')
                 FROM timescaledb_information.hypertables h WHERE h.hypertable_schema = %s""",
            (schema,),
        ).fetchall()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _count(url: str, schema: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))).fetchone()
    return int(row[0]) if row else 0


def _wait_count(url: str, schema: str, table: str, expected: int, timeout_s: float = 30.0) -> int:
    deadline = time.monotonic() + timeout_s
    while (found := _count(url, schema, table)) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def _wait_for(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


def _views(console: httpx.Client) -> dict[str, Any]:
    """What a planner sees: the history answers, the alert list (database) and the live board (topic)."""
    found: dict[str, Any] = {}
    for name, path, params in (
        ("incidents", "/api/v1/history/incidents", {"bucket": "1h", "group_by": "district"}),
        ("incidents_daily", "/api/v1/history/incidents", {"bucket": "1d"}),
        ("heatmap", "/api/v1/history/heatmap", {}),
        ("readings", "/api/v1/history/readings", {"bucket": "1d", "group_by": "sensor"}),
        ("response_times", "/api/v1/history/response-times", {}),
    ):
        answer = console.get(path, params={**WINDOW, **params})
        assert answer.status_code == 200, (path, answer.text)
        found[name] = answer.json()
    answer = console.get("/api/v1/alerts")
    assert answer.status_code == 200, answer.text
    found["alerts"] = answer.json()["alerts"]
    return found


def _board(console: httpx.Client) -> dict[str, tuple[str, int]]:
    answer = console.get("/api/v1/alerts/open")
    assert answer.status_code == 200, answer.text
    return {a["id"]: (a["status"], a["version"]) for a in answer.json()}


def _open_in_db(url: str, schema: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            sql.SQL("SELECT id, doc->>'status', version FROM {} WHERE doc->>'status' = ANY(%s)").format(
                sql.Identifier(schema, "alerts")
            ),
            (list(OPEN_STATUSES),),
        ).fetchall()
    return {r[0]: (r[1], int(r[2])) for r in rows}


@pytest.mark.integration
def test_logical_backup_restores_what_the_consoles_show(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "alerting", "console"))
    url, schema = pipeline.env["PANTAU_DATABASE_URL"], pipeline.schema
    _produce(pipeline)
    assert pipeline.wait_count("incidents", len(INCIDENTS)) == len(INCIDENTS)
    assert pipeline.wait_count("sensor_readings", len(READINGS)) == len(READINGS)
    assert pipeline.wait_count("alerts", 4) == 4
    _handle_alerts(pipeline)  # acknowledged, resolved, closed: a history per alert
    planner = make_person(pipeline, "pia", Role.planner)
    bearer = {"Authorization": f"Bearer {planner.token}"}
    console = httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=15, headers=bearer)
    login = console.post("/api/v1/session", json={"username": "pia", "password": planner.password})
    assert login.status_code == 200, login.text
    session_cookie = dict(console.cookies)
    console.cookies.clear()
    board = _wait_for(
        lambda: (b := _board(console)) == _open_in_db(url, schema) and b, "the live board to catch up"
    )  # fmt: skip
    before = _views(console)
    assert sum(r["count"] for r in before["incidents"]["rows"]) == len(RAISED) and len(before["alerts"]) == 4

    # The services are quiet (everything archived, alerts handled): dump the whole shared database.
    snapshot = _snapshot(url, schema)
    for table in FILLED:
        assert snapshot[table][0] > 0, table
    hypertables = _hypertables(url, schema)
    assert (
        hypertables["sensor_readings"][0] >= 3
        and hypertables["sensor_readings"][0] == hypertables["sensor_readings"][1]
    )
    dump = tmp_path / "pantau.dump"
    dumped, dump_s = _run([str(PG_BIN / "pg_dump"), "-Fc", "-d", url, "-f", str(dump)])
    assert dumped.returncode == 0, dumped.stderr
    # The only complaint: TimescaleDB's catalog tables reference each other (hypertable, chunk,
    # continuous_agg); harmless for a full dump, as pg_dump's own hint says.
    dump_warnings = [line for line in dumped.stderr.splitlines() if line.startswith("pg_dump: warning:")]
    assert all("circular foreign-key constraints" in line for line in dump_warnings), dumped.stderr
    assert "error" not in dumped.stderr.lower(), dumped.stderr

    # After the dump, before the restore: an alert changed (cam-1 assigned) and a new one (cam-3),
    # both announced on the alerts topic, neither in the dump.
    operator = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ani')}"}
    with pipeline.db() as conn:
        row = conn.execute("SELECT id, version FROM alerts WHERE source = 'cam-1'").fetchone()
    assert row is not None
    changed, dumped_version = str(row[0]), int(row[1])
    assert board[changed] == ("acknowledged", dumped_version)
    assigned = httpx.post(
        f"{pipeline.alerting_url}/api/v1/alerts/{changed}/assign",
        json={"version": dumped_version, "assignee": "budi"},
        headers=operator,
        timeout=10,
    )
    assert assigned.status_code == 200, assigned.text
    late = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    now_h = (datetime.now(UTC) - BASE) / timedelta(hours=1)
    late.send(
        pipeline.topic("pantau.incidents.v1"),
        key=b"cam-3",
        value=_incident(10, "cam-3", "intrusion", "intrusion-lawn", "high", "Klojen", "raised", now_h),
    )
    late.flush()
    assert pipeline.wait_count("alerts", 5) == 5
    assert pipeline.wait_count("incidents", len(INCIDENTS) + 1) == len(INCIDENTS) + 1
    with pipeline.db() as conn:
        row = conn.execute("SELECT id, doc->>'status', version FROM alerts WHERE source = 'cam-3'").fetchone()
    assert row is not None
    ghost, ghost_state = str(row[0]), (str(row[1]), int(row[2]))
    _wait_for(lambda: ghost in _board(console), "the late alert on the live board")
    assert _board(console)[changed] == ("assigned", dumped_version + 1)
    console.close()
    pipeline.stop_all()

    restored_name = f"pantau_restore_{uuid.uuid4().hex[:10]}"
    restored_url = _db_url(url, restored_name)
    try:
        # The maintenance database as a URL: it carries the password, as the services' URL does.
        created, _ = _run([str(PG_BIN / "createdb"), f"--maintenance-db={_db_url(url, 'postgres')}", restored_name])
        assert created.returncode == 0, created.stderr
        for statement in ("CREATE EXTENSION IF NOT EXISTS timescaledb", "SELECT timescaledb_pre_restore()"):
            done, _ = _run([str(PG_BIN / "psql"), "-d", restored_url, "-v", "ON_ERROR_STOP=1", "-qAtc", statement])
            assert done.returncode == 0, done.stderr
        restored, restore_s = _run([str(PG_BIN / "pg_restore"), "-Fc", "-d", restored_url, str(dump)])
        post, _ = _run([str(PG_BIN / "psql"), "-d", restored_url, "-v", "ON_ERROR_STOP=1", "-qAtc",
                        "SELECT timescaledb_post_restore()"])  # fmt: skip
        assert post.returncode == 0 and post.stdout.strip() == "t", post.stderr
        # As the owner of everything (the stack's `pantau` is a superuser) the restore is clean.
        assert (restored.returncode, restored.stderr) == (0, ""), restored.stderr
        print(
            f"\npg_dump -Fc: {dump.stat().st_size:,} bytes in {dump_s:.2f} s; pg_restore: {restore_s:.2f} s;"
            f" pg_dump warnings: {len(dump_warnings)}"
        )

        # The restored schema: every table equal, row for row; the hypertables with all their chunks.
        assert _snapshot(restored_url, schema) == snapshot
        assert _hypertables(restored_url, schema) == hypertables
        with psycopg.connect(restored_url, autocommit=True) as conn:
            row = conn.execute("SELECT current_setting('timescaledb.restoring')").fetchone()
        assert row is not None and row[0] == "off"

        # The same services, configuration and topics, on the restored database.
        for name in ("archiver", "alerting", "console"):
            pipeline.start(name, PANTAU_DATABASE_URL=restored_url)
        console = httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=15, headers=bearer)
        after = _views(console)
        assert {k: v for k, v in after.items() if k != "alerts"} == {k: v for k, v in before.items() if k != "alerts"}
        # The restored user logs in with their password, their token works, so does their old session.
        relogin = httpx.post(
            f"http://127.0.0.1:{pipeline.console_port}/api/v1/session",
            json={"username": "pia", "password": planner.password},
            timeout=15,
        )
        assert relogin.status_code == 200, relogin.text
        me = httpx.get(f"http://127.0.0.1:{pipeline.console_port}/api/v1/me", cookies=session_cookie, timeout=15)
        assert me.status_code == 200 and me.json()["user"] == "pia", me.text

        # The topic was ahead of the restored database: alerting set cam-1 back to the database's
        # state (acknowledged) above the topic's version, and closed cam-3, which the database lacked;
        # both are in the audit, and the live board agrees with the database again.
        live = _wait_for(
            lambda: b if (b := _board(console)) == _open_in_db(restored_url, schema) else None,
            "the live board to agree with the restored database",
        )
        assert live == {**board, changed: ("acknowledged", dumped_version + 2)} and ghost not in live
        with psycopg.connect(restored_url, autocommit=True) as conn:
            restored_changes = conn.execute(
                sql.SQL("SELECT alert_id, version, actor, detail->>'reason' FROM {} WHERE change = 'restored'").format(
                    sql.Identifier(schema, "alert_history")
                )
            ).fetchall()
            ghost_row = conn.execute(
                sql.SQL("SELECT doc->>'status', version FROM {} WHERE id = %s").format(
                    sql.Identifier(schema, "alerts")
                ),
                (ghost,),
            ).fetchone()
        assert sorted(restored_changes) == sorted(
            [
                (changed, dumped_version + 2, "system", "the topic was ahead of the restored database"),
                (ghost, ghost_state[1] + 1, "system", "not in the restored database"),
            ]
        )
        assert ghost_row == ("closed", ghost_state[1] + 1)
        assert {a["id"] for a in _views(console)["alerts"]} == {a["id"] for a in before["alerts"]} | {ghost}
        # Commands work on the state everyone sees: closing cam-1 takes it off the board.
        alerting = httpx.Client(base_url=pipeline.alerting_url, timeout=10, headers=operator)
        closed = alerting.post(
            f"/api/v1/alerts/{changed}/close", json={"version": dumped_version + 2, "close_reason": "handled"}
        )
        assert closed.status_code == 200 and closed.json()["version"] == dumped_version + 3, closed.text
        alerting.close()
        _wait_for(lambda: changed not in _board(console), "the closed alert leaving the live board")

        # The pipeline keeps working on the restored database: a new reading and a new alert.
        producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
        now = datetime.now(UTC)
        producer.send(pipeline.topic("pantau.sensor-readings.v1"), key=b"gauge-3", value=_reading(now, 4.5))
        producer.send(
            pipeline.topic("pantau.incidents.v1"),
            key=b"gauge-9",
            value=_incident(11, "gauge-9", "water_level_high", "river-high", "critical", "Sukun", "raised",
                            (now - BASE) / timedelta(hours=1)),
        )  # fmt: skip
        producer.flush()
        producer.close()
        late.close()
        n_readings, n_incidents = snapshot["sensor_readings"][0], snapshot["incidents"][0]
        assert _wait_count(restored_url, schema, "sensor_readings", n_readings + 1) == n_readings + 1
        # The incident archived after the dump is not in the restored database (the archiver's
        # offsets are past it); the new one is.
        assert _wait_count(restored_url, schema, "incidents", n_incidents + 1) == n_incidents + 1
        assert _count(restored_url, schema, "incidents") == n_incidents + 1
        with psycopg.connect(restored_url, autocommit=True) as conn:
            lost = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE source = 'cam-3'").format(sql.Identifier(schema, "incidents"))
            ).fetchone()
        assert lost is not None and lost[0] == 0
        assert _wait_count(restored_url, schema, "alerts", 6) == 6
        with psycopg.connect(restored_url, autocommit=True) as conn:
            sources = {
                r[0] for r in conn.execute(sql.SQL("SELECT source FROM {}").format(sql.Identifier(schema, "alerts")))
            }
        assert sources == {"cam-1", "cam-2", "cam-3", "gauge-1", "gauge-2", "gauge-9"}
        fresh = _wait_for(
            lambda: [a for a in _board(console).items() if a[0] not in live], "the new alert on the live board"
        )
        assert [status for _, (status, _) in fresh] == ["new"]
        assert _wait_for(
            lambda: (b := _board(console)) == _open_in_db(restored_url, schema) and b, "the board and the database"
        ) == {**{k: v for k, v in live.items() if k != changed}, fresh[0][0]: fresh[0][1]}
        assert len(_views(console)["alerts"]) == 6
        console.close()
    finally:
        pipeline.stop_all()
        with psycopg.connect(_db_url(url, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(restored_name)))
