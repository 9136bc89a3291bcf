"""How a topic is created: the contract's name, its partition count and topic-level configs.

Each producing stage declares the specs of its topics next to its schemas; services create the
topics they read and write at start-up (idempotent), so each can also run on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pantau.dlq import TOPIC_DLQ


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the project creates it."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


DLQ_TOPIC = TopicSpec(TOPIC_DLQ, 1, {"retention.ms": str(30 * 24 * 3600 * 1000)})
