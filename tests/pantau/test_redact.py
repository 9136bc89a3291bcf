"""Credentials never leave in what Pantau says (``pantau/redact.py``)."""

from __future__ import annotations

import logging

import pytest

from pantau.logs import JsonFormatter, TextFormatter
from pantau.redact import redact_credentials, redact_source, redact_url

pytestmark = pytest.mark.unit
OPENCV_ERROR = (
    "open failed: OpenCV(4.14.0) cap_ffmpeg_impl.hpp:1109: error: could not open "
    "'rtsp://admin:Hunter2%40x@10.0.0.7:554/Streaming/Channels/102?user=admin&password=Hunter2'"
)


def test_userinfo_and_secret_query_values_are_redacted_wherever_a_url_appears() -> None:
    out = redact_credentials(OPENCV_ERROR)
    assert "Hunter2" not in out and "admin:" not in out
    assert "rtsp://***@10.0.0.7:554/Streaming/Channels/102?user=admin&password=***" in out
    assert redact_credentials("https://hooks.example/x?token=abc123&n=1") == "https://hooks.example/x?token=***&n=1"
    assert redact_credentials("sensor wl-1 key=value from 10.0.0.7") == "sensor wl-1 key=value from 10.0.0.7"
    assert redact_credentials("two: rtsp://a:b@h1/s and http://c@h2/") == "two: rtsp://***@h1/s and http://***@h2/"


def test_a_camera_source_is_shown_without_credentials_or_query() -> None:
    assert redact_source("rtsp://admin:pw@10.0.0.7:554/live?token=t") == "rtsp://10.0.0.7:554/live"
    assert redact_source("/srv/clips/plaza.mp4") == "/srv/clips/plaza.mp4"
    assert redact_source("0") == "0"
    assert redact_url("https://u:p@hooks.example:8443/a/b?x=1#f") == "https://hooks.example:8443/a/b"


@pytest.mark.parametrize("formatter", [TextFormatter("ingest"), JsonFormatter("ingest")], ids=["text", "json"])
def test_log_lines_are_redacted_messages_and_tracebacks(formatter: logging.Formatter) -> None:
    try:
        raise RuntimeError("cannot open rtsp://admin:Hunter2@10.0.0.7/live")
    except RuntimeError as exc:
        record = logging.LogRecord("ingest", logging.ERROR, __file__, 1, "camera plaza: %s", (exc,), None)
        record.exc_info = (type(exc), exc, exc.__traceback__)
    line = formatter.format(record)
    assert "Hunter2" not in line and "rtsp://***@10.0.0.7/live" in line
