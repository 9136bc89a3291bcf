"""The pure MQTT → reading mapping: topic filters, JSON paths, times, and every rejection's reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from ingest.exceptions import MappingError
from ingest.mqtt.config import Mapping, MqttConfig, MqttSection
from ingest.mqtt.mapping import extract_path, map_message, parse_ts, topic_matches
from ingest.mqtt.ratelimit import RateLimiter

pytestmark = pytest.mark.unit
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

AIR = Mapping(
    pattern="city/air/+/pm25",
    sensor_id_from="topic[2]",
    kind="pm25",
    value="data.pm25",
    unit="ug/m3",
    ts_from="ts",
)
GENERIC = Mapping(
    pattern="city/generic/#", sensor_id_from="device.id", kind_from="device.kind", value="v", unit_from="u"
)
LEVEL = Mapping(pattern="river/+/level", sensor_id_from="topic[1]", kind="water_level", unit="m")
MAPPINGS = [AIR, GENERIC, LEVEL]


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("a/b/c", "a/b/c", True),
        ("a/+/c", "a/x/c", True),
        ("a/+/c", "a/x/y/c", False),
        ("a/+", "a/", True),
        ("a/#", "a", True),
        ("a/#", "a/b/c/d", True),
        ("#", "a/b", True),
        ("+/+", "a/b", True),
        ("+", "a/b", False),
        ("a/b", "a/b/c", False),
        ("#", "$SYS/broker/uptime", False),
        ("+/broker", "$SYS/broker", False),
        ("$SYS/#", "$SYS/broker", True),
    ],
)
def test_topic_matches(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


@pytest.mark.parametrize("pattern", ["a/b#", "a/#/c", "a/b+/c", ""])
def test_invalid_topic_filters_are_config_errors(pattern: str) -> None:
    with pytest.raises(ValidationError):
        Mapping(pattern=pattern, sensor_id_from="topic[0]", kind="pm25")


def test_config_needs_exactly_one_kind_and_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="exactly one of kind and kind_from"):
        Mapping(pattern="a", sensor_id_from="topic[0]")
    with pytest.raises(ValidationError, match="Extra inputs"):
        MqttSection.model_validate({"mqtt": {"mappings": [], "hots": "x"}})
    section = MqttSection.model_validate(
        {"mqtt": {"mappings": [{"pattern": "a/+", "sensor_id_from": "topic[1]", "kind": "smoke"}]}}
    )
    assert isinstance(section.mqtt, MqttConfig) and section.mqtt.qos == 1


def test_extract_path() -> None:
    data = {"data": {"pm25": 12.5, "values": [1, {"x": 2}]}}
    assert extract_path(data, "data.pm25") == 12.5
    assert extract_path(data, "data.values.1.x") == 2
    with pytest.raises(MappingError, match=r"no 'data\.pm10'"):
        extract_path(data, "data.pm10")
    with pytest.raises(MappingError, match="list of 2"):
        extract_path(data, "data.values.5")
    with pytest.raises(MappingError, match=r"data\.pm25 is not an object"):
        extract_path(data, "data.pm25.x")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-05-01T10:00:00Z", datetime(2026, 5, 1, 10, tzinfo=UTC)),
        ("2026-05-01T17:00:00+07:00", datetime(2026, 5, 1, 10, tzinfo=UTC)),
        (1777629600, datetime(2026, 5, 1, 10, tzinfo=UTC)),
        (1777629600.5, datetime(2026, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        (1777629600000, datetime(2026, 5, 1, 10, tzinfo=UTC)),
        ("1777629600000", datetime(2026, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_parse_ts(raw: object, expected: datetime) -> None:
    ts = parse_ts(raw)
    assert ts == expected
    assert ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2026-05-01T10:00:00", "no timezone offset"),
        ("yesterday", "neither ISO-8601 nor epoch"),
        (True, "not a time"),
        ({"t": 1}, "not a string or a number"),
        (1e300, "out of range"),
    ],
)
def test_bad_ts(raw: object, reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        parse_ts(raw)


def test_json_payload_with_topic_sensor_id_and_payload_ts() -> None:
    payload = b'{"data": {"pm25": 35.2}, "ts": "2026-05-01T10:00:00+00:00"}'
    reading = map_message(MAPPINGS, "city/air/AQ-7/pm25", payload, NOW)
    assert (reading.sensor_id, reading.kind, reading.value, reading.unit) == ("AQ-7", "pm25", 35.2, "µg/m³")
    assert reading.ts == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert reading.key() == b"AQ-7"


def test_sensor_id_and_kind_from_payload_and_receive_time() -> None:
    payload = b'{"device": {"id": "T-1", "kind": "temperature"}, "v": 31, "u": "C"}'
    received = datetime(2026, 5, 1, 19, tzinfo=timezone(timedelta(hours=7)))
    reading = map_message(MAPPINGS, "city/generic/x/y", payload, received)
    assert (reading.sensor_id, reading.kind, reading.value) == ("T-1", "temperature", 31.0)
    assert reading.ts == datetime(2026, 5, 1, 12, tzinfo=UTC) and reading.ts.utcoffset() == timedelta(0)


def test_plain_number_payload_and_fixed_location() -> None:
    mapping = LEVEL.model_copy(update={"location": {"lat": -6.2, "lon": 106.8, "district": "North"}})
    reading = map_message([mapping], "river/R-2/level", b" 2.75\n", NOW)
    assert (reading.sensor_id, reading.kind, reading.value, reading.unit, reading.ts) == (
        "R-2",
        "water_level",
        2.75,
        "m",
        NOW,
    )
    assert reading.location is not None and reading.location.district == "North"


def test_location_from_payload() -> None:
    mapping = AIR.model_copy(update={"location_from": "loc", "ts_from": None})
    reading = map_message([mapping], "city/air/A/pm25", b'{"data": {"pm25": 1}, "loc": {"lat": 1, "lon": 2}}', NOW)
    assert reading.location is not None and (reading.location.lat, reading.location.lon) == (1, 2)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("city/other/x", b"1", "no mapping matches topic 'city/other/x'"),
        ("river/R-2/level", b"", "empty payload"),
        ("river/R-2/level", b"\xff\xfe", "not UTF-8"),
        ("river/R-2/level", b"high", "neither JSON nor a plain number"),
        ("river/R-2/level", b'{"v": 1}', "expects a plain-number payload"),
        ("river/R-2/level", b"true", "expects a plain-number payload"),
        ("city/air/A/pm25", b"12", "payload is not a JSON object"),
        ("city/air/A/pm25", b'{"data": {}}', "payload has no 'data.pm25'"),
        ("city/air/A/pm25", b'{"data": {"pm25": "12"}, "ts": 1777629600}', "value '12' is not a number"),
        ("city/air/A/pm25", b'{"data": {"pm25": 12}}', "payload has no 'ts'"),
        ("city/air/A/pm25", b'{"data": {"pm25": 12}, "ts": "soon"}', "neither ISO-8601"),
        ("city/air/A/pm25", b'{"data": {"pm25": -3}, "ts": 1777629600}', "invalid reading: .*below 0"),
        ("city/air/A/pm25", b'{"data": {"pm25": 3}, "ts": 100}', "invalid reading: ts: .*2000-2200"),
        ("city/air/A!/pm25", b'{"data": {"pm25": 3}, "ts": 1777629600}', "invalid reading: sensor_id"),
        ("city/generic/a", b'{"device": {"id": 5.5, "kind": "x"}, "v": 1, "u": ""}', "sensor_id 5.5 is not a string"),
        ("city/generic/a", b'{"device": {"id": "D", "kind": "Bad Kind"}, "v": 1, "u": ""}', "invalid reading: kind"),
        ("city/generic/a", b"[1, 2]", "payload has no 'v' \\(list of 2\\)"),
        ("river/R-2/level", b"1e400", "neither JSON nor a plain number"),
    ],
)
def test_bad_payloads_give_a_clear_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        map_message(MAPPINGS, topic, payload, NOW)


def test_topic_segment_out_of_range() -> None:
    mapping = Mapping(pattern="#", sensor_id_from="topic[5]", kind="smoke")
    with pytest.raises(MappingError, match="has no level 5"):
        map_message([mapping], "a/b", b"0.5", NOW)


def test_rate_limiter_is_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.allow("flood") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow("quiet")
    now[0] += 1.0  # two tokens back
    assert [limiter.allow("flood") for _ in range(3)] == [True, True, False]
