"""Kafka clients configured the way every Pantau service needs them.

- Producers wait for the broker's acknowledgement (``acks=all``, idempotent) and linger only a couple
  of milliseconds: alerts are latency-sensitive, and batching still happens under load.
- Consumers never auto-commit: a service commits an offset only after the work for it is durable
  (at-least-once), and consumer groups that start fresh read from the earliest offset.
- Fetches wait at most ``fetch_max_wait_ms`` (20 ms, not kafka-python's 500 ms) so a quiet topic
  adds no half-second to an alert's path.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError as _KafkaError
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from pantau.dlq import TOPIC_DLQ, DeadLetter
from pantau.exceptions import ConfigError, KafkaError
from pantau.metrics import DEAD_LETTERS
from pantau.settings import CommonSettings
from pantau.topics import TopicSpec

log = logging.getLogger(__name__)


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (murmur2, as the Java client)."""
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


def security_options(settings: CommonSettings) -> dict[str, Any]:
    """kafka-python's TLS/SASL options for every client (producer, consumer, admin) from the settings."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_check_hostname"] = settings.kafka_ssl_check_hostname
        if settings.kafka_ssl_cafile is not None:
            options["ssl_cafile"] = str(settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile is not None:
            options["ssl_certfile"] = str(settings.kafka_ssl_certfile)
        if settings.kafka_ssl_keyfile is not None:
            options["ssl_keyfile"] = str(settings.kafka_ssl_keyfile)
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        if settings.kafka_sasl_mechanism is None or settings.kafka_sasl_username is None:
            raise ConfigError(
                f"PANTAU_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
                "PANTAU_KAFKA_SASL_MECHANISM and PANTAU_KAFKA_SASL_USERNAME"
            )
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password is not None else ""
    return options


# Topics this process has already warned about (ensure_topics runs at every start-up and reload).
_warned_topics: set[str] = set()


def _warn_once(topic: str, message: str, *args: Any) -> None:
    if topic not in _warned_topics:
        _warned_topics.add(topic)
        log.warning(message, *args)


def topic_partitions(settings: CommonSettings, spec: TopicSpec) -> int:
    """How many partitions ``spec``'s topic is created with: ``PANTAU_TOPIC_PARTITIONS``, else the spec's."""
    return settings.topic_partitions.get(spec.name, spec.partitions)


def ensure_topics(settings: CommonSettings, specs: Iterable[TopicSpec], timeout_s: float = 30.0) -> None:
    """Create the topics that do not exist yet (with the configured prefix) and wait until they are usable.

    A topic is created with its ``PANTAU_TOPIC_PARTITIONS`` count where one is set, else the spec's.
    An existing topic is used as it is, never altered: adding partitions to a keyed topic sends keys to
    other partitions, which breaks per-sensor order and the detectors' state layout. When it has fewer
    partitions than configured, a warning says how to grow it safely.
    """
    wanted = {settings.topic(spec.name): spec for spec in specs}
    deadline = time.monotonic() + timeout_s
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="pantau-admin",
            request_timeout_ms=int(timeout_s * 1000),
            **security_options(settings),
        )
    except (_KafkaError, OSError) as exc:
        raise KafkaError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        existing = set(admin.list_topics())
        missing = {name: spec for name, spec in wanted.items() if name not in existing}
        if missing:
            request = {
                name: {
                    "num_partitions": topic_partitions(settings, spec),
                    "replication_factor": -1,
                    "configs": dict(spec.configs),
                }
                for name, spec in missing.items()
            }
            # Another service may create one between our list and create: that is the state we want.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(request, timeout_ms=int(timeout_s * 1000), wait_for_metadata=True)
            log.info(
                "created topics %s",
                ", ".join(f"{name} ({request[name]['num_partitions']} partitions)" for name in sorted(missing)),
            )
        configured = {
            name: spec for name, spec in wanted.items() if name in existing and spec.name in settings.topic_partitions
        }
        if configured:
            _check_existing_partitions(settings, admin, configured)
        _check_configured_names(settings, wanted.values(), existing)
        admin.wait_for_topics(list(wanted), timeout_ms=max(1000, int((deadline - time.monotonic()) * 1000)))
    except _KafkaError as exc:
        raise KafkaError(f"cannot create topics {sorted(wanted)}: {exc}") from exc
    finally:
        admin.close()


def _check_existing_partitions(settings: CommonSettings, admin: KafkaAdminClient, specs: dict[str, TopicSpec]) -> None:
    """Warn (once) about existing topics with fewer partitions than configured; they are not altered."""
    for described in admin.describe_topics(list(specs)):
        name = described.get("name") or described.get("topic")
        if name not in specs or described.get("error_code"):
            continue
        has, wanted = len(described.get("partitions") or ()), settings.topic_partitions[specs[name].name]
        if has >= wanted:
            continue
        _warn_once(
            name,
            "topic %s has %d partitions, fewer than the %d of PANTAU_TOPIC_PARTITIONS: it is used as it is "
            "(the setting applies only when a topic is created). Adding partitions moves keys to other "
            "partitions, so grow it only when drained (producers stopped, consumers caught up and stopped): "
            "`kafka-topics.sh --alter --topic %s --partitions %d` (for the readings topic, grow the "
            "detector-state topic to the same count too), then start them again; or delete and recreate "
            "the topics. See docs/operations.md (Partitions)",
            name,
            has,
            wanted,
            name,
            wanted,
        )


def _check_configured_names(settings: CommonSettings, specs: Iterable[TopicSpec], existing: set[str]) -> None:
    """Warn (once) about a configured name that this service does not create and Kafka does not have:
    most likely a typo (the shared core cannot list every stage's topics)."""
    ours = {spec.name for spec in specs}
    for name in settings.topic_partitions:
        if name not in ours and settings.topic(name) not in existing:
            _warn_once(
                settings.topic(name),
                "PANTAU_TOPIC_PARTITIONS names %s, which this service does not create and Kafka does not have "
                "(yet): check the name against the topics in docs/operations.md (Partitions)",
                name,
            )


def flush(producer: KafkaProducer, timeout_s: float) -> None:
    """Wait until everything sent is acknowledged; :class:`KafkaError` (transient: the worker backs
    off and retries) when the broker does not confirm in time."""
    try:
        producer.flush(timeout=timeout_s)
    except Exception as exc:  # kafka-python raises several unrelated types here (timeouts, closed selector)
        raise KafkaError(f"Kafka did not confirm what was sent within {timeout_s:.0f} s: {exc}") from exc


def make_producer(settings: CommonSettings, client_id: str, **overrides: Any) -> KafkaProducer:
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "batch_size": 256 * 1024,
        "compression_type": None,
        "retries": 2**31 - 1,
        "delivery_timeout_ms": 120_000,
        "request_timeout_ms": 30_000,
        "max_block_ms": 10_000,
        **security_options(settings),
    }
    config.update(overrides)
    try:
        return KafkaProducer(**config)
    except (_KafkaError, OSError) as exc:
        raise KafkaError(f"cannot create a producer for {settings.kafka_bootstrap}: {exc}") from exc


# For the high-volume readings topic: let the broker gather up to 64 KiB or 10 ms per fetch, so a
# busy consumer makes a few large fetches instead of hundreds of tiny ones (kafka-python spends far
# more CPU per request than per record). Quiet topics keep the default long poll, which answers as
# soon as one record arrives.
HIGH_VOLUME_FETCH: dict[str, int] = {"fetch_min_bytes": 64 * 1024, "fetch_max_wait_ms": 10}


def make_consumer(settings: CommonSettings, client_id: str, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "client_id": client_id,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": 100,
        "fetch_min_bytes": 1,
        "max_poll_records": 2000,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        # Short session timeouts: a crashed worker's partitions move within seconds.
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 2_000,
        "max_poll_interval_ms": 120_000,
        # A group that joined before its topics' metadata reached this client gets no partitions
        # until the next metadata refresh: keep that seconds away, not kafka-python's 5 minutes.
        "metadata_max_age_ms": 5_000,
        **security_options(settings),
    }
    if group_id is not None and settings.consumer_instance_id:
        # Static membership: the same id coming back after a crash rejoins without a rebalance.
        config["group_instance_id"] = settings.consumer_instance_id
    config.update(overrides)
    try:
        return KafkaConsumer(**config)
    except (_KafkaError, OSError) as exc:
        raise KafkaError(f"cannot create a consumer for {settings.kafka_bootstrap}: {exc}") from exc


def dumps(model: Any) -> bytes:
    """JSON bytes of a pydantic model (its JSON mode: aware datetimes as ISO-8601)."""
    return orjson.dumps(model.model_dump(mode="json"))


class DeadLetterSink:
    """Sends rejected records to the DLQ topic; the caller flushes before committing offsets."""

    def __init__(self, settings: CommonSettings, producer: KafkaProducer, stage: str) -> None:
        self.topic = settings.topic(TOPIC_DLQ)
        self.producer = producer
        self.stage = stage
        self.count = 0

    def reject_record(self, record: Any, reason: str) -> None:
        """Dead-letter a consumed Kafka record."""
        letter = DeadLetter.build(
            reason=reason,
            stage=self.stage,
            value=record.value,
            key=record.key,
            headers=[(str(name), bytes(value or b"")) for name, value in (record.headers or [])],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        self.send(letter)

    def send(self, letter: DeadLetter) -> None:
        log.warning("dead-lettered (%s): %s", letter.stage, letter.reason[:300])
        self.producer.send(self.topic, key=self.stage.encode(), value=dumps(letter))
        self.count += 1
        DEAD_LETTERS.labels(self.stage).inc()
