"""The log formats: one valid JSON object per line with the correlation fields, or text with them appended."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ingest.cameras.schemas import FrameMeta
from ingest.schemas import SensorReading, reading_correlation_id
from pantau.logs import JsonFormatter, TextFormatter, configure_logging
from pantau.settings import CommonSettings

pytestmark = pytest.mark.unit


def _record(
    msg: str = "incident %s raised",
    args: tuple[Any, ...] = ("i-1",),
    level: int = logging.INFO,
    exc_info: Any = None,
    **extra: Any,
) -> logging.LogRecord:
    record = logging.LogRecord("detectors.sensor_worker", level, __file__, 1, msg, args, exc_info)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_json_line_holds_the_fields_and_correlation_ids() -> None:
    line = JsonFormatter("detectors").format(
        _record(correlation_id="wl-1@2026-11-29T00:00:00Z", incident_id="i-1", alert_id=None, color_message="x")
    )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry == {
        "ts": entry["ts"],
        "level": "INFO",
        "service": "detectors",
        "logger": "detectors.sensor_worker",
        "msg": "incident i-1 raised",
        "correlation_id": "wl-1@2026-11-29T00:00:00Z",
        "incident_id": "i-1",
    }
    ts = datetime.fromisoformat(entry["ts"])
    assert ts.utcoffset() == timedelta(0) and abs(datetime.now(UTC) - ts) < timedelta(minutes=1)


def test_json_exception_is_one_field_and_odd_values_still_serialise() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = _record("failed: %s", (object(),), logging.ERROR, exc_info=sys.exc_info(), correlation_ids=["a", "b"])
    line = JsonFormatter("alerting").format(record)
    assert line.count("\n") == 0
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["correlation_ids"] == ["a", "b"]
    assert entry["exc"].startswith("Traceback") and "ValueError: boom" in entry["exc"]
    # A lone surrogate (badly decoded input) cannot be UTF-8: the line escapes it and stays valid JSON.
    entry = json.loads(JsonFormatter("alerting").format(_record("bad %s", ("\udcff",), alert_id=7)))
    assert entry["msg"] == "bad \udcff" and entry["alert_id"] == 7


def test_text_line_is_the_old_format_plus_key_values() -> None:
    formatter = TextFormatter("detectors")
    plain = formatter.format(_record())
    assert plain.endswith(" INFO detectors incident i-1 raised")
    line = formatter.format(_record(correlation_id="wl-1@2026-11-29T00:00:00Z", incident_id="i 1", delivery_id=""))
    assert line.endswith(
        ' INFO detectors incident i-1 raised correlation_id=wl-1@2026-11-29T00:00:00Z incident_id="i 1" delivery_id=""'
    )
    assert formatter.format(_record(correlation_ids=["a", "b"])).endswith(" correlation_ids=a,b")
    try:
        raise RuntimeError("down")
    except RuntimeError:
        lines = formatter.format(_record(exc_info=sys.exc_info(), alert_id="al-1")).splitlines()
    assert lines[0].endswith("raised alert_id=al-1") and lines[-1] == "RuntimeError: down"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_json_sends_everything_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(CommonSettings(log_format="json", log_level="DEBUG"), "archiver")
    logging.getLogger("archive.service").debug("stored %d rows", 3, extra={"correlation_id": "c-1"})
    thread = threading.Thread(target=lambda: 1 / 0, name="worker-x")
    thread.start()
    thread.join()
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entries[0]["msg"] == "stored 3 rows" and entries[0]["correlation_id"] == "c-1"
    assert entries[0]["service"] == "archiver" and entries[0]["level"] == "DEBUG"
    assert entries[1]["logger"] == "pantau.uncaught" and "worker-x" in entries[1]["msg"]
    assert "ZeroDivisionError" in entries[1]["exc"]


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_text_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(CommonSettings(), "console")
    logging.getLogger("console.app").info("ready", extra={"alert_id": "al-9"})
    logging.getLogger("console.app").debug("not shown")
    assert stream.getvalue().splitlines()[-1].endswith(" INFO console ready alert_id=al-9")
    assert "not shown" not in stream.getvalue()


def test_reading_and_frame_ids_are_stable() -> None:
    local = datetime(2026, 11, 29, 7, 0, 1, tzinfo=timezone(timedelta(hours=7)))
    reading = SensorReading(sensor_id="wl-1", kind="water_level", value=1.0, unit="m", ts=local)
    assert reading.correlation_id == "wl-1@2026-11-29T00:00:01Z"
    assert reading_correlation_id("wl-1", local.astimezone(UTC)) == reading.correlation_id
    meta = FrameMeta(camera_id="cam-1", capture_ts=local, seq=42, session="s9", width_px=4, height_px=4)
    assert meta.frame_id == "cam-1@s9/42"
