"""The history rollups the archiver keeps: equal to a rebuild from the raw tables after a replay
(nothing counted twice), equal to hand-computed figures, repaired by a rebuild of a range; and the
SQL of the licensed path (continuous aggregates), which cannot run on the Apache build here."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from kafka import KafkaProducer

from archive import rollups
from archive.rollups import (
    CROSSING_ROLLUP,
    INCIDENT_ROLLUP,
    READING_DISTRICT_ROLLUP,
    READING_ROLLUP,
    continuous_aggregate_statements,
    hour_ceil,
    hour_floor,
    rebuild_rollups,
)
from tests.pipeline import Pipeline

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a whole UTC hour

Rows = list[tuple[Any, ...]]


# -- pure helpers and the licensed path's SQL -----------------------------------------------------------
@pytest.mark.unit
def test_hour_floor_and_ceil() -> None:
    wib = datetime(2026, 11, 20, 16, 45, 12, tzinfo=UTC).astimezone()
    assert hour_floor(wib) == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    assert hour_ceil(wib) == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    assert hour_ceil(T0) == T0 == hour_floor(T0)


@pytest.mark.unit
def test_continuous_aggregate_sql_matches_the_tables() -> None:
    """Under the Timescale license the rollups are continuous aggregates with the tables' names and
    columns (only the generated SQL can be checked: this machine runs the Apache build)."""
    statements = continuous_aggregate_statements(timedelta(days=2), timedelta(minutes=10))
    incident_view, reading_view, district_view, crossing_view, *policies = statements
    views = (
        (incident_view, INCIDENT_ROLLUP),
        (reading_view, READING_ROLLUP),
        (district_view, READING_DISTRICT_ROLLUP),
        (crossing_view, CROSSING_ROLLUP),
    )
    for view, name in views:
        assert f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name}" in view
        assert "timescaledb.continuous" in view and "timescaledb.materialized_only = false" in view
        assert "time_bucket(INTERVAL '1 hour', ts) AS bucket" in view and "WITH NO DATA" in view
        assert "coalesce(district, '') AS district" in view
    assert "WHERE phase = 'raised'" in incident_view
    assert "coalesce(object_class, 'unclassified') AS object_class" in crossing_view
    assert "FROM line_crossings" in crossing_view and "GROUP BY 1, 2, 3, 4, 5, 6" in crossing_view
    for column in ("count(*) AS count", "sum(value) AS sum", "min(value) AS min", "max(value) AS max"):
        assert column in reading_view and column in district_view
    assert "GROUP BY 1, 2, 3, 4" in reading_view and "GROUP BY 1, 2, 3\n" in district_view
    assert [p.split("'")[1] for p in policies] == list(rollups.ROLLUPS)
    assert rollups.ROLLUPS == (INCIDENT_ROLLUP, READING_ROLLUP, READING_DISTRICT_ROLLUP, CROSSING_ROLLUP)
    for policy in policies:
        assert "add_continuous_aggregate_policy" in policy
        assert "start_offset => INTERVAL '172800 seconds'" in policy
        assert "schedule_interval => INTERVAL '600 seconds'" in policy and "if_not_exists => TRUE" in policy


@pytest.mark.unit
def test_incremental_merges_add_only_inserted_rows() -> None:
    for merge in (
        rollups.MERGE_READINGS_WITH_ROLLUP,
        rollups.MERGE_INCIDENTS_WITH_ROLLUP,
        rollups.MERGE_CROSSINGS_WITH_ROLLUP,
    ):
        assert "ON CONFLICT (sensor_id, ts) DO NOTHING" in merge or "ON CONFLICT (id, ts) DO NOTHING" in merge
        assert "RETURNING" in merge and "FROM inserted" in merge
    assert rollups.MERGE_READINGS_WITH_ROLLUP.count("FROM inserted") == 2  # both reading rollups, one insert


# -- against the real stack ---------------------------------------------------------------------------------
def _reading(sensor: str, value: float, ts: datetime, district: str | None) -> bytes:
    body: dict[str, Any] = {
        "sensor_id": sensor,
        "kind": "water_level",
        "value": value,
        "unit": "m",
        "ts": ts.isoformat(),
    }
    if district is not None:
        body["location"] = {"lat": -7.98, "lon": 112.63, "district": district}
    return orjson.dumps(body)


def _incident(n: int, source: str, ts: datetime, district: str | None, phase: str = "raised") -> bytes:
    kind = "camera" if source.startswith("cam") else "sensor"
    body: dict[str, Any] = {
        "id": f"inc-{n}",
        "type": "intrusion" if kind == "camera" else "water_level_high",
        "source": source,
        "source_kind": kind,
        "rule": "r",
        "phase": phase,
        "ts": ts.isoformat(),
        "detected_at": ts.isoformat(),
        "severity": "high",
        "title": "t",
    }
    if district is not None:
        body["location"] = {"lat": -7.98, "lon": 112.63, "district": district}
    return orjson.dumps(body)


READINGS = [
    # sensor, value, minutes after T0, district
    ("gauge-1", 1.0, 5, "Klojen"),
    ("gauge-1", 3.0, 35, "Klojen"),
    ("gauge-1", 2.0, 65, "Klojen"),  # next hour
    ("gauge-2", 0.5, 10, "Sukun"),
    ("gauge-2", -0.5, 20, "Sukun"),
    ("gauge-3", 7.0, 15, None),  # no district: stored as '' in the rollup
]
INCIDENTS = [
    # n, source, minutes after T0, district, phase
    (1, "cam-1", 1, "Klojen", "raised"),
    (2, "cam-1", 2, "Klojen", "raised"),
    (3, "cam-1", 3, "Klojen", "cleared"),  # not counted: a condition ending is no new incident
    (4, "gauge-1", 40, "Klojen", "raised"),
    (5, "gauge-2", 70, "Sukun", "raised"),
    (6, "cam-2", 75, None, "raised"),
]


def _send_all(pipeline: Pipeline, producer: KafkaProducer, times: int = 1) -> None:
    readings, incidents = pipeline.topic("pantau.sensor-readings.v1"), pipeline.topic("pantau.incidents.v1")
    for _ in range(times):
        for sensor, value, minutes, district in READINGS:
            producer.send(
                readings, key=sensor.encode(), value=_reading(sensor, value, T0 + timedelta(minutes=minutes), district)
            )
        for n, source, minutes, district, phase in INCIDENTS:
            producer.send(
                incidents,
                key=source.encode(),
                value=_incident(n, source, T0 + timedelta(minutes=minutes), district, phase),
            )
    producer.flush()


def _rollup_rows(conn: psycopg.Connection) -> tuple[Rows, Rows, Rows]:
    incidents = conn.execute(
        f"SELECT bucket, district, type, source, source_kind, severity, count FROM {INCIDENT_ROLLUP} "
        "ORDER BY 1, 2, 3, 4, 5, 6"
    ).fetchall()
    readings = conn.execute(
        f"SELECT bucket, sensor_id, kind, district, count, sum, min, max FROM {READING_ROLLUP} ORDER BY 1, 2, 3, 4"
    ).fetchall()
    districts = conn.execute(
        f"SELECT bucket, district, kind, count, sum, min, max FROM {READING_DISTRICT_ROLLUP} ORDER BY 1, 2, 3"
    ).fetchall()
    return incidents, readings, districts


def _wait_rollups(pipeline: Pipeline, readings: int, incidents: int) -> None:
    assert pipeline.wait_count("sensor_readings", readings) == readings
    assert pipeline.wait_count("incidents", incidents) == incidents


@pytest.mark.integration
def test_rollups_equal_hand_counts_and_a_rebuild_after_a_replay(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(services=("archiver",))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    _send_all(pipeline, producer, times=2)  # every record twice, most likely in the same batch
    _wait_rollups(pipeline, len(READINGS), len(INCIDENTS))

    h0, h1 = T0, T0 + timedelta(hours=1)
    expected_incidents = [
        (h0, "Klojen", "intrusion", "cam-1", "camera", "high", 2),
        (h0, "Klojen", "water_level_high", "gauge-1", "sensor", "high", 1),
        (h1, "", "intrusion", "cam-2", "camera", "high", 1),
        (h1, "Sukun", "water_level_high", "gauge-2", "sensor", "high", 1),
    ]
    expected_readings = [
        (h0, "gauge-1", "water_level", "Klojen", 2, 4.0, 1.0, 3.0),
        (h0, "gauge-2", "water_level", "Sukun", 2, 0.0, -0.5, 0.5),
        (h0, "gauge-3", "water_level", "", 1, 7.0, 7.0, 7.0),
        (h1, "gauge-1", "water_level", "Klojen", 1, 2.0, 2.0, 2.0),
    ]
    expected_districts = [
        (h0, "", "water_level", 1, 7.0, 7.0, 7.0),
        (h0, "Klojen", "water_level", 2, 4.0, 1.0, 3.0),
        (h0, "Sukun", "water_level", 2, 0.0, -0.5, 0.5),
        (h1, "Klojen", "water_level", 1, 2.0, 2.0, 2.0),
    ]
    with pipeline.db() as conn:
        assert _rollup_rows(conn) == (expected_incidents, expected_readings, expected_districts)

    # A replay: the archiver, killed, comes back under a new consumer group and reads both topics
    # again from the start; then the same records once more. Nothing stored or counted twice.
    pipeline.kill("archiver")
    pipeline.env["PANTAU_ARCHIVE_GROUP"] = "pantau.archiver-replay"
    pipeline.start("archiver")
    _send_all(pipeline, producer)
    # One marker per partition, after everything else: once all are stored, the replay is behind us.
    # The incident markers are ``cleared`` ones, which the rollup does not count.
    marker_ts = T0 + timedelta(hours=5)
    for partition in range(4):
        sensor, source = f"marker-{partition}", f"marker-{partition}"
        producer.send(
            pipeline.topic("pantau.sensor-readings.v1"),
            key=sensor.encode(),
            value=_reading(sensor, 1.0, marker_ts, "X"),
            partition=partition,
        )
        producer.send(
            pipeline.topic("pantau.incidents.v1"),
            key=source.encode(),
            value=_incident(100 + partition, source, marker_ts, "X", "cleared"),
            partition=partition,
        )
    producer.flush()
    _wait_rollups(pipeline, len(READINGS) + 4, len(INCIDENTS) + 4)
    with pipeline.db() as conn:
        incremental = _rollup_rows(conn)
        assert incremental[0] == expected_incidents
        assert incremental[1][:4] == expected_readings
        assert [(r[1], r[4]) for r in incremental[1][4:]] == [(f"marker-{p}", 1) for p in range(4)]
        assert incremental[2] == [*expected_districts, (marker_ts, "X", "water_level", 4, 4.0, 1.0, 1.0)]
        result = rebuild_rollups(conn)
        assert (result.start, result.end) == (h0, marker_ts + timedelta(hours=1))
        assert (result.incident_rows, result.reading_rows) == (4, 8)
        assert _rollup_rows(conn) == incremental

        # A damaged range is repaired by rebuilding that range only; other hours are left alone.
        conn.execute(f"UPDATE {INCIDENT_ROLLUP} SET count = count * 10")
        conn.execute(f"UPDATE {READING_ROLLUP} SET sum = 99 WHERE bucket = %s", (h1,))
        conn.execute(f"DELETE FROM {READING_DISTRICT_ROLLUP} WHERE bucket = %s", (h1,))
        rebuild_rollups(conn, h1 + timedelta(minutes=10), h1 + timedelta(minutes=20))
        damaged_incidents, repaired_readings, repaired_districts = _rollup_rows(conn)
        assert (repaired_readings, repaired_districts) == incremental[1:]
        assert [r[-1] for r in damaged_incidents] == [20, 10, 1, 1]  # hour 0 still damaged, hour 1 rebuilt
        script = pipeline.db()  # as a script would call it: not in autocommit; it commits by itself
        script.autocommit = False
        rebuild_rollups(script, h0, h1)
        script.close()  # closing without a commit would drop an uncommitted rebuild
        assert _rollup_rows(conn) == incremental

        # The operators' command does the same: `pantau history rebuild --from --to`.
        conn.execute(f"DELETE FROM {READING_ROLLUP}")
        command = [sys.executable, "-m", "pantau.cli", "history", "rebuild", "--from", h0.isoformat()]
        done = subprocess.run(
            [*command, "--to", (marker_ts + timedelta(hours=1)).isoformat()],
            env={**os.environ, **pipeline.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "4 incident rows, 8 reading rows" in done.stdout
        assert _rollup_rows(conn) == incremental
        naive = subprocess.run(
            [*command[:-1], "2026-01-01T00:00"], env={**os.environ, **pipeline.env}, capture_output=True, text=True
        )
        assert naive.returncode == 2 and "has no time zone" in naive.stderr
    producer.close()


@pytest.mark.integration
def test_a_rebuild_waits_for_a_batch_in_flight(pipeline_factory: Callable[..., Pipeline]) -> None:
    """A batch holds the rollup lock shared; a rebuild takes it alone, so neither sees half of the other."""
    pipeline = pipeline_factory(services=("archiver",))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    _send_all(pipeline, producer)
    _wait_rollups(pipeline, len(READINGS), len(INCIDENTS))
    with pipeline.db() as batch, pipeline.db() as rebuilder:
        batch.autocommit = False
        batch.execute(rollups.BATCH_LOCK)
        rebuilder.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            rebuild_rollups(rebuilder, T0, T0 + timedelta(hours=2))
        batch.rollback()
        assert rebuild_rollups(rebuilder, T0, T0 + timedelta(hours=2)).incident_rows == 4
    producer.close()


@pytest.mark.integration
def test_new_rollups_are_built_from_the_raw_tables_at_start(pipeline_factory: Callable[..., Pipeline]) -> None:
    """An archiver upgraded onto raw tables that have no rollups yet builds them before it consumes."""
    pipeline = pipeline_factory(services=("archiver",))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    _send_all(pipeline, producer)
    _wait_rollups(pipeline, len(READINGS), len(INCIDENTS))
    with pipeline.db() as conn:
        built = _rollup_rows(conn)
    pipeline.kill("archiver")
    with pipeline.db() as conn:
        for table in rollups.ROLLUPS:
            conn.execute(f"DROP TABLE {table}")
    pipeline.start("archiver")
    with pipeline.db() as conn:
        assert _rollup_rows(conn) == built
    assert "are new: building them from the raw tables" in pipeline.log_tail("archiver", 200)
    producer.close()
