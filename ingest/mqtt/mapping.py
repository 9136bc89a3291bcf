"""Pure mapping of MQTT messages to sensor readings: no paho, no Kafka, so every rule is unit-testable.

Every failure raises :class:`~ingest.exceptions.MappingError` whose message is the DLQ reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from ingest.exceptions import MappingError
from ingest.mqtt.config import Mapping, parse_source
from ingest.schemas import SensorReading
from pantau.config import format_validation_error

# Epoch numbers above this are milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973.
_EPOCH_MS_THRESHOLD = 1e11


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching: ``+`` is one level, ``#`` the rest (even none).

    Wildcards at the first level do not match ``$`` topics (``$SYS/...``), as brokers do.
    """
    if topic.startswith("$") and pattern[:1] in ("+", "#"):
        return False
    want, have = pattern.split("/"), topic.split("/")
    for index, level in enumerate(want):
        if level == "#":
            return True
        if index >= len(have):
            return False
        if level != "+" and level != have[index]:
            return False
    return len(want) == len(have)


def find_mapping(mappings: Sequence[Mapping], topic: str) -> Mapping | None:
    """The first mapping whose pattern matches ``topic``: order in the config file is priority."""
    return next((m for m in mappings if topic_matches(m.pattern, topic)), None)


def extract_path(data: Any, path: str) -> Any:
    """The value at dotted ``path`` (``data.pm25``, list items by index: ``values.0``)."""
    current = data
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if isinstance(current, dict):
            if part not in current:
                raise MappingError(f"payload has no {'.'.join(walked)!r}")
            current = current[part]
        elif isinstance(current, list):
            if not part.isdigit() or int(part) >= len(current):
                raise MappingError(f"payload has no {'.'.join(walked)!r} (list of {len(current)})")
            current = current[int(part)]
        else:
            parent = ".".join(walked[:-1]) or "payload"
            raise MappingError(f"payload has no {'.'.join(walked)!r}: {parent} is not an object")
    return current


def parse_ts(raw: Any) -> datetime:
    """A timezone-aware UTC instant from ISO-8601 text with an offset, or epoch seconds or milliseconds."""
    if isinstance(raw, bool):
        raise MappingError(f"ts {raw!r} is not a time")
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return parse_ts(float(text))
        except (ValueError, MappingError):
            pass
        try:
            ts = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise MappingError(f"ts {raw!r} is neither ISO-8601 nor epoch seconds/milliseconds") from None
        if ts.tzinfo is None:
            # A naive time is ambiguous (sensor-local or UTC?): refuse it rather than guess.
            raise MappingError(f"ts {raw!r} has no timezone offset")
        return ts.astimezone(UTC)
    if isinstance(raw, int | float):
        seconds = float(raw)
        if not math.isfinite(seconds):
            raise MappingError(f"ts {raw!r} is not finite")
        if abs(seconds) >= _EPOCH_MS_THRESHOLD:
            seconds /= 1000.0
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise MappingError(f"ts {raw!r} is out of range") from None
    raise MappingError(f"ts {raw!r} is not a string or a number")


def _decode(payload: bytes) -> Any:
    if not payload.strip():
        raise MappingError("empty payload")
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise MappingError("payload is not UTF-8") from None
    raise MappingError(f"payload is neither JSON nor a plain number: {text[:80]!r}")


def _source_value(source: str, topic_levels: list[str], data: Any, what: str) -> Any:
    where, ref = parse_source(source)
    if where == "topic":
        assert isinstance(ref, int)
        if ref >= len(topic_levels):
            raise MappingError(f"{what}: topic {'/'.join(topic_levels)!r} has no level {ref}")
        return topic_levels[ref]
    assert isinstance(ref, str)
    if not isinstance(data, dict | list):
        raise MappingError(f"{what}: payload is not a JSON object, cannot read {ref!r}")
    return extract_path(data, ref)


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise MappingError(f"{what} {value!r} is not a string")


def map_message(mappings: Sequence[Mapping], topic: str, payload: bytes, received_at: datetime) -> SensorReading:
    """The reading a message carries, by the first mapping matching its topic."""
    mapping = find_mapping(mappings, topic)
    if mapping is None:
        raise MappingError(f"no mapping matches topic {topic!r}")
    return apply_mapping(mapping, topic, payload, received_at)


def apply_mapping(mapping: Mapping, topic: str, payload: bytes, received_at: datetime) -> SensorReading:
    """The reading ``mapping`` builds from one message; ``received_at`` is the time when the payload has none."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    data = _decode(payload)
    levels = topic.split("/")
    if mapping.value is None:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise MappingError("mapping expects a plain-number payload")
        raw_value: Any = data
    else:
        if not isinstance(data, dict | list):
            raise MappingError(f"payload is not a JSON object (mapping reads value from {mapping.value!r})")
        raw_value = extract_path(data, mapping.value)
    if isinstance(raw_value, bool) or not isinstance(raw_value, int | float):
        raise MappingError(f"value {raw_value!r} is not a number")
    fields: dict[str, Any] = {
        "sensor_id": _text(_source_value(mapping.sensor_id_from, levels, data, "sensor_id"), "sensor_id"),
        "value": float(raw_value),
        "unit": _text(extract_path(data, mapping.unit_from), "unit") if mapping.unit_from else mapping.unit,
    }
    if mapping.kind is not None:
        fields["kind"] = mapping.kind
    else:
        assert mapping.kind_from is not None
        fields["kind"] = _text(_source_value(mapping.kind_from, levels, data, "kind"), "kind")
    fields["ts"] = parse_ts(extract_path(data, mapping.ts_from)) if mapping.ts_from else received_at.astimezone(UTC)
    if mapping.location is not None:
        fields["location"] = mapping.location
    elif mapping.location_from is not None:
        raw_location = extract_path(data, mapping.location_from)
        if not isinstance(raw_location, dict):
            raise MappingError(f"location {raw_location!r} is not an object with lat and lon")
        fields["location"] = raw_location
    try:
        return SensorReading.model_validate(fields)
    except ValidationError as exc:
        raise MappingError(f"invalid reading: {format_validation_error(exc)}") from exc
