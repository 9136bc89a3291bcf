"""After a database restore, the alerts topic and the database agree again.

Consoles build their boards from ``pantau.alerts.v1`` (compacted, never restored), alerting from
the database. A database restored from a backup is behind the topic: alerts raised after the
backup are on the boards but not in the database (commands on them answer 404), and alerts changed
after it show their later state, while the versions alerting now writes repeat ones the consoles
have seen and are ignored by them.

Alerting remembers in the database how far the topic goes (``alert_topic_position``, written with
each confirmed publish). At start-up, when the topic ends further than that, it reads only the part
after it: every alert there that the database has at an older version is published again with the
database's state at a newer version, and every alert the database lacks is closed. A normal restart
after a crash finds at most the few changes confirmed but not yet noted, all already in the
database, and changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime

from kafka import KafkaConsumer
from kafka.errors import KafkaError as _KafkaError
from kafka.structs import TopicPartition
from pydantic import ValidationError

from alerting.engine import AlertEngine
from alerting.schemas import TOPIC_ALERTS, Alert
from pantau.exceptions import KafkaError
from pantau.kafka import make_consumer
from pantau.settings import CommonSettings

log = logging.getLogger(__name__)


def read_tail(
    consumer: KafkaConsumer, tp: TopicPartition, start: int, end: int, timeout_s: float = 60.0
) -> dict[str, Alert]:
    """The newest change of each alert in ``[start, end)`` of the alerts topic (one partition)."""
    newest: dict[str, Alert] = {}
    consumer.seek(tp, start)
    deadline = time.monotonic() + timeout_s
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise KafkaError(f"reading the alerts topic from {start} to {end} took over {timeout_s:.0f} s")
        for record in consumer.poll(timeout_ms=500).get(tp, []):
            if record.offset >= end or record.value is None:
                continue
            try:
                alert = Alert.model_validate_json(record.value)
            except ValidationError:
                # The consoles dead-letter it when they read it; it changes nothing here.
                log.warning("alerts topic offset %d is not an alert; skipped", record.offset)
                continue
            current = newest.get(alert.id)
            if current is None or alert.version >= current.version:
                newest[alert.id] = alert
    return newest


def reconcile(settings: CommonSettings, engine: AlertEngine, now: datetime) -> tuple[int, int]:
    """Checks the topic against the database (see the module docstring); returns (set again, closed)."""
    tp = TopicPartition(settings.topic(TOPIC_ALERTS), 0)
    consumer = make_consumer(settings, client_id="pantau-alerting-reconcile", group_id=None)
    try:
        consumer.assign([tp])
        end = int(consumer.end_offsets([tp])[tp])
        known = engine.topic_position()
        if known is None:  # first start with this table: nothing to compare against yet
            engine.save_topic_position(end)
            return 0, 0
        if end <= known:
            return 0, 0
        tail = read_tail(consumer, tp, known, end)
    except _KafkaError as exc:
        raise KafkaError(f"reading the alerts topic failed: {exc}") from exc
    finally:
        with contextlib.suppress(Exception):
            consumer.close(autocommit=False)
    again, closed = engine.reconcile(tail, now)
    if again or closed:
        log.warning(
            "the alerts topic went %d changes beyond the database (restored from a backup?): %d alerts set "
            "again to the database's state, %d alerts the database does not have closed",
            end - known,
            again,
            closed,
        )
    engine.save_topic_position(end)
    return again, closed
