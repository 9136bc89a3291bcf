"""Retention: the archiver's scheduled job drops raw readings, incidents and rollups past their own
retentions (whole chunks), keeps what is newer, removes inline snapshots past their camera's
evidence retention, logs what it dropped; plain tables lose rows by DELETE."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from archive.retention import RetentionPolicy, RetentionReport, default_policies, enforce_retention
from archive.rollups import CROSSING_ROLLUP, INCIDENT_ROLLUP, READING_DISTRICT_ROLLUP, READING_ROLLUP
from tests.pipeline import Pipeline

NOW = datetime.now(UTC)
CONFIG = """
cameras:
  - {id: cam-short, source: /dev/null, retention_days: 10}
  - {id: cam-long, source: /dev/null, retention_days: 60}
"""


@pytest.mark.unit
def test_default_policies_and_summary() -> None:
    policies = default_policies(400, 730, 1825, 365)
    assert [(p.table, p.time_column, p.keep.days) for p in policies] == [
        ("sensor_readings", "ts", 400),
        ("incidents", "ts", 730),
        ("line_crossings", "ts", 365),
        (READING_ROLLUP, "bucket", 1825),
        (READING_DISTRICT_ROLLUP, "bucket", 1825),
        (INCIDENT_ROLLUP, "bucket", 1825),
        (CROSSING_ROLLUP, "bucket", 1825),
    ]
    report = RetentionReport(at=NOW, dropped_chunks={"incidents": ["_hyper_1_2_chunk"], "x": []})
    report.deleted_rows["plain"] = 3
    report.stripped_snapshots = 2
    assert report.summary() == (
        "incidents: 1 chunks dropped; plain: 3 rows deleted; incidents: 2 evidence snapshots removed"
    )
    assert RetentionReport(at=NOW).summary() == "nothing past retention"


def _reading(sensor: str, days_ago: float) -> bytes:
    ts = NOW - timedelta(days=days_ago)
    return orjson.dumps({"sensor_id": sensor, "kind": "rainfall", "value": 1.5, "unit": "mm/h", "ts": ts.isoformat()})


def _incident(n: int, source: str, days_ago: float, snapshot: bool = False) -> bytes:
    ts = NOW - timedelta(days=days_ago)
    evidence: dict[str, Any] = {"bbox_xyxy": [0.1, 0.1, 0.2, 0.2]}
    if snapshot:
        evidence["snapshot_jpeg_b64"] = "/9j/AAAA"
    return orjson.dumps(
        {"id": f"inc-{n}", "type": "intrusion", "source": source, "source_kind": "camera", "rule": "r",
         "ts": ts.isoformat(), "detected_at": ts.isoformat(), "severity": "low", "title": "t", "evidence": evidence}
    )  # fmt: skip


def _wait(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.integration
def test_scheduled_retention_drops_old_data_and_keeps_new(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(
        CONFIG,
        services=("archiver",),
        PANTAU_READINGS_RETENTION_DAYS="400",
        PANTAU_INCIDENTS_RETENTION_DAYS="730",
        PANTAU_ROLLUPS_RETENTION_DAYS="600",
        PANTAU_EVIDENCE_RETENTION_DAYS="30",
        PANTAU_RETENTION_INTERVAL_S="1",
    )
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    readings, incidents = pipeline.topic("pantau.sensor-readings.v1"), pipeline.topic("pantau.incidents.v1")
    for sensor, days in (("rain-old", 500), ("rain-new", 300), ("rain-today", 0.1)):
        producer.send(readings, key=sensor.encode(), value=_reading(sensor, days))
    sent = [
        # n, source, days ago, with snapshot
        (1, "cam-x", 800, False),  # incident and its rollup past retention (730 and 600 days)
        (2, "cam-x", 650, False),  # incident kept (730); its rollup row dropped (600)
        (3, "cam-short", 20, True),  # snapshot past its camera's 10 days: removed
        (4, "cam-long", 20, True),  # within its camera's 60 days: kept
        (5, "cam-other", 40, True),  # no such camera: the default 30 days, removed
        (6, "cam-other", 20, True),  # kept
    ]
    for n, source, days, snapshot in sent:
        producer.send(incidents, key=source.encode(), value=_incident(n, source, days, snapshot))
    producer.flush()

    def incident_ids() -> list[str]:
        with pipeline.db() as conn:
            return [r[0] for r in conn.execute("SELECT id FROM incidents ORDER BY id").fetchall()]

    # Rows arrive, then the next hourly-here-every-second run takes the old ones away.
    assert _wait(lambda: pipeline.count("sensor_readings", "sensor_id = 'rain-today'") == 1)
    assert _wait(lambda: incident_ids() == ["inc-2", "inc-3", "inc-4", "inc-5", "inc-6"]), incident_ids()
    assert _wait(lambda: pipeline.count("sensor_readings") == 2)
    with pipeline.db() as conn:
        assert [r[0] for r in conn.execute("SELECT sensor_id FROM sensor_readings ORDER BY 1")] == [
            "rain-new",
            "rain-today",
        ]

        def snapshots() -> dict[str, bool]:
            rows = conn.execute("SELECT id, evidence ? 'snapshot_jpeg_b64', evidence ? 'bbox_xyxy' FROM incidents")
            return {r[0]: r[1] for r in rows if r[2]}  # the rest of the evidence stays

        assert _wait(
            lambda: snapshots() == {"inc-2": False, "inc-3": False, "inc-4": True, "inc-5": False, "inc-6": True}
        )
        # Rollups have their own retention: the 500-day-old readings' rollup outlives the readings.
        reading_rollup = conn.execute(f"SELECT sensor_id FROM {READING_ROLLUP} ORDER BY 1").fetchall()
        assert [r[0] for r in reading_rollup] == ["rain-new", "rain-old", "rain-today"]
        incident_rollup = conn.execute(
            f"SELECT source, sum(count)::int FROM {INCIDENT_ROLLUP} GROUP BY source ORDER BY 1"
        ).fetchall()
        assert incident_rollup == [("cam-long", 1), ("cam-other", 2), ("cam-short", 1)]
    log = pipeline.log_file("archiver").read_text()
    assert "retention: sensor_readings: dropped 1 chunks" in log
    assert "retention: incidents: dropped 1 chunks" in log
    assert f"retention: {INCIDENT_ROLLUP}: dropped" in log
    assert f"retention: {READING_ROLLUP}: dropped" not in log
    assert "evidence snapshots removed" in log
    producer.close()


@pytest.mark.integration
def test_plain_tables_lose_old_rows_by_delete(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(services=())
    with pipeline.db() as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {pipeline.schema}")
        conn.execute(f"SET search_path TO {pipeline.schema}, public")
        conn.execute("CREATE TABLE notes (at timestamptz NOT NULL, text text)")
        conn.execute(
            "INSERT INTO notes VALUES (%s, 'old'), (%s, 'new')", (NOW - timedelta(days=10), NOW - timedelta(days=1))
        )
        policies = [RetentionPolicy("notes", "at", timedelta(days=5)), RetentionPolicy("absent", "at", timedelta(1))]
        report = enforce_retention(conn, policies, now=NOW)
        assert report.deleted_rows == {"notes": 1} and report.dropped_chunks == {}
        assert [r[0] for r in conn.execute("SELECT text FROM notes")] == ["new"]
