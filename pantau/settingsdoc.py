"""The settings reference, generated from the deployables' ``Settings`` classes.

``pantau settings`` prints it; ``docs/settings.md`` is its output, and a unit test fails when the two
differ, so the table cannot drift from the code. Every field of a ``Settings`` class is the
environment variable ``PANTAU_<FIELD>`` (see :mod:`pantau.settings`).
"""

from __future__ import annotations

import importlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

ENV_PREFIX = "PANTAU_"


def service_modules() -> dict[str, str]:
    """Each deployable (`pantau run NAME`) and the module whose ``main()`` runs it (``pantau.cli``).

    The module holds (defines or imports) the deployable's ``Settings`` class, so a service added to
    the CLI shows up here, and in the test that keeps ``docs/settings.md`` true, without more wiring.
    """
    from pantau.cli import SERVICE_MAINS

    return dict(SERVICE_MAINS)


@dataclass
class SettingRow:
    """One environment variable: how it is typed, its default, what it means and who reads it."""

    env: str
    type: str
    default: str
    description: str
    services: list[str] = field(default_factory=list)


def _load(module_name: str, service: str) -> type[BaseSettings]:
    cls = getattr(importlib.import_module(module_name), "Settings", None)
    if not (isinstance(cls, type) and issubclass(cls, BaseSettings)):
        raise TypeError(f"{module_name} (service {service}) has no pydantic-settings class named Settings")
    return cls


def load_settings_classes() -> dict[str, type[BaseSettings]]:
    """The Settings class of every deployable whose module can be loaded, by service name (the others:
    :func:`unloadable_services`)."""
    classes: dict[str, type[BaseSettings]] = {}
    for service, module_name in service_modules().items():
        try:
            classes[service] = _load(module_name, service)
        except (ImportError, TypeError):
            continue
    return classes


def unloadable_services() -> dict[str, str]:
    """Services of the CLI whose Settings class cannot be loaded, with the reason (left out of the table)."""
    problems: dict[str, str] = {}
    for service, module_name in service_modules().items():
        try:
            _load(module_name, service)
        except (ImportError, TypeError) as exc:
            problems[service] = f"{type(exc).__name__}: {exc}"
    return problems


def _type_name(annotation: Any) -> str:
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return " | ".join(repr(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is SecretStr:
        return "secret"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined:
        if info.default_factory is not None:
            return "(computed)"
        return "(required)"
    value = info.default
    if value is None:
        return "(unset)"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value) if abs(value) < 1e15 else value
    text = str(value)
    return f"`{text}`" if text else '`""`'


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def collect_rows(classes: dict[str, type[BaseSettings]] | None = None) -> list[SettingRow]:
    """One row per environment variable across all deployables, in a stable order."""
    classes = classes if classes is not None else load_settings_classes()
    rows: dict[str, SettingRow] = {}
    for service, cls in classes.items():
        prefix = str(cls.model_config.get("env_prefix", ENV_PREFIX))
        doc = (cls.__doc__ or "").strip().splitlines()
        class_doc = doc[0] if doc else ""
        for name, info in cls.model_fields.items():
            env = f"{prefix}{name}".upper()
            row = rows.get(env)
            if row is None:
                row = SettingRow(
                    env=env,
                    type=_type_name(info.annotation),
                    default=_default(info),
                    description=info.description or class_doc,
                )
                rows[env] = row
            if service not in row.services:
                row.services.append(service)
    common = [r for r in rows.values() if len(r.services) == len(classes)]
    specific = [r for r in rows.values() if len(r.services) != len(classes)]
    return sorted(common, key=lambda r: r.env) + sorted(specific, key=lambda r: (r.services[0], r.env))


def setting_names() -> set[str]:
    """Every environment variable some deployable reads."""
    return {row.env for row in collect_rows()}


def render_markdown(rows: list[SettingRow] | None = None) -> str:
    """The settings reference as Markdown (the content of ``docs/settings.md``)."""
    rows = rows if rows is not None else collect_rows()
    n_services = len(load_settings_classes())
    lines = [
        "# Settings reference",
        "",
        "<!-- Generated by `pantau settings` from the Settings classes (pantau/settingsdoc.py); do not edit.",
        "     tests/pantau/test_settingsdoc.py fails when this file differs from the generated text. -->",
        "",
        "Every Pantau service reads its settings from environment variables with the prefix `PANTAU_`",
        "(one `Settings` class per deployable, `pantau/settings.py`). Values are parsed by pydantic:",
        "booleans as `true`/`false`, durations in seconds, paths relative to the working directory.",
        "The YAML configuration file named by `PANTAU_CONFIG` is described in `docs/configuration.md`.",
        "",
        "The last column lists the services whose `Settings` class has the field: the shared connection",
        "settings (`CommonSettings`) are in every class, though not every service uses each of them (the",
        "ingest API, for one, never opens the database; see `docs/configuration.md`, column *used by*).",
        "",
        "Regenerate with `pantau settings > docs/settings.md`.",
        "",
        "| variable | type | default | description | in the Settings of |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        services = "all services" if len(row.services) == n_services else ", ".join(row.services)
        lines.append(
            f"| `{row.env}` | {_cell(row.type)} | {_cell(row.default)} | {_cell(row.description)} | {services} |"
        )
    return "\n".join(lines) + "\n"
