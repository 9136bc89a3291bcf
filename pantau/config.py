"""Loading the YAML configuration file shared by all services.

The file has one section per concern (``sensors``, ``sensor_rules`` ...). Each stage validates the
sections it uses with its own strict model (unknown keys are errors that name the key); this module
only parses the YAML, rejects unknown top-level sections, and turns validation errors into
:class:`~pantau.exceptions.ConfigError` messages an engineer can act on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pantau.exceptions import ConfigError

KNOWN_SECTIONS: tuple[str, ...] = (
    "timezone",
    "sensors",
    "unknown_sensors",
    "sensor_rules",
    "cameras",
    "alerting",
    "reports",
    "mqtt",
)

M = TypeVar("M", bound=BaseModel)


def load_config_file(path: Path | None) -> dict[str, Any]:
    """The parsed configuration; an empty one when ``path`` is None."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    return parse_config_text(text, source=str(path))


def parse_config_text(text: str, source: str = "<config>") -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    unknown = sorted(str(key) for key in data if key not in KNOWN_SECTIONS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {', '.join(unknown)}; valid sections: {', '.join(KNOWN_SECTIONS)}"
        )
    return data


def parse_section(model: type[M], data: dict[str, Any], source: str = "<config>") -> M:
    """Validate the sections ``model`` declares (its field names) from the parsed file."""
    subset = {name: data[name] for name in model.model_fields if name in data}
    try:
        return model.model_validate(subset)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc)}") from exc


def format_validation_error(exc: ValidationError, limit: int = 10) -> str:
    """One line per problem, each naming the key path, e.g. ``sensor_rules.0.abov: Extra inputs ...``."""
    lines = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(part) for part in err["loc"]) or "(root)"
        lines.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        lines.append(f"... and {more} more")
    return "; ".join(lines)
