"""The planners' history API on the real stack: readings and incidents produced to Kafka, stored by
the archiver (with its rollups), alerts made and handled through alerting; every figure compared
with one computed here by hand. Also CSV, CAP, roles, range validation, and 503 without a database;
the pure helpers that choose buckets and ranges as unit tests."""

from __future__ import annotations

import csv
import io
import math
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from alerting.cap import CAP_NS
from archive import rollups
from console import history_queries as hq
from detectors.schemas import TOPIC_LINE_CROSSINGS, LineCrossing, crossing_id
from ingest.schemas import Location
from pantau.auth import Role
from pantau.kafka import dumps
from tests.console.conftest import PersonFactory
from tests.pipeline import Pipeline

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime.now(UTC)
BASE = hq.day_floor(NOW - timedelta(days=5), WIB)  # a local midnight five days ago
CONFIG = """
timezone: Asia/Jakarta
alerting:
  corroboration_window_s: 0
  reopen_window_s: 0
"""
ATOM = {"atom": "http://www.w3.org/2005/Atom", "cap": CAP_NS}

# (n, source, type, rule, severity, district, phase, hours after BASE)
INCIDENTS = [
    (1, "cam-1", "intrusion", "intrusion-lawn", "high", "Klojen", "raised", 23.5),  # 23:30 local, day 0
    (2, "cam-1", "intrusion", "intrusion-lawn", "high", "Klojen", "raised", 24.5),  # 00:30 local, day 1
    (3, "gauge-1", "water_level_high", "river-high", "critical", "Sukun", "raised", 10.25),
    (4, "gauge-1", "water_level_high", "river-high", "critical", "Sukun", "cleared", 10.75),  # not counted
    (5, "gauge-2", "water_level_high", "river-high", "medium", "Sukun", "raised", 10.33),
    (6, "cam-2", "intrusion", "intrusion-lawn", "low", "Blimbing", "raised", 30.0),
]
RAISED = [i for i in INCIDENTS if i[6] == "raised"]
# gauge-3 reads every 10 minutes for three days from BASE; the value cycles through 0..6.
READINGS = [(BASE + timedelta(minutes=10 * i), float(i % 7)) for i in range(3 * 144)]


def _at(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


def _incident(
    n: int, source: str, type_: str, rule: str, severity: str, district: str, phase: str, hours: float
) -> bytes:
    ts = _at(hours).isoformat()
    kind = "camera" if source.startswith("cam") else "sensor"
    return orjson.dumps(
        {"id": f"inc-{n}", "type": type_, "source": source, "source_kind": kind,
         "rule": rule, "phase": phase, "ts": ts, "detected_at": ts, "severity": severity, "title": f"{source} {type_}",
         "location": {"lat": -7.98, "lon": 112.63, "district": district}}
    )  # fmt: skip


def _reading(ts: datetime, value: float) -> bytes:
    return orjson.dumps(
        {"sensor_id": "gauge-3", "kind": "water_level", "value": value, "unit": "m", "ts": ts.isoformat(),
         "location": {"lat": -7.97, "lon": 112.62, "district": "Lowokwaru"}}
    )  # fmt: skip


def _percentile(values: list[float], q: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _stats(values: list[float]) -> tuple[int, float, float, float]:
    return len(values), sum(values) / len(values), min(values), max(values)


# -- pure helpers ---------------------------------------------------------------------------------------------
@pytest.mark.unit
def test_ranges_are_validated_and_defaulted() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert hq.resolve_range(None, None, now) == (now - timedelta(days=30), now)
    with pytest.raises(hq.RangeError, match="must be before"):
        hq.resolve_range(now, now, now)
    with pytest.raises(hq.RangeError, match="at most 400 days"):
        hq.resolve_range(now - timedelta(days=401), now, now)
    assert hq.resolve_range(now - timedelta(days=400), now, now)[0] == now - timedelta(days=400)


@pytest.mark.unit
def test_buckets_align_to_utc_hours_and_local_days() -> None:
    start = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)  # 23:30 WIB
    end = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # 01:00 WIB the next day
    assert hq.align(start, end, "1h", WIB) == (datetime(2026, 11, 20, 16, tzinfo=UTC), end)
    assert hq.align(start, end, "1d", WIB) == (
        datetime(2026, 11, 19, 17, tzinfo=UTC),  # midnight WIB of the 20th
        datetime(2026, 11, 21, 17, tzinfo=UTC),  # midnight WIB of the 22nd
    )
    assert hq.rollups_align(WIB, start, end)
    assert hq.rollups_align(ZoneInfo("Europe/Berlin"), start - timedelta(days=200), end)  # DST: whole hours
    assert not hq.rollups_align(ZoneInfo("Asia/Kolkata"), start, end)  # +05:30
    assert not hq.rollups_align(ZoneInfo("Australia/Lord_Howe"), start - timedelta(days=200), end)  # +10:30


@pytest.mark.unit
def test_sensor_trend_plan() -> None:
    start = datetime(2026, 11, 1, 0, 10, tzinfo=UTC)
    short = hq.plan_trend(start, start + timedelta(hours=6), 500)
    assert (short.bucket_s, short.from_rollup, short.start) == (44, False, start)  # ceil(21600 / 500)
    long = hq.plan_trend(start, start + timedelta(days=90), 500)
    assert long.from_rollup and long.bucket_s == 5 * 3600 and long.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert (long.end - long.start) / timedelta(seconds=long.bucket_s) <= 500


@pytest.mark.unit
def test_history_sql_binds_every_value() -> None:
    filters = hq.IncidentFilters(districts=["Klojen'; DROP TABLE alerts; --"], cameras=["cam-1"], sensors=["g"])
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    statement, params = hq.incident_series(start, end, "1d", "district", filters, "Asia/Jakarta")
    assert "Klojen" not in statement and "Asia/Jakarta" not in statement and "cam-1" not in statement
    assert params["districts"] == ["Klojen'; DROP TABLE alerts; --"] and params["tz"] == "Asia/Jakarta"
    assert "FROM incident_rollup_hourly" in statement
    assert "(source_kind = 'camera' AND source = ANY(%(cameras)s)) OR" in statement
    raw, _ = hq.heatmap(start, end, filters, "Asia/Kolkata", from_rollup=False)
    assert "FROM incidents" in raw and "phase = 'raised'" in raw


# -- against the real stack ------------------------------------------------------------------------------------
def _produce(pipeline: Pipeline) -> None:
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=5)
    for incident in INCIDENTS:
        producer.send(pipeline.topic("pantau.incidents.v1"), key=incident[1].encode(), value=_incident(*incident))
    for ts, value in READINGS:
        producer.send(pipeline.topic("pantau.sensor-readings.v1"), key=b"gauge-3", value=_reading(ts, value))
    producer.flush()
    producer.close()


def _handle_alerts(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Ack, resolve and close alerts through alerting; the alerts' final documents by source."""
    operator = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ani')}"}
    with pipeline.db() as conn:
        ids: dict[str, str] = dict(conn.execute("SELECT source, id FROM alerts").fetchall())
    with httpx.Client(base_url=pipeline.alerting_url, timeout=10, headers=operator) as alerting:

        def command(source: str, action: str, **body: Any) -> None:
            with pipeline.db() as conn:
                row = conn.execute("SELECT version FROM alerts WHERE id = %s", (ids[source],)).fetchone()
            assert row is not None
            answer = alerting.post(f"/api/v1/alerts/{ids[source]}/{action}", json={"version": row[0], **body})
            assert answer.status_code == 200, answer.text

        command("cam-1", "ack")
        command("gauge-1", "ack")
        time.sleep(0.3)  # resolution times differ from acknowledgement times
        command("gauge-1", "resolve")
        command("gauge-1", "close", close_reason="handled")
        command("gauge-2", "close", close_reason="false_alarm")
        command("cam-2", "ack")
        command("cam-2", "close", close_reason="false_alarm")
    with pipeline.db() as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT source, doc FROM alerts").fetchall()}


@pytest.mark.integration
def test_history_answers_match_hand_counts(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "alerting", "console"))
    _produce(pipeline)
    assert pipeline.wait_count("incidents", len(INCIDENTS)) == len(INCIDENTS)
    assert pipeline.wait_count("sensor_readings", len(READINGS)) == len(READINGS)
    assert pipeline.wait_count("alerts", 4) == 4
    docs = _handle_alerts(pipeline)

    planner = person_factory(pipeline, "pia", Role.planner)
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{pipeline.console_port}",
        timeout=15,
        headers={"Authorization": f"Bearer {planner.token}"},
    )
    window = {"from": BASE.isoformat(), "to": (BASE + timedelta(days=2)).isoformat()}

    def get(path: str, **params: Any) -> Any:
        answer = client.get(f"/api/v1/history/{path}", params={**window, **params})
        assert answer.status_code == 200, answer.text
        return answer.json()

    # Incidents per UTC hour and district.
    hourly = get("incidents", bucket="1h", group_by="district")
    expected_hourly = Counter((hq.hour_floor(_at(i[7])), i[5]) for i in RAISED)
    got_hourly = {(datetime.fromisoformat(r["bucket_start"]), r["group"]): r["count"] for r in hourly["rows"]}
    assert got_hourly == dict(expected_hourly) and hourly["source"] == "rollup"
    assert (hourly["from"], hourly["timezone"]) == (
        BASE.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "Asia/Jakarta",
    )

    # Per local day (Asia/Jakarta): 23:30 and 00:30 fall on two days, though on one UTC day.
    daily = get("incidents", bucket="1d", group_by="district")
    expected_daily = Counter((hq.day_floor(_at(i[7]), WIB), i[5]) for i in RAISED)
    assert {(datetime.fromisoformat(r["bucket_start"]), r["group"]): r["count"] for r in daily["rows"]} == dict(
        expected_daily
    )
    assert {r["count"] for r in daily["rows"] if r["group"] == "Klojen"} == {1}
    totals = get("incidents", bucket="1d")
    assert [r["count"] for r in totals["rows"]] == [3, 2] and {r["group"] for r in totals["rows"]} == {None}

    # Filters: a camera, a sensor, a type; per source.
    assert sum(r["count"] for r in get("incidents", camera="cam-1")["rows"]) == 2
    assert sum(r["count"] for r in get("incidents", sensor="gauge-2")["rows"]) == 1
    assert sum(r["count"] for r in get("incidents", camera="cam-2", sensor="gauge-1")["rows"]) == 2
    assert sum(r["count"] for r in get("incidents", type="water_level_high", district="Sukun")["rows"]) == 2
    per_source = Counter[str]()
    for row in get("incidents", bucket="1d", group_by="source")["rows"]:
        per_source[row["group"]] += row["count"]
    assert per_source == Counter(i[1] for i in RAISED)

    # The hour-of-week heatmap, in Asia/Jakarta.
    heat = get("heatmap")
    expected_heat = [[0] * 24 for _ in range(7)]
    for i in RAISED:
        local = _at(i[7]).astimezone(WIB)
        expected_heat[local.weekday()][local.hour] += 1
    assert heat["counts"] == expected_heat and heat["total"] == len(RAISED)
    assert get("heatmap", type="intrusion")["total"] == 3

    # The noisiest sources.
    top = get("top-sources", limit=2)["rows"]
    assert [(r["source"], r["source_kind"], r["count"]) for r in top] == [
        ("cam-1", "camera", 2),
        ("cam-2", "camera", 1),
    ]

    # Response times from alerting's records, per priority and per priority and district.
    def seconds(doc: dict[str, Any], field: str) -> float | None:
        if not doc.get(field):
            return None
        return (datetime.fromisoformat(doc[field]) - datetime.fromisoformat(doc["first_seen"])).total_seconds()

    groups: dict[tuple[int, str | None], list[dict[str, Any]]] = defaultdict(list)
    for doc in docs.values():
        groups[(doc["priority"], None)].append(doc)
        groups[(doc["priority"], doc["location"]["district"])].append(doc)
    times = get("response-times")["rows"]
    assert len(times) == len(groups)
    for row in times:
        members = groups[(row["priority"], None if row["all_districts"] else row["district"])]
        acks = [s for d in members if (s := seconds(d, "acknowledged_at")) is not None]
        real = [d for d in members if d.get("close_reason") not in ("false_alarm", "duplicate", "test")]
        resolves = [s for d in real if (s := seconds(d, "resolved_at")) is not None]
        assert row["alerts"] == len(members)
        assert (row["ack_count"], row["resolve_count"]) == (len(acks), len(resolves))
        for got, want in (
            (row["ack_median_s"], _percentile(acks, 0.5)),
            (row["ack_p90_s"], _percentile(acks, 0.9)),
            (row["resolve_median_s"], _percentile(resolves, 0.5)),
            (row["resolve_p90_s"], _percentile(resolves, 0.9)),
        ):
            assert got == pytest.approx(want, abs=1e-3) if want is not None else got is None
    assert sum(r["resolve_count"] for r in times if r["all_districts"]) == 1  # gauge-1 only: the rest were false

    # False alarms: gauge-1 closed as handled, gauge-2 and cam-2 as false alarms; cam-1 is still open.
    rates = {
        (r["per"], r["source"], r["rule"]): (r["closed"], r["false_alarms"], r["rate"])
        for r in get("false-alarms")["rows"]
    }
    assert rates == {
        ("source_rule", "gauge-1", "river-high"): (1, 0, 0.0),
        ("source_rule", "gauge-2", "river-high"): (1, 1, 1.0),
        ("source_rule", "cam-2", "intrusion-lawn"): (1, 1, 1.0),
        ("source", "gauge-1", None): (1, 0, 0.0),
        ("source", "gauge-2", None): (1, 1, 1.0),
        ("source", "cam-2", None): (1, 1, 1.0),
        ("rule", None, "river-high"): (2, 1, 0.5),
        ("rule", None, "intrusion-lawn"): (1, 1, 1.0),
    }

    # A sensor's trend: six hours in 30-minute buckets from the raw readings...
    start = BASE + timedelta(hours=7, minutes=5)
    short = client.get(
        "/api/v1/history/sensors/gauge-3",
        params={"from": start.isoformat(), "to": (start + timedelta(hours=6)).isoformat(), "points": 12},
    ).json()
    assert (short["source"], short["bucket_s"], short["kind"], short["unit"]) == ("raw", 1800, "water_level", "m")
    buckets: dict[datetime, list[float]] = defaultdict(list)
    for ts, value in READINGS:
        if start <= ts < start + timedelta(hours=6):
            buckets[start + (ts - start) // timedelta(minutes=30) * timedelta(minutes=30)].append(value)
    assert [datetime.fromisoformat(p["bucket_start"]) for p in short["points"]] == sorted(buckets)
    for point in short["points"]:
        count, avg, low, high = _stats(buckets[datetime.fromisoformat(point["bucket_start"])])
        assert (point["count"], point["min"], point["max"]) == (count, low, high)
        assert point["avg"] == pytest.approx(avg)
    # ...and three days in at most 10 buckets (8 hours each) from the hourly rollup.
    long = get("sensors/gauge-3", points=10, to=(BASE + timedelta(days=3)).isoformat())
    assert (long["source"], long["bucket_s"]) == ("rollup", 8 * 3600) and len(long["points"]) == 9
    buckets = defaultdict(list)
    for ts, value in READINGS:
        buckets[BASE + (ts - BASE) // timedelta(hours=8) * timedelta(hours=8)].append(value)
    for point in long["points"]:
        count, avg, low, high = _stats(buckets[datetime.fromisoformat(point["bucket_start"])])
        assert (point["count"], point["min"], point["max"]) == (count, low, high)
        assert point["avg"] == pytest.approx(avg)
    assert client.get("/api/v1/history/sensors/no-such-gauge").status_code == 404

    # Reading statistics per local day and district.
    per_day: dict[datetime, list[float]] = defaultdict(list)
    for ts, value in READINGS:
        if ts < BASE + timedelta(days=2):
            per_day[hq.day_floor(ts, WIB)].append(value)
    days = get("readings", bucket="1d", group_by="district", kind="water_level")["rows"]
    assert [(datetime.fromisoformat(r["bucket_start"]), r["group"], r["count"], r["min"], r["max"]) for r in days] == [
        (day, "Lowokwaru", *_stats(values)[:1], *_stats(values)[2:]) for day, values in sorted(per_day.items())
    ]
    assert [r["avg"] for r in days] == pytest.approx([_stats(v)[1] for _, v in sorted(per_day.items())])
    per_sensor = get("readings", bucket="1d", group_by="sensor")["rows"]  # from the per-sensor rollup
    assert [(r["group"], r["count"], r["min"], r["max"]) for r in per_sensor] == [
        ("gauge-3", r["count"], r["min"], r["max"]) for r in days
    ]

    # CSV: an attachment with a header row and the same figures.
    answer = client.get("/api/v1/history/incidents", params={**window, "group_by": "district", "format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="pantau-incidents-')
    table = list(csv.reader(io.StringIO(answer.text)))
    assert table[0] == ["bucket_start", "district", "count"]
    assert [(datetime.fromisoformat(r[0]), r[1], int(r[2])) for r in table[1:]] == [
        (datetime.fromisoformat(r["bucket_start"]), r["group"], r["count"]) for r in hourly["rows"]
    ]
    heat_csv = list(
        csv.reader(io.StringIO(client.get("/api/v1/history/heatmap", params={**window, "format": "csv"}).text))
    )
    assert heat_csv[0] == ["weekday", "hour", "count"] and len(heat_csv) == 1 + 7 * 24
    assert sum(int(r[2]) for r in heat_csv[1:]) == len(RAISED)
    for path in ("response-times", "false-alarms", "top-sources", "readings", "sensors/gauge-3"):
        exported = client.get(f"/api/v1/history/{path}", params={**window, "format": "csv"})
        assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"], path
        assert len(list(csv.reader(io.StringIO(exported.text)))) >= 2, path

    # CAP: an Atom feed with one CAP 1.2 message per alert in the selection.
    cap = client.get("/api/v1/history/cap", params={**window, "district": ["Sukun", "Blimbing"]})
    assert cap.status_code == 200 and cap.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(cap.content)
    messages = {
        m.findtext("cap:info/cap:area/cap:areaDesc", namespaces=ATOM): m
        for m in feed.findall("atom:entry/atom:content/cap:alert", ATOM)
    }
    assert {key.split(" / ")[-1] for key in messages if key} == {"gauge-1", "gauge-2", "cam-2"}
    kinds = {key.split(" / ")[-1]: m.findtext("cap:msgType", namespaces=ATOM) for key, m in messages.items() if key}
    assert kinds == {"gauge-1": "Update", "gauge-2": "Cancel", "cam-2": "Cancel"}
    for message in messages.values():
        assert message.findtext("cap:references", namespaces=ATOM)  # the first and the previous message
    assert client.get("/api/v1/history/cap", params={**window, "limit": 2}).status_code == 422

    # Roles: planners, operators and admins read; responders and machines of other roles do not.
    for role, code in ((Role.operator, 200), (Role.admin, 200), (Role.responder, 403), (Role.ingest, 403)):
        headers = {"Authorization": f"Bearer {pipeline.token(role, 'someone')}"}
        assert client.get("/api/v1/history/heatmap", headers=headers).status_code == code, role
    assert httpx.get(f"http://127.0.0.1:{pipeline.console_port}/api/v1/history/heatmap").status_code == 401

    # Ranges: from before to, at most 400 days, with a time zone; known buckets and groups.
    bad = [
        {"from": window["to"], "to": window["from"]},
        {"from": (NOW - timedelta(days=401)).isoformat(), "to": NOW.isoformat()},
        {"from": "2026-11-01T00:00:00"},
        {"bucket": "5m"},
        {"group_by": "camera"},
    ]
    for params in bad:
        answer = client.get("/api/v1/history/incidents", params=params)
        assert answer.status_code == 422, params
    reason = client.get("/api/v1/history/heatmap", params={"from": window["to"], "to": window["from"]}).json()
    assert "must be before" in reason["detail"]
    client.close()


@pytest.mark.integration
def test_history_is_503_without_a_database(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(
        CONFIG, services=("console",), PANTAU_DATABASE_URL="postgresql://pantau@127.0.0.1:1/pantau"
    )
    headers = {"Authorization": f"Bearer {pipeline.token(Role.planner, 'plan')}"}  # a machine token: no user lookup
    with httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=30, headers=headers) as client:
        for path in ("incidents", "response-times", "cap"):  # each waits for the pool's 5 s timeout
            answer = client.get(f"/api/v1/history/{path}")
            assert answer.status_code == 503, (path, answer.text)
            assert "unavailable" in answer.json()["detail"]


@pytest.mark.integration
def test_zones_with_half_hour_offsets_read_the_raw_tables(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory
) -> None:
    """Asia/Kolkata is +05:30: a UTC-hour rollup row straddles two local hours, so daily buckets and
    the heatmap count from the raw tables, by local time."""
    pipeline = pipeline_factory("timezone: Asia/Kolkata\n", services=("archiver", "console"))
    _produce(pipeline)
    assert pipeline.wait_count("incidents", len(INCIDENTS)) == len(INCIDENTS)
    assert pipeline.wait_count("sensor_readings", len(READINGS)) == len(READINGS)
    ist = ZoneInfo("Asia/Kolkata")
    token = person_factory(pipeline, "pia", Role.planner).token
    with httpx.Client(
        base_url=f"http://127.0.0.1:{pipeline.console_port}/api/v1/history",
        headers={"Authorization": f"Bearer {token}"},
        params={"from": BASE.isoformat(), "to": (BASE + timedelta(days=2)).isoformat()},
        timeout=15,
    ) as client:
        heat = client.get("/heatmap").json()
        expected = [[0] * 24 for _ in range(7)]
        for i in RAISED:
            local = _at(i[7]).astimezone(ist)
            expected[local.weekday()][local.hour] += 1
        assert (heat["source"], heat["timezone"], heat["counts"]) == ("raw", "Asia/Kolkata", expected)
        daily = client.get("/incidents", params={"bucket": "1d", "group_by": "district"}).json()
        assert daily["source"] == "raw"
        got = {(datetime.fromisoformat(r["bucket_start"]), r["group"]): r["count"] for r in daily["rows"]}
        assert got == dict(Counter((hq.day_floor(_at(i[7]), ist), i[5]) for i in RAISED))
        hourly = client.get("/incidents", params={"bucket": "1h"}).json()
        assert hourly["source"] == "rollup" and sum(r["count"] for r in hourly["rows"]) == len(RAISED)
        readings = client.get("/readings", params={"bucket": "1d"}).json()
        assert readings["source"] == "raw"
        per_day = Counter(
            hq.day_floor(ts, ist) for ts, _ in READINGS if hq.day_floor(ts, ist) >= hq.day_floor(BASE, ist)
        )
        got_days = {datetime.fromisoformat(r["bucket_start"]): r["count"] for r in readings["rows"]}
        assert got_days == {day: n for day, n in per_day.items() if day < datetime.fromisoformat(readings["to"])}


# -- line crossings: vehicles and people -------------------------------------------------------------------------
# (camera, line, direction, class (None: no object confirmation), hours after BASE)
CROSSINGS = [
    ("cam-junction", "north", "in", "car", 1.25),
    ("cam-junction", "north", "in", "car", 1.5),
    ("cam-junction", "north", "out", "car", 1.75),
    ("cam-junction", "north", "in", "person", 1.4),
    ("cam-junction", "north", "in", "bus", 2.1),
    ("cam-junction", "north", "in", "motorcycle", 2.2),
    ("cam-junction", "north", "out", "truck", 25.0),
    ("cam-junction", "north", "in", "bicycle", 25.5),
    ("cam-junction", "south", "in", "car", 1.3),
    ("cam-junction", "south", "in", "car", 30.0),
    ("cam-bridge", "walkway", "in", "person", 23.5),  # 23:30 local, day 0
    ("cam-bridge", "walkway", "out", "person", 24.5),  # 00:30 local, day 1
    ("cam-bridge", "walkway", "in", "person", 24.6),
    ("cam-bridge", "walkway", "in", "bicycle", 24.7),
    ("cam-gate", "gate", "in", None, 10.0),  # no object confirmation, no location
    ("cam-gate", "gate", "out", None, 10.2),
]
CROSSING_DISTRICTS = {"cam-junction": "Klojen", "cam-bridge": "Lowokwaru", "cam-gate": None}
VEHICLES = {"bicycle", "car", "motorcycle", "bus", "truck"}


def _crossing(n: int, camera: str, line: str, direction: str, object_class: str | None, hours: float) -> bytes:
    ts = _at(hours)
    district = CROSSING_DISTRICTS[camera]
    location = None if district is None else Location(lat=-7.98, lon=112.63, district=district)
    crossing = LineCrossing(
        id=crossing_id(camera, line, n, ts), camera=camera, line=line, direction=direction,
        object_class=object_class, score=None if object_class is None else 0.9, object_id=n, ts=ts, location=location,
    )  # fmt: skip
    return dumps(crossing)


@pytest.mark.unit
def test_crossing_sql_binds_every_value_and_groups_lines_per_camera() -> None:
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    filters = hq.CrossingFilters(cameras=["cam-1'; --"], lines=["north"], directions=["in"], classes=["car"])
    statement, params = hq.crossing_series(start, end, "1d", ["line", "class"], filters, "Asia/Jakarta")
    for value in ("cam-1", "north", "'in'", "'car'", "Asia/Jakarta"):
        assert value not in statement, value
    assert params["f_camera"] == ["cam-1'; --"] and params["f_class"] == ["car"] and params["tz"] == "Asia/Jakarta"
    assert "FROM line_crossing_rollup_hourly" in statement
    assert "camera AS g_camera, line AS g_line, NULL::text AS g_direction, object_class AS g_class" in statement
    raw, _ = hq.crossing_series(start, end, "1h", [], filters, "Asia/Kolkata", from_rollup=False)
    assert "FROM line_crossings" in raw and f"coalesce(object_class, '{hq.UNCLASSIFIED}') = ANY" in raw
    assert hq.crossing_groups(["class", "line"]) == ("camera", "line", "class")
    assert hq.crossing_classes(["person", "car"], ["vehicle"]) == [
        "person",
        "car",
        "bicycle",
        "motorcycle",
        "bus",
        "truck",
    ]
    assert hq.crossing_classes([], []) == []
    assert hq.UNCLASSIFIED == rollups.UNCLASSIFIED  # what the archiver stores for a null class


@pytest.mark.integration
def test_crossing_counts_match_hand_counts(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "console"))
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=5)
    for n, c in enumerate(CROSSINGS):
        producer.send(pipeline.topic(TOPIC_LINE_CROSSINGS), key=c[0].encode(), value=_crossing(n, *c))
    producer.flush()
    producer.close()
    assert pipeline.wait_count("line_crossings", len(CROSSINGS)) == len(CROSSINGS)
    planner = person_factory(pipeline, "pia", Role.planner)
    window = {"from": BASE.isoformat(), "to": (BASE + timedelta(days=2)).isoformat()}
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{pipeline.console_port}/api/v1/history",
        timeout=15,
        headers={"Authorization": f"Bearer {planner.token}"},
    )

    def get(**params: Any) -> Any:
        answer = client.get("/crossings", params={**window, **params})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def counts(answer: Any, *columns: str) -> dict[tuple[Any, ...], int]:
        return {
            (datetime.fromisoformat(r["bucket_start"]), *(r[c] for c in columns)): r["count"] for r in answer["rows"]
        }

    # Vehicles per hour at the junction, per class (both lines, both directions).
    junction = get(camera="cam-junction", kind="vehicle", group_by="class")
    assert (junction["source"], junction["bucket"], junction["group_by"]) == ("rollup", "1h", ["class"])
    assert junction["classes"] == ["bicycle", "car", "motorcycle", "bus", "truck"]
    expected = Counter(
        (hq.hour_floor(_at(h)), k) for cam, _, _, k, h in CROSSINGS if cam == "cam-junction" and k in VEHICLES
    )
    assert counts(junction, "object_class") == dict(expected)
    assert all(r["camera"] is None and r["line"] is None and r["direction"] is None for r in junction["rows"])

    # People per local day on the bridge's walkway: 23:30 and 00:30 fall on two days.
    bridge = get(camera="cam-bridge", line="walkway", kind="person", bucket="1d")
    assert counts(bridge) == {(hq.day_floor(_at(23.5), WIB),): 1, (hq.day_floor(_at(24.5), WIB),): 2}
    assert bridge["source"] == "rollup"

    # Per line (which brings the camera: lines are named per camera), per direction, per district.
    lines = get(group_by="line", bucket="1d")
    assert lines["group_by"] == ["camera", "line"]
    per_line = Counter[tuple[str, str]]()
    for row in lines["rows"]:
        per_line[(row["camera"], row["line"])] += row["count"]
    assert per_line == Counter((c[0], c[1]) for c in CROSSINGS)
    flows = get(camera="cam-junction", line="north", group_by=["direction", "class"], bucket="1d")
    expected_flows = Counter(
        (hq.day_floor(_at(h), WIB), d, k)
        for cam, line, d, k, h in CROSSINGS
        if (cam, line) == ("cam-junction", "north")
    )
    assert counts(flows, "direction", "object_class") == dict(expected_flows)
    outs = get(direction="out", bucket="1d")
    assert sum(r["count"] for r in outs["rows"]) == sum(1 for c in CROSSINGS if c[2] == "out")
    districts = Counter[str | None]()
    for row in get(group_by="district", bucket="1d")["rows"]:
        districts[row["district"]] += row["count"]
    assert districts == Counter(CROSSING_DISTRICTS[c[0]] for c in CROSSINGS)
    assert sum(r["count"] for r in get(district="Lowokwaru")["rows"]) == 4

    # Cameras without object confirmation count as 'unclassified'; class and kind together: either.
    gate = get(group_by="class", **{"class": "unclassified"})
    assert [(r["object_class"], r["count"]) for r in gate["rows"]] == [("unclassified", 2)]
    either = get(kind="person", **{"class": ["bus", "truck"]})
    assert sum(r["count"] for r in either["rows"]) == sum(1 for c in CROSSINGS if c[3] in ("person", "bus", "truck"))
    assert sum(r["count"] for r in get(bucket="1d")["rows"]) == len(CROSSINGS)

    # The raw table gives the same figures as the rollup (it answers for zones with half-hour offsets).
    filters = hq.CrossingFilters(classes=hq.crossing_classes([], ["vehicle", "person"]))
    lo, hi = hq.align(BASE, BASE + timedelta(days=2), "1d", WIB)
    with pipeline.db() as conn:
        for bucket in ("1h", "1d"):
            from_rollup, from_raw = (
                conn.execute(*hq.crossing_series(lo, hi, bucket, ["line", "direction", "class", "district"], filters,
                                                 "Asia/Jakarta", from_rollup=flag)).fetchall()
                for flag in (True, False)
            )  # fmt: skip
            assert from_rollup == from_raw and len(from_raw) > 5, bucket

    # CSV: the grouped columns, then the count; the same rows as the JSON answer.
    exported = client.get("/crossings", params={**window, "camera": "cam-junction", "group_by": ["class", "line"],
                                                 "format": "csv"})  # fmt: skip
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"].startswith('attachment; filename="pantau-crossings-')
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0] == ["bucket_start", "camera", "line", "object_class", "count"]
    same = get(camera="cam-junction", group_by=["class", "line"])
    assert [(datetime.fromisoformat(r[0]), r[1], r[2], r[3], int(r[4])) for r in table[1:]] == [
        (datetime.fromisoformat(r["bucket_start"]), r["camera"], r["line"], r["object_class"], r["count"])
        for r in same["rows"]
    ]
    assert sum(int(r[4]) for r in table[1:]) == sum(1 for c in CROSSINGS if c[0] == "cam-junction")

    # Roles, and what is refused.
    for role, code in ((Role.operator, 200), (Role.admin, 200), (Role.responder, 403), (Role.ingest, 403)):
        headers = {"Authorization": f"Bearer {pipeline.token(role, 'someone')}"}
        assert client.get("/crossings", headers=headers).status_code == code, role
    assert httpx.get(f"http://127.0.0.1:{pipeline.console_port}/api/v1/history/crossings").status_code == 401
    for params in (
        {"group_by": "sensor"},
        {"direction": "sideways"},
        {"kind": "animal"},
        {"class": "Car!"},
        {"bucket": "15m"},
        {"from": window["to"], "to": window["from"]},
    ):
        assert client.get("/crossings", params=params).status_code == 422, params
    client.close()
