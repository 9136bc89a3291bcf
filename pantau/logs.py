"""Logging set-up shared by every service: readable text lines or one JSON object per line.

Every service's ``main()`` calls :func:`configure_logging` once, with its settings and its name.
``PANTAU_LOG_FORMAT=json`` makes each record one JSON object on one line::

    {"ts": "2026-11-29T00:30:00.123Z", "level": "INFO", "service": "detectors",
     "logger": "detectors.sensor_worker", "msg": "...", "correlation_id": "wl-1@2026-11-29T00:29:59Z",
     "incident_id": "..."}

with ``exc`` (the formatted traceback) when the record carries an exception. The text format is the
services' historical one (``TIME LEVEL SERVICE message``) followed by the same correlation fields
as ``key=value``. Correlation fields are passed with ``extra=`` (see :data:`CORRELATION_FIELDS`):
an operator can grep one reading's or frame's id across every service's log and find the incident
it caused and the alert that incident opened or updated.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson

from pantau.redact import redact_credentials
from pantau.settings import CommonSettings

# The ``extra=`` keys a log line may carry to follow one cause through the pipeline. Only these are
# written: libraries pass extras of their own (uvicorn's ``color_message`` with terminal escapes).
CORRELATION_FIELDS = ("correlation_id", "correlation_ids", "incident_id", "alert_id", "delivery_id")

_uncaught = logging.getLogger("pantau.uncaught")


def correlation_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The correlation fields a record carries (those given, and not None), in a fixed order."""
    found: dict[str, Any] = {}
    for name in CORRELATION_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            found[name] = value
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a traceback is a field, its newlines escaped)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": redact_credentials(record.getMessage()),
        }
        entry.update(correlation_fields(record))
        if record.exc_info and not record.exc_text:
            # Cached on the record like logging.Formatter does, so other handlers need not format it again.
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = redact_credentials(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):
            # orjson refuses lone surrogates (text decoded with errors="surrogateescape"); the
            # standard library escapes them, so the line stays one valid JSON object.
            return json.dumps(entry, default=str, ensure_ascii=True)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL SERVICE message key=value…``: the services' historical lines plus correlation fields."""

    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {service.replace('%', '%%')} %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = redact_credentials(super().formatMessage(record))
        fields = correlation_fields(record)
        if not fields:
            return line
        return line + "".join(f" {name}={_text_value(value)}" for name, value in fields.items())

    def formatException(self, ei: Any) -> str:
        return redact_credentials(super().formatException(ei))


def _text_value(value: object) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(item) for item in value)
    text = str(value)
    # Quoted only when a reader could not tell where the value ends.
    return json.dumps(text, ensure_ascii=False) if not text or any(c.isspace() or c == '"' for c in text) else text


def make_formatter(settings: CommonSettings, service: str) -> logging.Formatter:
    """The formatter ``PANTAU_LOG_FORMAT`` asks for."""
    return JsonFormatter(service) if settings.log_format == "json" else TextFormatter(service)


def configure_logging(settings: CommonSettings, service: str) -> None:
    """Send every record of this process to stderr at ``PANTAU_LOG_LEVEL``, in ``PANTAU_LOG_FORMAT``.

    Replaces whatever handlers the root logger had (``pantau run`` may have set some up for the CLI).
    In JSON mode, warnings and uncaught exceptions (main thread and other threads) are logged too, so
    a log collector gets nothing but JSON lines.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(make_formatter(settings, service))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    if settings.log_format == "json":
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, traceback)
        return
    _uncaught.critical("uncaught exception: %s", exc, exc_info=(exc_type, exc, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # what threading's own hook does too
    name = args.thread.name if args.thread is not None else "?"
    _uncaught.critical(
        "uncaught exception in thread %s: %s",
        name,
        args.exc_value,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
    )
