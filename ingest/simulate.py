"""Runs the city sensor simulator against Kafka (``pantau simulate sensors`` and ``pantau demo``)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from ingest.schemas import READINGS_TOPIC, TOPIC_SENSOR_READINGS
from ingest.simulator import CitySimulator
from pantau.kafka import dumps, ensure_topics, make_producer
from pantau.settings import CommonSettings
from pantau.timeutil import utcnow

log = logging.getLogger(__name__)


def run_sensor_simulator(
    settings: CommonSettings, speed: float = 1.0, duration_s: float | None = None, seed: int = 7
) -> int:
    """Produce the simulated city's readings in (scaled) real time; returns how many were sent."""
    ensure_topics(settings, [READINGS_TOPIC])
    producer = make_producer(settings, client_id="pantau-simulator")
    topic = settings.topic(TOPIC_SENSOR_READINGS)
    start_wall = time.monotonic()
    start_sim = utcnow()
    simulator = CitySimulator(seed=seed, start=start_sim, incidents=True)
    sent = 0
    try:
        while duration_s is None or time.monotonic() - start_wall < duration_s:
            now_sim = start_sim + timedelta(seconds=(time.monotonic() - start_wall) * speed)
            for reading in simulator.step(now_sim):
                producer.send(topic, key=reading.key(), value=dumps(reading))
                sent += 1
            producer.flush(timeout=30)
            time.sleep(0.2)
    finally:
        producer.close(timeout=10)
    return sent
