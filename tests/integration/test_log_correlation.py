"""JSON logs end to end: every line a service writes is one JSON object, and one reading's id leads
from ingest to the incident it raised and the alert that incident opened."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

CONFIG = "sensor_rules:\n  - {name: smoke-school, kind: smoke, above: 0.3, severity: critical}\n"
SERVICES = ("alerting", "detectors", "ingest-api")
FIELDS = {"ts", "level", "service", "logger", "msg"}


def json_log(pipeline: Pipeline, name: str) -> list[dict[str, Any]]:
    """Every line of a service's log, each of which must be a JSON object with the standard fields."""
    entries = []
    for number, line in enumerate(pipeline.log_file(name).read_text().splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"{name}.log line {number} is not JSON: {line!r}")
        assert isinstance(entry, dict) and entry.keys() >= FIELDS, f"{name}.log line {number}: {line!r}"
        assert entry["service"] == name
        entries.append(entry)
    return entries


def find(entries: list[dict[str, Any]], **expected: Any) -> dict[str, Any] | None:
    return next((e for e in entries if all(e.get(k) == v for k, v in expected.items())), None)


def test_one_reading_is_followed_through_the_json_logs(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory(CONFIG, services=SERVICES, PANTAU_LOG_FORMAT="json", PANTAU_LOG_LEVEL="DEBUG")
    ts = datetime.now(UTC).replace(microsecond=0)
    # Written in local time (WIB): the id is the same whatever zone the sensor wrote its time in.
    reading = {
        "sensor_id": "smk-sman3",
        "kind": "smoke",
        "value": 0.6,
        "unit": "ratio",
        "ts": ts.astimezone(timezone(timedelta(hours=7))).isoformat(),
    }
    correlation_id = f"smk-sman3@{ts.strftime('%Y-%m-%dT%H:%M:%S')}Z"
    headers = {"Authorization": f"Bearer {pipeline.token(Role.ingest, 'gateway-1')}"}
    url = f"http://127.0.0.1:{pipeline.ingest_port}/api/v1/readings"
    assert httpx.post(url, json=reading, headers=headers).status_code == 202
    assert pipeline.wait_count("alerts", 1) == 1
    with pipeline.db() as conn:
        row = conn.execute("SELECT id, doc->>'last_correlation_id', doc->>'last_incident_id' FROM alerts").fetchone()
    assert row is not None
    alert_id, alert_correlation_id, incident_id = row
    assert alert_correlation_id == correlation_id

    # Alerting logs right after its commit: give the line a moment to reach the file.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        logs = {name: json_log(pipeline, name) for name in SERVICES}
        if find(logs["alerting"], correlation_id=correlation_id, alert_id=alert_id):
            break
        time.sleep(0.2)
    accepted = [e for e in logs["ingest-api"] if correlation_id in e.get("correlation_ids", ())]
    assert accepted and accepted[0]["level"] == "DEBUG"
    raised = find(logs["detectors"], correlation_id=correlation_id, incident_id=incident_id)
    assert raised is not None and raised["level"] == "INFO" and "raised" in raised["msg"]
    opened = find(logs["alerting"], correlation_id=correlation_id, incident_id=incident_id, alert_id=alert_id)
    assert opened is not None and opened["level"] == "INFO" and "opened" in opened["msg"]
    # What an operator does: grep the reading's id across the logs.
    grepped = [e for entries in logs.values() for e in entries if correlation_id in json.dumps(e)]
    assert {e["service"] for e in grepped} == set(SERVICES)
