"""How a topic is created: the contract's name, its partition count and topic-level configs.

Each producing stage declares the specs of its topics next to its schemas; services create the
topics they read and write at start-up (idempotent), so each can also run on its own. The setting
``PANTAU_TOPIC_PARTITIONS`` overrides a spec's partition count when the topic is created
(:func:`pantau.kafka.ensure_topics`); :func:`topic_partitions_problem` says which overrides can work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pantau.dlq import TOPIC_DLQ


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the project creates it."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


DLQ_TOPIC = TopicSpec(TOPIC_DLQ, 1, {"retention.ms": str(30 * 24 * 3600 * 1000)})

# PANTAU_TOPIC_PARTITIONS names topics by their contract name (``pantau.<what>.v<N>``, no prefix).
# The names live with each stage's schemas, which this shared core does not import: a well-formed
# name that no service creates only gets a warning from ``pantau.kafka.ensure_topics``.
TOPIC_NAME_PATTERN = re.compile(r"^pantau\.[a-z0-9][a-z0-9-]*\.v[0-9]+$")
MAX_TOPIC_PARTITIONS = 1024
# Topics whose partition count is not the operator's to choose (tests/pantau/test_topic_partitions.py
# checks these patterns against the contracts): the detector-state topic mirrors the readings topic
# partition for partition (the detectors create it with the readings topic's actual count), and the
# console reads only partition 0 of the alerts topic (its offsets number every change) and of the
# camera-status topic.
FOLLOWS_READINGS_PATTERN = re.compile(r"^pantau\.detector-state\.v[0-9]+$")
SINGLE_PARTITION_PATTERN = re.compile(r"^pantau\.(alerts|camera-status)\.v[0-9]+$")


def topic_partitions_problem(name: str, count: int) -> str | None:
    """Why ``count`` partitions for the topic ``name`` (contract name) cannot be configured, or None."""
    if not TOPIC_NAME_PATTERN.match(name):
        return (
            "not a Pantau topic name: use the contract name without PANTAU_TOPIC_PREFIX, "
            "like `pantau.sensor-readings.v1`"
        )
    if FOLLOWS_READINGS_PATTERN.match(name):
        return (
            "the detector-state topic is always created with as many partitions as the readings topic has: "
            "configure `pantau.sensor-readings.v1` instead"
        )
    if SINGLE_PARTITION_PATTERN.match(name) and count != 1:
        return f"this topic must have 1 partition (the console reads partition 0 only), not {count}"
    if not 1 <= count <= MAX_TOPIC_PARTITIONS:
        return f"a partition count must be between 1 and {MAX_TOPIC_PARTITIONS}, not {count}"
    return None
