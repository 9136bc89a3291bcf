"""The dead-letter contract: where every record that fails validation goes, with the reason.

Topic ``pantau.dlq.v1``, key: the stage that rejected the record, value: a :class:`DeadLetter`.
The original bytes travel base64-encoded so nothing is lost, however malformed.
"""

from __future__ import annotations

import base64
from typing import ClassVar

from pydantic import AwareDatetime, ConfigDict, Field

from pantau.contract import Contract, Line, Text, escape_controls
from pantau.timeutil import utcnow

SCHEMA_VERSION = 1
TOPIC_DLQ = f"pantau.dlq.v{SCHEMA_VERSION}"


class DeadLetter(Contract):
    """A rejected record and why it was rejected."""

    model_config = ConfigDict(frozen=True)
    schema_version: ClassVar[int] = SCHEMA_VERSION

    reason: Text = Field(max_length=4000, description="why; characters a text may not hold are escaped")
    stage: Line = Field(description="which service rejected it, e.g. detectors.sensor-rules")
    topic: Line | None = Field(None, description="source topic, or null for HTTP input")
    partition: int | None = None
    offset: int | None = None
    endpoint: Line | None = Field(None, description="source HTTP endpoint, for HTTP input")
    key_b64: Line | None = None
    headers: list[tuple[Line, Line]] = Field(default_factory=list, description="(name, base64 value) pairs")
    value_b64: Line
    rejected_at: AwareDatetime = Field(default_factory=utcnow)

    @classmethod
    def build(
        cls,
        *,
        reason: str,
        stage: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        endpoint: str | None = None,
    ) -> DeadLetter:
        return cls(
            reason=escape_controls(reason)[:4000],
            stage=stage,
            topic=topic,
            partition=partition,
            offset=offset,
            endpoint=escape_controls(endpoint, line=True) if endpoint is not None else None,
            key_b64=_b64(key) if key is not None else None,
            headers=[(escape_controls(name, line=True), _b64(val or b"")) for name, val in headers or []],
            value_b64=_b64(value or b""),
        )

    def original_value(self) -> bytes:
        return base64.b64decode(self.value_b64)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
