"""The MQTT → Kafka bridge service (``pantau run mqtt-bridge``).

Delivery: messages are received at the configured QoS (1 by default) with paho's ``manual_ack``. A
message is acknowledged to the MQTT broker only once Kafka has acknowledged what it became (the reading,
or its DLQ entry). If Kafka fails to acknowledge (down, or slower than ``mqtt_delivery_timeout_s``) the
bridge drops its MQTT connection without acknowledging and reconnects with a persistent session
(``clean_session=False``): the broker then redelivers every unacknowledged message. While Kafka is down
the broker stops sending once its in-flight window is full, so nothing is read that cannot be stored.
This is at-least-once: a redelivered reading may be produced twice, which the archive's
``(sensor_id, ts)`` identity absorbs.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from kafka import KafkaProducer
from kafka.errors import KafkaError as _KafkaError
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ingest.exceptions import MappingError, MqttError
from ingest.mqtt.config import MqttConfig, MqttSection
from ingest.mqtt.mapping import map_message
from ingest.mqtt.ratelimit import RateLimiter
from ingest.mqtt.settings import Settings
from ingest.schemas import READINGS_TOPIC, TOPIC_SENSOR_READINGS, SensorReading
from pantau.config import load_config_file, parse_section
from pantau.dlq import DeadLetter
from pantau.kafka import DeadLetterSink, dumps, ensure_topics, make_producer
from pantau.logs import configure_logging
from pantau.metrics import READINGS_ACCEPTED, start_ops_server
from pantau.timeutil import ahead_of_clock, utcnow
from pantau.topics import DLQ_TOPIC
from pantau.worker import install_signal_handlers

log = logging.getLogger(__name__)
STAGE = "ingest.mqtt"


class MqttBridge:
    """Subscribes to the mapped topics and produces each message as a reading or a DLQ entry.

    :meth:`run` owns the MQTT network loop (connect, reconnect with backoff, resubscribe); Kafka's
    delivery callbacks acknowledge messages to the broker from the producer's thread.
    """

    def __init__(self, settings: Settings, config: MqttConfig, producer: KafkaProducer) -> None:
        self.settings = settings
        self.config = config
        self.producer = producer
        self.readings_topic = settings.topic(TOPIC_SENSOR_READINGS)
        self.dead_letters = DeadLetterSink(settings, producer, STAGE)
        self.limiter = RateLimiter(config.rate_limit_per_s, config.rate_burst)
        self.subscribed = threading.Event()
        self.connections = 0  # successful (re)connections, for logs and tests
        self.produced = 0
        self._generation = 0  # bumped on every disconnect: late Kafka acks of an old session are dropped
        self._lock = threading.Lock()
        self._kafka_failed = threading.Event()
        self._connected = False
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        password = self.settings.mqtt_password or self.config.password
        if self.config.username is not None:
            client.username_pw_set(self.config.username, password.get_secret_value() if password else None)
        tls = self.config.tls
        if tls is not None:
            try:
                client.tls_set(
                    ca_certs=str(tls.ca_file) if tls.ca_file else None,
                    certfile=str(tls.cert_file) if tls.cert_file else None,
                    keyfile=str(tls.key_file) if tls.key_file else None,
                    tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise MqttError(f"cannot set up TLS to {self.config.host}:{self.config.port}: {exc}") from exc
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    # --- MQTT callbacks (run in the thread calling client.loop, i.e. run()) ---

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s:%d refused the connection: %s", self.config.host, self.config.port, reason)
            return
        self._connected = True
        self.connections += 1
        patterns: list[tuple[str, int]] = [(m.pattern, self.config.qos) for m in self.config.mappings]
        # Subscribe on every connect: a restarted broker without persistence has forgotten the session.
        log.info("connected to MQTT %s:%d, subscribing %d patterns", self.config.host, self.config.port, len(patterns))
        if patterns:
            client.subscribe(patterns)
        else:
            self.subscribed.set()

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[Any], _props: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("MQTT broker refused subscriptions: %s", ", ".join(refused))
        self.subscribed.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._lost(f"disconnected: {reason}")

    def _lost(self, why: str) -> None:
        with self._lock:
            if self._connected:
                log.warning("MQTT connection lost (%s)", why)
            self._connected = False
            self._generation += 1
            self.subscribed.clear()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        # paho would let an exception escape from loop(). A bug must not become a poison message that
        # is redelivered forever: dead-letter it (acknowledged once the DLQ has it).
        try:
            self.handle(message.topic, bytes(message.payload), message.mid, message.qos)
        except Exception as exc:
            log.exception("unexpected error handling a message on %s", message.topic)
            self._dead_letter(message.topic, bytes(message.payload), f"bridge error: {exc!r}", message.mid, message.qos)

    # --- message handling ---

    def handle(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        """Map one message and produce it; the broker gets its ack once Kafka has the result."""
        now = utcnow()
        try:
            reading = map_message(self.config.mappings, topic, payload, now)
        except MappingError as exc:
            self._dead_letter(topic, payload, str(exc), mid, qos)
            return
        ahead = ahead_of_clock(reading.ts, now, self.settings.max_clock_skew_s)
        if ahead is not None:
            self._dead_letter(topic, payload, f"sensor reading from the future: {ahead}", mid, qos)
            return
        if not self.limiter.allow(reading.sensor_id):
            self._dead_letter(topic, payload, f"rate limited: sensor {reading.sensor_id}", mid, qos)
            return
        self._produce_reading(reading, mid, qos)

    def _produce_reading(self, reading: SensorReading, mid: int, qos: int) -> None:
        self._send(self.readings_topic, reading.key(), dumps(reading), mid, qos)
        self.produced += 1
        READINGS_ACCEPTED.labels("mqtt").inc()
        log.debug("reading of %s sent to Kafka", reading.sensor_id, extra={"correlation_id": reading.correlation_id})

    def _dead_letter(self, topic: str, payload: bytes, reason: str, mid: int, qos: int) -> None:
        limit = self.config.max_dlq_payload_bytes
        if len(payload) > limit:
            reason = f"{reason} (payload truncated to {limit} of {len(payload)} bytes)"
        letter = DeadLetter.build(reason=reason, stage=STAGE, value=payload[:limit], topic=f"mqtt:{topic}")
        log.warning("dead-lettered (%s): %s", STAGE, letter.reason[:300])
        # Not DeadLetterSink.send: it discards the send future, and the MQTT ack needs it.
        self._send(self.dead_letters.topic, STAGE.encode(), dumps(letter), mid, qos)
        self.dead_letters.count += 1

    def _send(self, topic: str, key: bytes, value: bytes, mid: int, qos: int) -> None:
        generation = self._generation
        try:
            future = self.producer.send(topic, key=key, value=value)
        except _KafkaError as exc:
            log.error("Kafka refused a record for %s: %s", topic, exc)
            self._kafka_failed.set()
            return
        future.add_callback(self._acker(mid, qos, generation))
        future.add_errback(self._on_kafka_error)

    def _acker(self, mid: int, qos: int, generation: int) -> Callable[[Any], None]:
        def ack(_metadata: Any) -> None:
            if qos == 0:
                return
            with self._lock:
                # An ack for an earlier connection's packet id would acknowledge some other message.
                if generation == self._generation and self._connected:
                    self.client.ack(mid, qos)

        return ack

    def _on_kafka_error(self, exc: BaseException) -> None:
        log.error("Kafka did not acknowledge a record: %s; the MQTT message stays unacknowledged", exc)
        self._kafka_failed.set()

    # --- the loop ---

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set; reconnects to the broker with exponential backoff."""
        delay = self.config.reconnect_min_s
        first = True
        while not stop.is_set():
            if self._kafka_failed.is_set():
                # Dropping the session unacknowledged is what makes the broker redeliver (MQTT 3.1.1
                # redelivers on reconnect only); wait a little so Kafka may recover first.
                self._kafka_failed.clear()
                self._disconnect()
                stop.wait(delay)
                delay = min(delay * 2, self.config.reconnect_max_s)
                continue
            if not self._connected:
                try:
                    if first:
                        self.client.connect(self.config.host, self.config.port, self.config.keepalive_s)
                    else:
                        self.client.reconnect()
                    first = False
                except (OSError, ValueError) as exc:
                    log.warning("cannot connect to MQTT %s:%d: %s", self.config.host, self.config.port, exc)
                    stop.wait(delay)
                    delay = min(delay * 2, self.config.reconnect_max_s)
                    continue
                # Give the CONNACK a moment; _connected flips in on_connect.
                self._connected = True
            rc = self.client.loop(timeout=0.2)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost(mqtt.error_string(rc))
                stop.wait(delay)
                delay = min(delay * 2, self.config.reconnect_max_s)
            elif self.subscribed.is_set():
                delay = self.config.reconnect_min_s
        self._shutdown()

    def _disconnect(self) -> None:
        self._lost("dropping the session after a Kafka failure")
        self.client.disconnect()
        self.client.loop(timeout=0.1)

    def _shutdown(self) -> None:
        """Let Kafka acknowledge what is in flight, send those MQTT acks, then disconnect."""
        try:
            self.producer.flush(timeout=self.settings.mqtt_delivery_timeout_s)
        except _KafkaError as exc:
            log.warning("Kafka did not acknowledge everything before shutdown: %s", exc)
        for _ in range(3):
            self.client.loop(timeout=0.05)
        self._lost("shutting down")
        self.client.disconnect()
        log.info("stopped: %d readings produced, %d dead-lettered", self.produced, self.dead_letters.count)


def load_config(settings: Settings) -> MqttConfig | None:
    """The ``mqtt:`` section of the configuration file, or None when absent."""
    return parse_section(MqttSection, load_config_file(settings.config), str(settings.config or "<none>")).mqtt


def make_bridge_producer(settings: Settings) -> KafkaProducer:
    timeout_ms = int(settings.mqtt_delivery_timeout_s * 1000)
    return make_producer(
        settings,
        client_id="pantau-mqtt-bridge",
        delivery_timeout_ms=timeout_ms,
        request_timeout_ms=min(30_000, timeout_ms - 500),
    )


def _mark_ready(settings: Settings) -> None:
    if settings.ready_file is not None:
        settings.ready_file.parent.mkdir(parents=True, exist_ok=True)
        settings.ready_file.write_text("ready\n")


def main() -> None:
    settings = Settings()
    configure_logging(settings, "mqtt-bridge")
    config = load_config(settings)
    stop = threading.Event()
    install_signal_handlers(stop)
    ready = threading.Event()
    start_ops_server(settings, alive=lambda: True, ready=ready.is_set)
    if config is None or not config.enabled or not config.mappings:
        # Nothing to bridge: idle (ready) instead of exiting, so a supervisor does not restart us in a loop.
        log.info("no enabled mqtt section with mappings in the configuration: idle")
        _mark_ready(settings)
        ready.set()
        stop.wait()
        return
    ensure_topics(settings, [READINGS_TOPIC, DLQ_TOPIC])
    producer = make_bridge_producer(settings)
    bridge = MqttBridge(settings, config, producer)
    # Ready once Kafka is reachable: the MQTT broker may come later, the loop keeps reconnecting.
    _mark_ready(settings)
    ready.set()
    try:
        bridge.run(stop)
    finally:
        producer.close(timeout=10)


if __name__ == "__main__":
    main()
