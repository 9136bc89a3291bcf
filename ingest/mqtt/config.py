"""The ``mqtt:`` section of the configuration file: which broker, which topics, how to read payloads.

A *source* (``sensor_id_from``, ``kind_from``, ``ts_from`` ...) is either a topic segment, written
``topic[N]`` (0-based, ``city/air/S-1/pm25`` has ``topic[2] == "S-1"``), or a dotted JSON path into
the payload (``data.pm25``; list items by index, ``values.0``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ingest.schemas import Location

_TOPIC_SOURCE = re.compile(r"^topic\[(\d{1,3})\]$")
_JSON_PATH = re.compile(r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$")


def parse_source(source: str) -> tuple[Literal["topic"], int] | tuple[Literal["payload"], str]:
    """``("topic", index)`` for ``topic[N]``, else ``("payload", dotted_path)``."""
    match = _TOPIC_SOURCE.match(source)
    if match:
        return ("topic", int(match.group(1)))
    return ("payload", source)


def _check_source(source: str | None) -> str | None:
    if source is not None and not _TOPIC_SOURCE.match(source) and not _JSON_PATH.match(source):
        raise ValueError(f"{source!r} is neither topic[N] nor a dotted JSON path like data.pm25")
    return source


def _check_json_path(path: str | None) -> str | None:
    if path is not None and not _JSON_PATH.match(path):
        raise ValueError(f"{path!r} is not a dotted JSON path like data.pm25")
    return path


def check_topic_filter(pattern: str) -> str:
    """Validate an MQTT topic filter: ``+`` and ``#`` only as whole levels, ``#`` only last."""
    if not pattern or len(pattern.encode()) > 65535 or "\x00" in pattern:
        raise ValueError("a topic pattern must be 1-65535 bytes without NUL")
    levels = pattern.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"{pattern!r}: '#' must be a whole level and the last one")
        if "+" in level and level != "+":
            raise ValueError(f"{pattern!r}: '+' must be a whole level")
    return pattern


class TlsOptions(BaseModel):
    """TLS to the broker: the CA that signed its certificate, and our client certificate if it wants one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ca_file: Path | None = Field(None, description="CA bundle; the system's CAs when unset")
    cert_file: Path | None = Field(None, description="client certificate (PEM)")
    key_file: Path | None = Field(None, description="client private key (PEM)")

    @model_validator(mode="after")
    def _pair(self) -> TlsOptions:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class Mapping(BaseModel):
    """How messages on topics matching ``pattern`` become sensor readings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str = Field(description="MQTT topic filter, + and # wildcards allowed")
    sensor_id_from: str = Field(description="topic[N] or a JSON path")
    kind: str | None = Field(None, description="fixed kind, e.g. pm25")
    kind_from: str | None = Field(None, description="topic[N] or a JSON path giving the kind")
    value: str | None = Field(None, description="JSON path of the value; unset: the payload is a plain number")
    unit: str = Field("", max_length=32, description="fixed unit of the value")
    unit_from: str | None = Field(None, description="JSON path of the unit (overrides unit)")
    ts_from: str | None = Field(
        None, description="JSON path of the time (ISO-8601 with offset, or epoch s/ms); unset: receive time"
    )
    location: Location | None = Field(None, description="fixed location of every sensor of this mapping")
    location_from: str | None = Field(None, description="JSON path of an object {lat, lon, district}")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return check_topic_filter(value)

    @field_validator("sensor_id_from", "kind_from")
    @classmethod
    def _sources(cls, value: str | None) -> str | None:
        return _check_source(value)

    @field_validator("value", "unit_from", "ts_from", "location_from")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        return _check_json_path(value)

    @model_validator(mode="after")
    def _one_kind(self) -> Mapping:
        if (self.kind is None) == (self.kind_from is None):
            raise ValueError("give exactly one of kind and kind_from")
        if self.location is not None and self.location_from is not None:
            raise ValueError("give at most one of location and location_from")
        return self


class MqttConfig(BaseModel):
    """The broker, the session and the topic mappings of the MQTT bridge."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="false: the bridge idles (and reports ready)")
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsOptions | None = None
    client_id: str = Field("pantau-mqtt-bridge", min_length=1, max_length=128)
    keepalive_s: int = Field(30, ge=5, le=3600)
    # QoS 1 by default: with manual acks the broker redelivers what Kafka did not acknowledge.
    qos: Literal[0, 1, 2] = 1
    rate_limit_per_s: float = Field(10.0, gt=0, description="sustained readings/s allowed per sensor id")
    rate_burst: float = Field(20.0, ge=1, description="readings a sensor may send at once above the rate")
    max_dlq_payload_bytes: int = Field(16 * 1024, ge=64, description="longest payload copied into a DLQ entry")
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    mappings: list[Mapping] = Field(default_factory=list)

    @model_validator(mode="after")
    def _backoff(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


class MqttSection(BaseModel):
    """The ``mqtt:`` section of the configuration file (absent: the bridge idles)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mqtt: MqttConfig | None = None
