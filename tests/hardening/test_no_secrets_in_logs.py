"""No secret reaches a log: every service runs at DEBUG with secrets in each place a deployment puts
them (token secret, database password, SMTP password, a webhook's signing key and the credentials
and token in its URL), and the paths that tend to leak them are exercised (failed logins, rejected
tokens, a receiver that keeps failing). Every line the services wrote is then searched."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from pantau import users
from pantau.auth import Role
from pantau.stack import Stack
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


class FailingReceiver:
    """A webhook receiver that answers 500 to everything and counts the attempts."""

    def __init__(self) -> None:
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.attempts += 1
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]


@pytest.fixture
def receiver() -> Iterator[FailingReceiver]:
    made = FailingReceiver()
    yield made
    made.server.shutdown()


def test_no_secret_appears_in_any_log(
    stack: Stack, pipeline_factory: Callable[..., Pipeline], receiver: FailingReceiver
) -> None:
    hook_key, url_token, url_password = (secrets.token_urlsafe(24) for _ in range(3))
    smtp_password, user_password = (secrets.token_urlsafe(24) for _ in range(2))
    config = f"""
alerting:
  channels:
    - {{type: webhook, name: ops, url: "http://ops:{url_password}@127.0.0.1:{receiver.port}/hook?token={url_token}",
       secret: "{hook_key}", timeout_s: 2}}
  routing:
    groups: [{{id: rescue, name: Rescue}}]
    responders: [{{id: budi, name: Budi, groups: [rescue], channels: [ops]}}]
    routes: [{{match: {{}}, tiers: [{{groups: [rescue], ack_deadline_s: 3600}}]}}]
"""
    db_password = stack.settings.pg_password  # the stack's own: connections over TCP must give it
    url = stack.settings.database_url
    assert f":{db_password}@" in url
    pipeline = pipeline_factory(
        config,
        PANTAU_DATABASE_URL=url,
        PANTAU_SMTP_HOST="127.0.0.1",
        PANTAU_SMTP_USER="pantau",
        PANTAU_SMTP_PASSWORD=smtp_password,
        PANTAU_LOG_LEVEL="DEBUG",
    )
    with pipeline.db() as conn:
        users.apply_schema(conn)
        users.add_user(conn, "ani", Role.operator, user_password)
    ingest_token = pipeline.token(Role.ingest, "gw")
    console = f"http://127.0.0.1:{pipeline.console_port}"
    with httpx.Client(timeout=30) as http:
        # A rejected login (the attempted password is a secret too), a good one, forged and good tokens.
        assert (
            http.post(
                f"{console}/api/v1/session", json={"username": "ani", "password": user_password + "x"}
            ).status_code
            == 401
        )
        assert (
            http.post(f"{console}/api/v1/session", json={"username": "ani", "password": user_password}).status_code
            == 200
        )
        forged = ingest_token[:-4] + "AAAA"
        ingest = f"http://127.0.0.1:{pipeline.ingest_port}/api/v1/readings"
        assert http.post(ingest, json=[], headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        reading = {"sensor_id": "gauge-s", "kind": "water_level", "value": 1.0, "unit": "m"}
        reading["ts"] = datetime.now(UTC).isoformat()
        assert http.post(ingest, json=[reading], headers={"Authorization": f"Bearer {ingest_token}"}).status_code == 202
    now = datetime.now(UTC).isoformat()
    incident = {
        "id": "inc-secret-test", "type": "water_level", "source": "river-s", "source_kind": "sensor", "rule": "flood",
        "ts": now, "detected_at": now, "severity": "critical", "title": "River high",
        "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"},
    }  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(pipeline.topic("pantau.incidents.v1"), key=b"river-s", value=orjson.dumps(incident)).get(10)
    producer.close()
    deadline = time.monotonic() + 60
    while receiver.attempts < 2:  # the first push failed and its retry too: both were logged
        assert time.monotonic() < deadline, "the webhook was not retried"
        time.sleep(0.2)
    assert pipeline.wait_count("sensor_readings", 1) == 1
    time.sleep(1.0)  # the retry's outcome reaches the log

    logs = {name: pipeline.log_file(name).read_text(errors="replace") for name in pipeline.procs}
    assert all(logs.values()) and "failed (attempt 2, retrying" in logs["alerting"], {
        k: v[-2000:] for k, v in logs.items()
    }
    secrets_by_name = {
        "token secret": pipeline.secret,
        "database password": db_password,
        "SMTP password": smtp_password,
        "webhook signing key": hook_key,
        "webhook URL token": url_token,
        "webhook URL password": url_password,
        "user password": user_password,
        "bearer token": ingest_token,
    }
    leaks = [
        (what, service) for what, value in secrets_by_name.items() for service, text in logs.items() if value in text
    ]
    assert leaks == []
