"""Partition counts are a setting (PANTAU_TOPIC_PARTITIONS), applied when a topic is created.

Unit tests: what the setting accepts and refuses, and that its rules match the topic contracts.
Integration tests, on the real stack: a pipeline whose readings and incidents topics are created
with more partitions than the built-in counts works end to end (every reading archived once, the
detector-state topic following the readings topic, a rule still raising an incident); topics that
exist beforehand are used as they are, never altered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import ValidationError

from alerting.schemas import ALERTS_TOPIC, TOPIC_ALERTS
from detectors.schemas import INCIDENTS_TOPIC, TOPIC_DETECTOR_STATE, TOPIC_INCIDENTS
from detectors.sensor_worker import state_topic_spec
from ingest.cameras.schemas import CAMERA_STATUS_TOPIC, FRAMES_TOPIC, TOPIC_CAMERA_STATUS
from ingest.schemas import READINGS_TOPIC, TOPIC_SENSOR_READINGS
from pantau import kafka as pantau_kafka
from pantau.cli import main as cli_main
from pantau.kafka import partition_for_key, topic_partitions
from pantau.settings import CommonSettings
from pantau.settingsdoc import collect_rows
from pantau.topics import (
    DLQ_TOPIC,
    FOLLOWS_READINGS_PATTERN,
    SINGLE_PARTITION_PATTERN,
    TOPIC_NAME_PATTERN,
    TopicSpec,
    topic_partitions_problem,
)
from tests.integration.test_ingest_and_dlq import smoke
from tests.pipeline import Pipeline

ALL_SPECS = [READINGS_TOPIC, FRAMES_TOPIC, CAMERA_STATUS_TOPIC, INCIDENTS_TOPIC, ALERTS_TOPIC, DLQ_TOPIC]
STATE_SPEC = state_topic_spec(READINGS_TOPIC.partitions)
CONFIG = "sensor_rules:\n  - {name: smoke-high, kind: smoke, above: 0.3, severity: critical}\n"


# --- the setting ---------------------------------------------------------------------------------


@pytest.mark.unit
def test_the_setting_is_read_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_TOPIC_PARTITIONS", '{"pantau.sensor-readings.v1": 16, "pantau.frames.v1": 8}')
    settings = CommonSettings()
    assert settings.topic_partitions == {"pantau.sensor-readings.v1": 16, "pantau.frames.v1": 8}
    assert topic_partitions(settings, READINGS_TOPIC) == 16
    assert topic_partitions(settings, FRAMES_TOPIC) == 8
    assert topic_partitions(settings, INCIDENTS_TOPIC) == INCIDENTS_TOPIC.partitions  # not configured
    monkeypatch.setenv("PANTAU_TOPIC_PARTITIONS", "")
    assert CommonSettings().topic_partitions == {}
    monkeypatch.delenv("PANTAU_TOPIC_PARTITIONS")
    assert CommonSettings().topic_partitions == {}
    # The keys are contract names: the prefix is added to them like to every topic.
    prefixed = CommonSettings(topic_prefix="city2.", topic_partitions={"pantau.incidents.v1": 6})
    assert prefixed.topic(INCIDENTS_TOPIC.name) == "city2.pantau.incidents.v1"
    assert topic_partitions(prefixed, INCIDENTS_TOPIC) == 6


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"t1.pantau.sensor-readings.v1": 8}', "'t1.pantau.sensor-readings.v1']: not a Pantau topic name"),
        ('{"sensor-readings": 8}', "'sensor-readings']: not a Pantau topic name"),
        ('{"pantau.incidents.v1": 0}', "'pantau.incidents.v1']: a partition count must be between 1 and 1024, not 0"),
        ('{"pantau.incidents.v1": -3}', "between 1 and 1024, not -3"),
        ('{"pantau.frames.v1": 5000}', "'pantau.frames.v1']: a partition count must be between 1 and 1024"),
        ('{"pantau.detector-state.v1": 8}', "'pantau.detector-state.v1']: the detector-state topic is always"),
        ('{"pantau.alerts.v1": 4}', "'pantau.alerts.v1']: this topic must have 1 partition"),
        ('{"pantau.camera-status.v1": 2}', "'pantau.camera-status.v1']: this topic must have 1 partition"),
        ('{"pantau.incidents.v1": "many"}', "valid integer"),
        ('{"pantau.incidents.v1": 2.5}', "valid integer"),
        ('["pantau.incidents.v1"]', "valid dictionary"),
        ('{"pantau.incidents.v1": 8', "PANTAU_TOPIC_PARTITIONS is not JSON"),
    ],
)
def test_a_bad_value_fails_at_start_up_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("PANTAU_TOPIC_PARTITIONS", value)
    with pytest.raises(ValidationError) as caught:
        CommonSettings()
    assert expected in str(caught.value)


@pytest.mark.unit
def test_a_service_refuses_to_start_with_a_bad_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PANTAU_TOKEN_SECRET", "k" * 20 + "x7Qp2Zr9Lm4Tv8Wb")
    monkeypatch.setenv("PANTAU_TOPIC_PARTITIONS", '{"pantau.sensor-readings.v1": 0}')
    with pytest.raises(SystemExit) as exited:
        cli_main(["run", "archiver"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "pantau: invalid settings" in err
    assert "PANTAU_TOPIC_PARTITIONS['pantau.sensor-readings.v1']" in err


@pytest.mark.unit
def test_the_secret_check_still_works_next_to_the_dict(caplog: pytest.LogCaptureFixture) -> None:
    partitions = {"pantau.sensor-readings.v1": 8}
    with pytest.raises(ValidationError, match="PANTAU_TOKEN_SECRET is a placeholder"):
        CommonSettings(token_secret="change-me-please", topic_partitions=partitions)
    with caplog.at_level(logging.WARNING, logger="pantau.settings"):
        settings = CommonSettings(
            token_secret="change-me-please",
            topic_partitions=partitions,
            dev_mode=True,
        )
    assert settings.topic_partitions == partitions
    assert "placeholder: accepted in dev mode only" in caplog.text


@pytest.mark.unit
def test_the_settings_reference_lists_the_setting() -> None:
    rows = {row.env: row for row in collect_rows()}
    row = rows["PANTAU_TOPIC_PARTITIONS"]
    assert row.type == "dict[str, int]"
    assert row.default == "`{}`"
    assert "pantau.sensor-readings.v1" in row.description
    assert len(row.services) == len({s for r in rows.values() for s in r.services})  # every service


# --- the rules match the contracts -----------------------------------------------------------------


@pytest.mark.unit
def test_every_contract_topic_is_a_well_formed_name_and_its_own_count_is_accepted() -> None:
    for spec in ALL_SPECS:
        assert TOPIC_NAME_PATTERN.match(spec.name), spec.name
        assert topic_partitions_problem(spec.name, spec.partitions) is None, spec.name
    assert TOPIC_NAME_PATTERN.match(STATE_SPEC.name)


@pytest.mark.unit
def test_the_special_topics_are_the_contracts_ones() -> None:
    names = [spec.name for spec in [*ALL_SPECS, STATE_SPEC]]
    assert [n for n in names if FOLLOWS_READINGS_PATTERN.match(n)] == [TOPIC_DETECTOR_STATE]
    assert sorted(n for n in names if SINGLE_PARTITION_PATTERN.match(n)) == sorted([TOPIC_ALERTS, TOPIC_CAMERA_STATUS])
    assert ALERTS_TOPIC.partitions == CAMERA_STATUS_TOPIC.partitions == 1
    # The keyed topics workers scale on can be configured.
    for name in (TOPIC_SENSOR_READINGS, TOPIC_INCIDENTS, FRAMES_TOPIC.name, DLQ_TOPIC.name):
        assert topic_partitions_problem(name, 64) is None


# --- ensure_topics with a fake admin ----------------------------------------------------------------


class FakeAdmin:
    """The calls ensure_topics makes, on a dict of topic name -> partition count."""

    def __init__(self, topics: dict[str, int]) -> None:
        self.topics = topics
        self.created: dict[str, int] = {}

    def list_topics(self) -> list[str]:
        return list(self.topics)

    def create_topics(self, request: dict[str, dict[str, Any]], **_: Any) -> None:
        for name, spec in request.items():
            self.topics[name] = self.created[name] = spec["num_partitions"]

    def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        return [{"name": n, "error_code": 0, "partitions": [{}] * self.topics[n]} for n in names]

    def wait_for_topics(self, names: list[str], **_: Any) -> None:
        assert set(names) <= set(self.topics)

    def close(self) -> None:
        pass


@pytest.fixture
def fake_admin(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, int]], FakeAdmin]]:
    monkeypatch.setattr(pantau_kafka, "_warned_topics", set())

    def install(topics: dict[str, int]) -> FakeAdmin:
        admin = FakeAdmin(topics)
        monkeypatch.setattr(pantau_kafka, "KafkaAdminClient", lambda **_: admin)
        return admin

    yield install


@pytest.mark.unit
def test_ensure_topics_creates_with_the_configured_count_and_never_alters(
    fake_admin: Callable[[dict[str, int]], FakeAdmin], caplog: pytest.LogCaptureFixture
) -> None:
    settings = CommonSettings(
        topic_prefix="p.",
        topic_partitions={"pantau.sensor-readings.v1": 8, "pantau.incidents.v1": 6, "pantau.frames.v1": 2},
    )
    admin = fake_admin({"p.pantau.frames.v1": 4})
    specs: list[TopicSpec] = [READINGS_TOPIC, INCIDENTS_TOPIC, DLQ_TOPIC, FRAMES_TOPIC]
    with caplog.at_level(logging.WARNING, logger="pantau.kafka"):
        pantau_kafka.ensure_topics(settings, specs)
    assert admin.created == {"p.pantau.sensor-readings.v1": 8, "p.pantau.incidents.v1": 6, "p.pantau.dlq.v1": 1}
    assert admin.topics["p.pantau.frames.v1"] == 4  # more than configured: used as it is, no warning
    assert not caplog.records


@pytest.mark.unit
def test_an_existing_topic_with_fewer_partitions_is_kept_with_one_warning(
    fake_admin: Callable[[dict[str, int]], FakeAdmin], caplog: pytest.LogCaptureFixture
) -> None:
    settings = CommonSettings(topic_partitions={"pantau.sensor-readings.v1": 16})
    admin = fake_admin({"pantau.sensor-readings.v1": 4})
    with caplog.at_level(logging.WARNING, logger="pantau.kafka"):
        pantau_kafka.ensure_topics(settings, [READINGS_TOPIC])
        pantau_kafka.ensure_topics(settings, [READINGS_TOPIC])  # a reload: no second warning
    assert admin.created == {} and admin.topics == {"pantau.sensor-readings.v1": 4}
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "pantau.sensor-readings.v1 has 4 partitions, fewer than the 16" in message
    assert "kafka-topics.sh --alter --topic pantau.sensor-readings.v1 --partitions 16" in message
    assert "detector-state topic to the same count" in message


@pytest.mark.unit
def test_a_configured_name_nobody_creates_gets_a_warning(
    fake_admin: Callable[[dict[str, int]], FakeAdmin], caplog: pytest.LogCaptureFixture
) -> None:
    settings = CommonSettings(topic_partitions={"pantau.sensor-reading.v1": 8, "pantau.frames.v1": 8})
    fake_admin({"pantau.frames.v1": 8})  # created by another service: not a typo
    with caplog.at_level(logging.WARNING, logger="pantau.kafka"):
        pantau_kafka.ensure_topics(settings, [READINGS_TOPIC])
    assert [r.getMessage() for r in caplog.records] == [
        "PANTAU_TOPIC_PARTITIONS names pantau.sensor-reading.v1, which this service does not create and Kafka "
        "does not have (yet): check the name against the topics in docs/operations.md (Partitions)"
    ]


# --- on the real stack ------------------------------------------------------------------------------


def partition_counts(pipeline: Pipeline, *names: str) -> dict[str, int]:
    consumer = KafkaConsumer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"])
    try:
        return {name: len(consumer.partitions_for_topic(pipeline.topic(name)) or ()) for name in names}
    finally:
        consumer.close()


def produce_readings(pipeline: Pipeline, sensors: list[str], per_sensor: int, start: datetime) -> set[int]:
    """Quiet readings (below every threshold) of each sensor, keyed by sensor id; the partitions used."""
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all", linger_ms=5)
    topic = pipeline.topic(TOPIC_SENSOR_READINGS)
    futures = [
        (sensor, producer.send(topic, key=sensor.encode(), value=orjson.dumps(smoke(0.05, ts, sensor))))
        for ts in (start + timedelta(seconds=i) for i in range(per_sensor))
        for sensor in sensors
    ]
    producer.flush(timeout=30)
    partitions = {sensor: future.get(timeout=10).partition for sensor, future in futures}
    producer.close()
    return set(partitions.values())


def raise_smoke(pipeline: Pipeline, sensor: str, ts: datetime) -> int:
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    sent = producer.send(
        pipeline.topic(TOPIC_SENSOR_READINGS), key=sensor.encode(), value=orjson.dumps(smoke(0.9, ts, sensor))
    ).get(timeout=10)
    producer.close()
    return int(sent.partition)


def wait_incident(pipeline: Pipeline, sensor: str, timeout_s: float = 60) -> int:
    where = f"type = 'smoke_high' AND phase = 'raised' AND source = '{sensor}'"
    return pipeline.wait_count("incidents", 1, where, timeout_s=timeout_s)


def incident_partitions(pipeline: Pipeline, partitions: int) -> dict[str, int]:
    """Source -> partition of every incident on the incidents topic."""
    consumer = KafkaConsumer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], consumer_timeout_ms=2000)
    topic = pipeline.topic(TOPIC_INCIDENTS)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    found = {orjson.loads(rec.value)["source"]: rec.partition for rec in consumer}
    consumer.close()
    return found


@pytest.mark.integration
def test_configured_counts_create_the_topics_and_the_pipeline_uses_every_partition(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory(
        CONFIG,
        services=("archiver", "detectors"),
        PANTAU_TOPIC_PARTITIONS='{"pantau.sensor-readings.v1": 8, "pantau.incidents.v1": 6}',
    )
    counts = partition_counts(pipeline, TOPIC_SENSOR_READINGS, TOPIC_INCIDENTS, TOPIC_DETECTOR_STATE)
    assert counts == {TOPIC_SENSOR_READINGS: 8, TOPIC_INCIDENTS: 6, TOPIC_DETECTOR_STATE: 8}

    sensors = [f"smk-{i:03d}" for i in range(40)]
    start = datetime.now(UTC) - timedelta(minutes=5)
    used = produce_readings(pipeline, sensors, per_sensor=5, start=start)
    assert used == {partition_for_key(s.encode(), 8) for s in sensors}
    assert len(used) >= 6, used  # keys spread over (nearly) all 8 partitions

    # A sensor on a partition beyond the built-in 4: its rule still fires.
    loud = next(s for s in sensors if partition_for_key(s.encode(), 8) >= 4)
    assert raise_smoke(pipeline, loud, start + timedelta(seconds=30)) >= 4
    expected = len(sensors) * 5 + 1
    assert pipeline.wait_count("sensor_readings", expected) == expected
    assert wait_incident(pipeline, loud) == 1
    time.sleep(1.0)  # anything delivered twice would have been written by now
    assert pipeline.count("sensor_readings") == expected
    with pipeline.db() as conn:
        row = conn.execute("SELECT count(DISTINCT (sensor_id, ts)), count(DISTINCT sensor_id) FROM sensor_readings")
        assert row.fetchone() == (expected, len(sensors))
    assert pipeline.count("incidents", "type = 'smoke_high' AND phase = 'raised'") == 1
    # The incident went to the partition its key (the source) hashes to among the 6.
    assert incident_partitions(pipeline, 6) == {loud: partition_for_key(loud.encode(), 6)}
    assert "fewer than" not in pipeline.log_tail("detectors", 400)


@pytest.mark.integration
def test_topics_created_beforehand_are_used_as_they_are(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(
        CONFIG,
        services=(),
        PANTAU_TOPIC_PARTITIONS='{"pantau.sensor-readings.v1": 8, "pantau.incidents.v1": 3}',
    )
    admin = KafkaAdminClient(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"])
    try:
        admin.create_topics(
            {
                pipeline.topic(TOPIC_INCIDENTS): {"num_partitions": 5, "replication_factor": -1},  # more
                pipeline.topic(TOPIC_SENSOR_READINGS): {"num_partitions": 2, "replication_factor": -1},  # fewer
            },
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    for name in ("archiver", "detectors", "alerting"):
        pipeline.start(name)
    counts = partition_counts(pipeline, TOPIC_SENSOR_READINGS, TOPIC_INCIDENTS, TOPIC_DETECTOR_STATE)
    # Nothing altered; the detector state follows the readings topic as it is.
    assert counts == {TOPIC_SENSOR_READINGS: 2, TOPIC_INCIDENTS: 5, TOPIC_DETECTOR_STATE: 2}
    warning = "pantau.sensor-readings.v1 has 2 partitions, fewer than the 8 of PANTAU_TOPIC_PARTITIONS"
    assert warning in pipeline.log_tail("detectors", 400)
    assert warning in pipeline.log_tail("archiver", 400)
    assert "incidents.v1 has" not in pipeline.log_tail("archiver", 400)  # 5 > 3: no warning

    # Incidents keyed to partitions beyond the built-in 4 of 5 are archived and alerted.
    sources = [f"smk-{i:03d}" for i in range(40)]
    loud = [s for s in sources if partition_for_key(s.encode(), 5) == 4][:1] + [
        s for s in sources if partition_for_key(s.encode(), 5) == 0
    ][:1]
    ts = datetime.now(UTC) - timedelta(seconds=30)
    for sensor in loud:
        raise_smoke(pipeline, sensor, ts)
    for sensor in loud:
        assert wait_incident(pipeline, sensor) == 1
    deadline = time.monotonic() + 60
    while pipeline.count("alerts", "type = 'smoke_high'") < len(loud) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pipeline.count("alerts", "type = 'smoke_high'") == len(loud)
    assert pipeline.wait_count("sensor_readings", len(loud)) == len(loud)
