"""Runs the city sensor simulator against Kafka (``pantau simulate sensors`` and ``pantau demo``)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from ingest.schemas import READINGS_TOPIC, TOPIC_SENSOR_READINGS
from ingest.simulator import INCIDENT_CYCLE_S, CitySimulator
from pantau.kafka import dumps, ensure_topics, make_producer
from pantau.settings import CommonSettings
from pantau.timeutil import utcnow

log = logging.getLogger(__name__)


def run_sensor_simulator(
    settings: CommonSettings, speed: float = 1.0, duration_s: float | None = None, seed: int = 7
) -> int:
    """Produce the simulated city's readings in (scaled) real time; returns how many were sent.

    Readings are never stamped ahead of the clock (the pipeline refuses them, ``max_clock_skew_s``):
    faster than real time, the simulated clock starts in the past, so that it reaches the present
    when the run ends (with ``duration_s``) or after one incident cycle, and then goes on in real time.
    """
    ensure_topics(settings, [READINGS_TOPIC])
    producer = make_producer(settings, client_id="pantau-simulator")
    topic = settings.topic(TOPIC_SENSOR_READINGS)
    start_wall = time.monotonic()
    ahead_s = (speed - 1) * (duration_s if duration_s is not None else INCIDENT_CYCLE_S / speed) if speed > 1 else 0.0
    start_sim = utcnow() - timedelta(seconds=ahead_s)
    simulator = CitySimulator(seed=seed, start=start_sim, incidents=True)
    sent = 0
    try:
        while duration_s is None or time.monotonic() - start_wall < duration_s:
            scaled = start_sim + timedelta(seconds=(time.monotonic() - start_wall) * speed)
            now_sim = min(scaled, utcnow())
            for reading in simulator.step(now_sim):
                producer.send(topic, key=reading.key(), value=dumps(reading))
                sent += 1
            producer.flush(timeout=30)
            time.sleep(0.2)
    finally:
        producer.close(timeout=10)
    return sent
