"""The MQTT bridge against a real Mosquitto broker and the local Kafka: readings, DLQ, rate limit, reconnect."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from kafka import KafkaConsumer
from kafka.errors import KafkaTimeoutError
from kafka.future import Future
from paho.mqtt.enums import CallbackAPIVersion

from ingest.mqtt.bridge import MqttBridge, make_bridge_producer
from ingest.mqtt.config import MqttConfig
from ingest.mqtt.settings import Settings
from ingest.schemas import READINGS_TOPIC, TOPIC_SENSOR_READINGS
from pantau.dlq import TOPIC_DLQ
from pantau.kafka import ensure_topics
from pantau.topics import DLQ_TOPIC
from tests.ingest.conftest import Mosquitto
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

MAPPINGS: list[dict[str, Any]] = [
    {"pattern": "city/air/+/pm25", "sensor_id_from": "topic[2]", "kind": "pm25", "value": "data.pm25", "unit": "ug/m3"},
    {"pattern": "river/+/level", "sensor_id_from": "topic[1]", "kind": "water_level", "unit": "m"},
]

BridgeStarter = Callable[..., MqttBridge]


@pytest.fixture
def bridge_factory() -> Iterator[Callable[..., MqttBridge]]:
    running: list[tuple[MqttBridge, threading.Event, threading.Thread]] = []

    def start(pipeline: Pipeline | None, broker: Mosquitto, producer: Any = None, **overrides: Any) -> MqttBridge:
        if pipeline is None:
            settings = Settings()
        else:
            settings = Settings(kafka_bootstrap=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], topic_prefix=pipeline.prefix)
            ensure_topics(settings, [READINGS_TOPIC, DLQ_TOPIC])
        config = MqttConfig.model_validate(
            {
                "port": broker.port,
                "client_id": f"bridge-{uuid.uuid4().hex[:8]}",
                "mappings": MAPPINGS,
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 1.0,
                **overrides,
            }
        )
        bridge = MqttBridge(settings, config, producer or make_bridge_producer(settings))
        stop = threading.Event()
        thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
        thread.start()
        running.append((bridge, stop, thread))
        assert bridge.subscribed.wait(10), "the bridge did not subscribe"
        return bridge

    yield start
    for bridge, stop, thread in running:
        stop.set()
        thread.join(timeout=30)
        bridge.producer.close(timeout=5)
        assert not thread.is_alive()


def publish(broker: Mosquitto, messages: list[tuple[str, bytes]], qos: int = 1) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def consume(pipeline: Pipeline, topic: str, expected: int, timeout_s: float = 60) -> list[tuple[bytes, Any]]:
    consumer = KafkaConsumer(
        pipeline.topic(topic),
        bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=500,
    )
    records: list[tuple[bytes, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            records.extend((rec.key, orjson.loads(rec.value)) for rec in consumer)
    finally:
        consumer.close()
    return records


def test_readings_are_produced_and_bad_payloads_dead_lettered(
    pipeline_factory: Callable[..., Pipeline], mosquitto_factory: Callable[[], Mosquitto], bridge_factory: BridgeStarter
) -> None:
    pipeline = pipeline_factory(services=())
    broker = mosquitto_factory()
    bridge_factory(pipeline, broker)
    publish(
        broker,
        [
            ("city/air/AQ-1/pm25", b'{"data": {"pm25": 12.5}}'),
            ("river/R-9/level", b"3.25"),
            ("city/air/AQ-1/pm25", b"not json"),
            ("river/R-9/level", b'{"level": 3}'),
            ("unmapped/topic", b"1"),  # not subscribed: never reaches the bridge
        ],
    )
    readings = consume(pipeline, TOPIC_SENSOR_READINGS, 2)
    assert sorted((key, r["sensor_id"], r["kind"], r["value"], r["unit"]) for key, r in readings) == [
        (b"AQ-1", "AQ-1", "pm25", 12.5, "µg/m³"),
        (b"R-9", "R-9", "water_level", 3.25, "m"),
    ]
    letters = sorted((r for _, r in consume(pipeline, TOPIC_DLQ, 2)), key=lambda r: str(r["topic"]))
    assert [(r["stage"], r["topic"]) for r in letters] == [
        ("ingest.mqtt", "mqtt:city/air/AQ-1/pm25"),
        ("ingest.mqtt", "mqtt:river/R-9/level"),
    ]
    assert "neither JSON nor a plain number" in letters[0]["reason"]
    assert base64.b64decode(letters[0]["value_b64"]) == b"not json"
    assert letters[1]["reason"] == "mapping expects a plain-number payload"


def test_a_flooding_sensor_is_rate_limited_without_starving_others(
    pipeline_factory: Callable[..., Pipeline], mosquitto_factory: Callable[[], Mosquitto], bridge_factory: BridgeStarter
) -> None:
    pipeline = pipeline_factory(services=())
    broker = mosquitto_factory()
    bridge_factory(pipeline, broker, rate_limit_per_s=2, rate_burst=5)
    flood = [("city/air/FLOOD/pm25", b'{"data": {"pm25": %d}}' % i) for i in range(100)]
    quiet = [("river/QUIET/level", b"%d" % i) for i in range(5)]
    # Interleaved: the quiet sensor's readings sit between the flood's, on the same connection.
    publish(broker, flood[:50] + quiet + flood[50:])
    letters = consume(pipeline, TOPIC_DLQ, 90)
    readings = consume(pipeline, TOPIC_SENSOR_READINGS, 5 + 5, timeout_s=15)
    by_sensor: dict[str, int] = {}
    for key, _ in readings:
        by_sensor[key.decode()] = by_sensor.get(key.decode(), 0) + 1
    assert by_sensor["QUIET"] == 5
    assert 5 <= by_sensor["FLOOD"] <= 10  # the burst, and at most a few refilled tokens
    assert all(r["reason"] == "rate limited: sensor FLOOD" for _, r in letters)
    assert by_sensor["FLOOD"] + len(letters) == 100


def test_bridge_reconnects_after_a_broker_restart(
    pipeline_factory: Callable[..., Pipeline], mosquitto_factory: Callable[[], Mosquitto], bridge_factory: BridgeStarter
) -> None:
    pipeline = pipeline_factory(services=())
    broker = mosquitto_factory()
    bridge = bridge_factory(pipeline, broker)
    publish(broker, [("river/R-1/level", b"1.0")])
    assert len(consume(pipeline, TOPIC_SENSOR_READINGS, 1)) == 1
    broker.restart()
    deadline = time.monotonic() + 60
    while not (bridge.connections >= 2 and bridge.subscribed.is_set()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bridge.connections >= 2 and bridge.subscribed.is_set(), "the bridge did not reconnect"
    publish(broker, [("river/R-1/level", b"%d" % i) for i in range(2, 12)], qos=1)
    readings = consume(pipeline, TOPIC_SENSOR_READINGS, 11)
    assert sorted(r["value"] for _, r in readings) == [1.0, *[float(i) for i in range(2, 12)]]


def test_the_service_idles_ready_without_an_mqtt_section(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(services=())
    pipeline.start("mqtt-bridge", timeout_s=30)
    assert "idle" in pipeline.log_tail("mqtt-bridge")
    pipeline.kill("mqtt-bridge", 15)


def test_the_service_reads_its_mqtt_section_from_the_config_file(
    pipeline_factory: Callable[..., Pipeline], mosquitto_factory: Callable[[], Mosquitto]
) -> None:
    broker = mosquitto_factory()
    config = f"""
mqtt:
  port: {broker.port}
  client_id: pantau-bridge-{uuid.uuid4().hex[:8]}
  mappings:
    - {{pattern: "river/+/level", sensor_id_from: "topic[1]", kind: water_level, unit: m}}
"""
    pipeline = pipeline_factory(config, services=())
    pipeline.start("mqtt-bridge", timeout_s=30)
    deadline = time.monotonic() + 60
    while "connected to MQTT" not in pipeline.log_tail("mqtt-bridge", 50):
        assert time.monotonic() < deadline, pipeline.log_tail("mqtt-bridge")
        time.sleep(0.2)
    time.sleep(1.0)  # the SUBACK follows the connection
    publish(broker, [("river/R-7/level", b"2.75")])
    readings = consume(pipeline, TOPIC_SENSOR_READINGS, 1)
    assert [(key, r["sensor_id"], r["value"]) for key, r in readings] == [(b"R-7", "R-7", 2.75)]
    pipeline.kill("mqtt-bridge", 15)


class FlakyProducer:
    """Stands in for a KafkaProducer whose first ``failures`` sends are never acknowledged (Kafka down)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.records: list[tuple[str, bytes, bytes]] = []

    def send(self, topic: str, key: bytes, value: bytes) -> Future:
        future = Future()
        if self.failures > 0:
            self.failures -= 1
            future.failure(KafkaTimeoutError("Kafka is down"))
        else:
            self.records.append((topic, key, value))
            future.success(None)
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


def test_a_reading_kafka_did_not_acknowledge_is_redelivered_by_the_broker(
    mosquitto_factory: Callable[[], Mosquitto], bridge_factory: BridgeStarter
) -> None:
    broker = mosquitto_factory()
    producer = FlakyProducer(failures=2)
    bridge_factory(None, broker, producer=producer)
    publish(broker, [("river/R-5/level", b"4.5")], qos=1)
    deadline = time.monotonic() + 60
    while not producer.records and time.monotonic() < deadline:
        time.sleep(0.05)
    # Not acknowledged twice, so the broker sent it again after each dropped session; the third try stuck.
    assert producer.failures == 0
    assert [(key, orjson.loads(value)["value"]) for _, key, value in producer.records] == [(b"R-5", 4.5)]
