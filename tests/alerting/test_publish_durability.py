"""An alert change Kafka refuses in the end (its delivery timed out in a long broker outage) is not
dropped from the outbox: alerting sends the alert's state again and backs off, and only a confirmed
send clears the outbox and moves the topic position alerting keeps for restores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from kafka import KafkaProducer

from alerting.book import AlertBook
from alerting.config import AlertingConfig
from alerting.engine import AlertEngine
from detectors.schemas import Incident
from pantau.db import connect
from pantau.exceptions import KafkaError
from pantau.timeutil import utcnow
from tests.integration.test_scale_out import _incident
from tests.pipeline import Pipeline


@dataclass
class _Metadata:
    offset: int


@dataclass
class _Send:
    """The outcome of one send, as kafka-python's future reports it once flushed."""

    offset: int | None

    def failed(self) -> bool:
        return self.offset is None

    def succeeded(self) -> bool:
        return self.offset is not None

    @property
    def value(self) -> _Metadata:
        assert self.offset is not None
        return _Metadata(self.offset)


@dataclass
class _Producer:
    """Fails the first ``fail`` sends (delivery timed out), confirms the others at the next offset."""

    fail: int = 0
    next_offset: int = 100
    sent: list[tuple[str, bytes]] = field(default_factory=list)

    def send(self, topic: str, key: bytes, value: bytes) -> _Send:
        self.sent.append((topic, key))
        if self.fail > 0:
            self.fail -= 1
            return _Send(None)
        self.next_offset += 1
        return _Send(self.next_offset - 1)

    def flush(self, timeout: float) -> None:
        del timeout


@pytest.mark.integration
def test_a_refused_change_stays_in_the_outbox_and_is_sent_again(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(services=())
    producer = _Producer(fail=1)
    conn = connect(pipeline.settings, application_name="pantau-test")
    book = AlertBook(AlertingConfig.model_validate({"corroboration_window_s": 0}), ZoneInfo("Asia/Jakarta"), utcnow)
    engine = AlertEngine(conn, book, cast(KafkaProducer, producer), "alerts", utcnow)
    try:
        engine.apply_schema()
        changed = engine.apply_incidents([Incident.model_validate_json(_incident(1))])
        assert len(changed) == 1 and len(producer.sent) == 1
        assert pipeline.count("alert_outbox") == 1

        with pytest.raises(KafkaError, match="did not take 1 alert changes"):
            engine.make_durable()
        assert len(producer.sent) == 2  # the alert's state, sent again
        assert pipeline.count("alert_outbox") == 1 and engine.topic_position() is None

        engine.make_durable()
        assert pipeline.count("alert_outbox") == 0
        assert engine.topic_position() == 101  # after the offset Kafka gave the second send
    finally:
        conn.close()
