"""Line crossings in the archive (``pantau.line-crossings.v1`` → ``line_crossings`` and its hourly
rollup): stored once however often they are delivered (a replay into a new consumer group, an
archiver killed and restarted, a rebalance between two archivers mid-stream), counted in the rollup
exactly as a hand count and a rebuild from the raw table say, bad records dead-lettered with their
reason while the good ones of the same batch are stored, and retention of the raw rows and the
rollup, each by its own setting."""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from kafka import KafkaProducer

from archive import rollups
from archive.rollups import CROSSING_ROLLUP, UNCLASSIFIED, rebuild_rollups
from archive.service import Settings
from detectors.schemas import TOPIC_LINE_CROSSINGS, LineCrossing, crossing_id
from ingest.schemas import Location
from pantau.kafka import dumps
from tests.pipeline import Pipeline

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a whole UTC hour
JUNCTION = Location(lat=-7.9826, lon=112.6308, district="Klojen")
BRIDGE = Location(lat=-7.9666, lon=112.6326, district="Lowokwaru")
CONFIG = """
cameras:
  # No object confirmation and no location in its crossings: the archiver takes the camera's.
  - {id: cam-gate, source: /dev/null, location: {lat: -7.95, lon: 112.61, district: Blimbing}}
"""
Row = tuple[Any, ...]

# camera, line, direction, class (None: no object confirmation), object id, minutes after T0
SENT = [
    ("cam-junction", "north", "in", "car", 1, 5),
    ("cam-junction", "north", "in", "car", 2, 10),
    ("cam-junction", "north", "in", "car", 3, 50),
    ("cam-junction", "north", "out", "car", 4, 20),
    ("cam-junction", "north", "out", "person", 7, 15),
    ("cam-junction", "north", "in", "bus", 5, 65),  # the next hour
    ("cam-junction", "north", "in", "motorcycle", 6, 70),
    ("cam-junction", "south lane", "in", "car", 1, 5),  # the same object on another line
    ("cam-bridge", "walkway", "in", "person", 8, 30),
    ("cam-bridge", "walkway", "in", "person", 9, 31),
    ("cam-bridge", "walkway", "out", "person", 10, 80),
    ("cam-gate", "gate", "in", None, 11, 40),
]
LOCATIONS = {"cam-junction": JUNCTION, "cam-bridge": BRIDGE, "cam-gate": None}
DISTRICTS = {"cam-junction": "Klojen", "cam-bridge": "Lowokwaru", "cam-gate": "Blimbing"}


def crossing(
    camera: str, line: str, direction: str, object_class: str | None, object_id: int, at: datetime
) -> LineCrossing:
    """A crossing as the camera detectors send it (deterministic id)."""
    return LineCrossing(
        id=crossing_id(camera, line, object_id, at),
        camera=camera,
        line=line,
        direction=direction,
        object_class=object_class,
        score=None if object_class is None else 0.87,
        object_id=object_id,
        ts=at,
        location=LOCATIONS.get(camera, JUNCTION),
    )


def _sent() -> list[LineCrossing]:
    return [crossing(c, line, d, k, o, T0 + timedelta(minutes=m)) for c, line, d, k, o, m in SENT]


def _produce(pipeline: Pipeline, producer: KafkaProducer, crossings: list[LineCrossing], times: int = 1) -> None:
    topic = pipeline.topic(TOPIC_LINE_CROSSINGS)
    for _ in range(times):
        for c in crossings:
            producer.send(topic, key=c.key(), value=dumps(c))
    producer.flush()


def _markers(pipeline: Pipeline, producer: KafkaProducer, tag: str, at: datetime) -> list[LineCrossing]:
    """One crossing on every partition after everything sent before: once all four are stored, the
    archiver has consumed what came before them."""
    markers = [crossing(f"marker-{tag}-{p}", "m", "in", "car", p, at) for p in range(4)]
    for p, marker in enumerate(markers):
        producer.send(pipeline.topic(TOPIC_LINE_CROSSINGS), key=marker.key(), value=dumps(marker), partition=p)
    producer.flush()
    return markers


def _hand_rollup(crossings: list[LineCrossing]) -> list[Row]:
    counts = Counter(
        (
            rollups.hour_floor(c.ts),
            c.camera,
            c.line,
            c.direction,
            c.object_class or UNCLASSIFIED,
            DISTRICTS.get(c.camera, "Klojen"),
        )
        for c in crossings
    )
    return sorted((*key, n) for key, n in counts.items())


def _rollup(conn: psycopg.Connection) -> list[Row]:
    return conn.execute(
        f"SELECT bucket, camera, line, direction, object_class, district, count FROM {CROSSING_ROLLUP} "
        "ORDER BY 1, 2, 3, 4, 5, 6"
    ).fetchall()


def _producer(pipeline: Pipeline) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=5)


@pytest.mark.unit
def test_the_merge_adds_only_inserted_crossings_and_retention_has_a_setting() -> None:
    merge = rollups.MERGE_CROSSINGS_WITH_ROLLUP
    assert "ON CONFLICT (id, ts) DO NOTHING" in merge and "RETURNING" in merge and "FROM inserted" in merge
    assert f"coalesce(object_class, '{UNCLASSIFIED}')" in merge
    assert CROSSING_ROLLUP in rollups.ROLLUPS and rollups.RAW_TABLE[CROSSING_ROLLUP] == "line_crossings"
    settings = Settings(crossings_retention_days=90, rollups_retention_days=1000)
    keep = {p.table: p.keep.days for p in settings.retention_policies()}
    assert keep["line_crossings"] == 90 and keep[CROSSING_ROLLUP] == 1000
    assert Settings.model_fields["crossings_retention_days"].default == 730


@pytest.mark.integration
def test_crossings_are_stored_once_across_replays_and_restarts(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver",))
    producer = _producer(pipeline)
    sent = _sent()
    topic = pipeline.topic(TOPIC_LINE_CROSSINGS)
    good = orjson.loads(dumps(sent[0]))
    bad: list[tuple[bytes, str]] = [
        (b"{not json", "invalid record"),
        (orjson.dumps({**good, "direction": "sideways"}), "direction"),
        (orjson.dumps({**good, "ts": "2026-11-20T09:00:00"}), "ts"),  # no zone
        # The contract refuses the NUL and what bigint cannot hold: both before the database.
        (orjson.dumps({**good, "camera": "cam\x00evil"}), "NUL"),
        (orjson.dumps({**good, "id": "huge", "object_id": 2**63}), "less than or equal to 9223372036854775807"),
    ]
    # Every good crossing twice, the bad ones among them: one batch, most likely.
    for c in sent:
        producer.send(topic, key=c.key(), value=dumps(c))
    for value, _ in bad:
        producer.send(topic, key=b"cam-junction", value=value)
    _produce(pipeline, producer, sent)
    assert pipeline.wait_count("line_crossings", len(sent)) == len(sent)

    with pipeline.db() as conn:
        stored = conn.execute(
            "SELECT id, camera, line, direction, object_class, score, object_id, ts, district, lat FROM line_crossings "
            "ORDER BY ts, camera, line"
        ).fetchall()
        assert sorted(r[0] for r in stored) == sorted(c.id for c in sent)
        gate = next(r for r in stored if r[1] == "cam-gate")
        assert (gate[4], gate[5], gate[8], gate[9]) == (None, None, "Blimbing", -7.95)  # the camera's location
        bus = next(r for r in stored if r[4] == "bus")
        assert (bus[2], bus[3], bus[5], bus[6], bus[7]) == ("north", "in", 0.87, 5, T0 + timedelta(minutes=65))
        assert _rollup(conn) == _hand_rollup(sent)
        unclassified = [r for r in _rollup(conn) if r[1] == "cam-gate"]
        assert [(r[4], r[6]) for r in unclassified] == [(UNCLASSIFIED, 1)]

    letters = pipeline.dead_letters(len(bad))
    assert len(letters) == len(bad)
    for (value, reason), letter in zip(bad, sorted(letters, key=lambda x: x["offset"]), strict=True):
        assert letter["stage"] == "archive" and letter["topic"] == topic
        assert letter["reason"].startswith("invalid record") and reason in letter["reason"], letter["reason"]
        assert base64.b64decode(letter["value_b64"]) == value

    # The archiver killed and started again in its group: whatever it had not committed comes again.
    pipeline.kill("archiver")
    pipeline.start("archiver")
    _produce(pipeline, producer, sent)
    first = _markers(pipeline, producer, "restart", T0 + timedelta(hours=5))
    assert pipeline.wait_count("line_crossings", len(sent) + 4) == len(sent) + 4
    # A replay: a new consumer group reads the whole topic again from the start, then the same once more.
    pipeline.kill("archiver")
    pipeline.env["PANTAU_ARCHIVE_GROUP"] = "pantau.archiver-replay"
    pipeline.start("archiver")
    _produce(pipeline, producer, sent)
    second = _markers(pipeline, producer, "replay", T0 + timedelta(hours=6))
    assert pipeline.wait_count("line_crossings", len(sent) + 8) == len(sent) + 8
    time.sleep(1.0)  # anything late would have landed by now
    assert pipeline.count("line_crossings") == len(sent) + 8

    with pipeline.db() as conn:
        incremental = _rollup(conn)
        markers = [r for r in incremental if r[1].startswith("marker-")]
        assert [r[-1] for r in markers] == [1] * 8
        assert [r for r in incremental if not r[1].startswith("marker-")] == _hand_rollup(sent)
        assert len(first) + len(second) == len(markers)
        # A rebuild from the raw table gives the same rows, and so does a rebuild of this rollup alone.
        result = rebuild_rollups(conn)
        assert result.crossing_rows == len(incremental)
        assert (result.start, result.end) == (T0, T0 + timedelta(hours=7))
        assert _rollup(conn) == incremental
        conn.execute(f"UPDATE {CROSSING_ROLLUP} SET count = count * 3")
        conn.execute(f"DELETE FROM {CROSSING_ROLLUP} WHERE camera = 'cam-bridge'")
        only = rebuild_rollups(conn, T0, T0 + timedelta(hours=2), only=[CROSSING_ROLLUP])
        assert (only.incident_rows, only.reading_rows) == (0, 0)
        repaired = _rollup(conn)
        assert [r for r in repaired if not r[1].startswith("marker-")] == _hand_rollup(sent)
        assert [r[-1] for r in repaired if r[1].startswith("marker-")] == [3] * 8  # outside the range: untouched
    producer.close()


@pytest.mark.integration
def test_crossings_are_counted_once_through_a_rebalance(pipeline_factory: Callable[..., Pipeline]) -> None:
    """Crossings keep coming while a second archiver joins the group and the first is then killed:
    partitions move twice, records since the last commit are delivered again, and every crossing is
    stored and counted once."""
    pipeline = pipeline_factory(services=("archiver",))
    producer = _producer(pipeline)
    cameras = [f"cam-{n}" for n in range(8)]
    start = T0 + timedelta(days=1)
    crossings = [
        crossing(cameras[i % 8], "line", "in" if i % 3 else "out", ("car", "person", "bus")[i % 3], i,
                 start + timedelta(seconds=7 * i))
        for i in range(3000)
    ]  # fmt: skip
    killed, done = threading.Event(), threading.Event()

    def produce_slowly() -> None:
        """Two thirds while the second archiver joins, the last third after the first one died."""
        for i in range(0, len(crossings), 100):
            if i == 2000:
                killed.wait(120)
            _produce(pipeline, producer, crossings[i : i + 100])
            time.sleep(0.1)
        done.set()

    feeder = threading.Thread(target=produce_slowly, daemon=True)
    feeder.start()
    assert pipeline.wait_count("line_crossings", 300) >= 300
    pipeline.start("archiver-2", service="archiver")  # the group rebalances: partitions are shared out
    assert pipeline.wait_count("line_crossings", 1000) >= 1000
    pipeline.kill("archiver")  # SIGKILL: its partitions go to archiver-2, uncommitted records come again
    killed.set()
    assert done.wait(120)
    feeder.join()
    _produce(pipeline, producer, crossings[:500])  # and a stretch of them once more
    assert pipeline.wait_count("line_crossings", len(crossings), timeout_s=120) == len(crossings)
    _markers(pipeline, producer, "end", start + timedelta(days=1))
    assert pipeline.wait_count("line_crossings", len(crossings) + 4, timeout_s=60) == len(crossings) + 4
    with pipeline.db() as conn:
        total = conn.execute(
            f"SELECT sum(count)::int FROM {CROSSING_ROLLUP} WHERE camera NOT LIKE 'marker-%%'"
        ).fetchone()
        assert total is not None and total[0] == len(crossings)
        per_class: dict[str, int] = dict(
            conn.execute(
                f"SELECT object_class, sum(count)::int FROM {CROSSING_ROLLUP} "
                "WHERE camera NOT LIKE 'marker-%%' GROUP BY 1"
            ).fetchall()
        )
        assert per_class == dict(Counter(c.object_class for c in crossings))
        incremental = _rollup(conn)
        rebuild_rollups(conn, only=[CROSSING_ROLLUP])
        assert _rollup(conn) == incremental
    producer.close()


@pytest.mark.integration
def test_retention_drops_old_crossings_and_keeps_their_counts_longer(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(
        services=("archiver",),
        PANTAU_CROSSINGS_RETENTION_DAYS="30",
        PANTAU_ROLLUPS_RETENTION_DAYS="60",
        PANTAU_RETENTION_INTERVAL_S="1",
    )
    producer = _producer(pipeline)
    now = datetime.now(UTC)
    ages_days = {"cam-ancient": 100, "cam-old": 45, "cam-new": 1}  # raw: 30 days; rollup: 60 days
    crossings = [crossing(camera, "line", "in", "car", 1, now - timedelta(days=d)) for camera, d in ages_days.items()]
    _produce(pipeline, producer, crossings)

    def cameras(table: str) -> list[str]:
        with pipeline.db() as conn:
            return [r[0] for r in conn.execute(f"SELECT DISTINCT camera FROM {table} ORDER BY 1").fetchall()]

    assert pipeline.wait_count("line_crossings", 1, "camera = 'cam-new'") == 1
    deadline = time.monotonic() + 30
    while (cameras("line_crossings"), cameras(CROSSING_ROLLUP)) != (["cam-new"], ["cam-new", "cam-old"]):
        assert time.monotonic() < deadline, (cameras("line_crossings"), cameras(CROSSING_ROLLUP))
        time.sleep(0.2)
    log = pipeline.log_file("archiver").read_text()
    assert "retention: line_crossings: dropped" in log and f"retention: {CROSSING_ROLLUP}: dropped" in log
    producer.close()
