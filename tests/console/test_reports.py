"""Leadership reports on the real stack: incidents through Kafka, alerts handled through alerting,
a report built through the API and mailed to a local SMTP server (aiosmtpd); its figures, the PDF
attachment, idempotency and roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from pantau.auth import Role
from tests.console.conftest import Inbox, PersonFactory
from tests.console.test_history_api import BASE, INCIDENTS, _handle_alerts, _produce
from tests.pipeline import Pipeline

RECIPIENTS = ["mayor@malang.example", "chief@malang.example"]
CONFIG = f"""
timezone: Asia/Jakarta
alerting:
  corroboration_window_s: 0
  reopen_window_s: 0
reports:
  recipients: [{", ".join(RECIPIENTS)}]
  daily_at: "07:00"
  weekly_on: monday
  enabled: false  # built through the API here; the schedule and its catch-up are tested on their own
"""


# The first day of test_history_api's data, as a report request.
DAY_ZERO = {"kind": "daily", "from": BASE.isoformat(), "to": (BASE + timedelta(days=1)).isoformat()}


def bearer_client(base: str, token: str) -> httpx.Client:
    """A client of the console at ``base`` that sends ``token``."""
    return httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.integration
def test_daily_report_is_built_mailed_once_and_guarded(
    pipeline_factory: Callable[..., Pipeline],
    person_factory: PersonFactory,
    smtp_inbox: tuple[Inbox, int],
    tmp_path: Any,
) -> None:
    inbox, port = smtp_inbox
    pipeline = pipeline_factory(
        CONFIG,
        services=("archiver", "alerting", "console"),
        PANTAU_SMTP_HOST="127.0.0.1",
        PANTAU_SMTP_PORT=str(port),
        PANTAU_SMTP_FROM="pantau@malang.example",
        PANTAU_REPORTS_DIR=str(tmp_path / "reports"),
    )
    _produce(pipeline)
    assert pipeline.wait_count("incidents", len(INCIDENTS)) == len(INCIDENTS)
    assert pipeline.wait_count("alerts", 4) == 4
    _handle_alerts(pipeline)

    base = f"http://127.0.0.1:{pipeline.console_port}"
    admin = person_factory(pipeline, "adi", Role.admin)
    planner = person_factory(pipeline, "pia", Role.planner)
    operator = person_factory(pipeline, "ani", Role.operator)
    responder = person_factory(pipeline, "rio", Role.responder)

    def client(token: str) -> httpx.Client:
        return bearer_client(base, token)

    body = DAY_ZERO
    with client(admin.token) as api:
        first = api.post("/api/v1/reports", json=body)
        assert first.status_code == 200, first.text
        again = api.post("/api/v1/reports", json=body)
        assert again.status_code == 200, again.text
    assert first.json()["created"] is True and again.json()["created"] is False
    report = first.json()["report"]
    assert again.json()["report"]["id"] == report["id"]
    assert sorted(report["mailed_to"]) == sorted(RECIPIENTS) and report["mail_error"] is None

    # One mail, to every recipient, with the HTML body and the PDF attached.
    assert len(inbox.messages) == 1
    rcpt, msg = inbox.messages[0]
    assert sorted(rcpt) == sorted(RECIPIENTS)
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    page = html_part.get_content()
    attachments = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(attachments) == 1 and attachments[0].get_content().startswith(b"%PDF-")

    # Figures: the first local day holds inc-1 (Klojen intrusion) and inc-3, inc-5 (Sukun floods);
    # the cleared inc-4 and the next day's incidents are not counted.
    assert "<strong>3</strong> incidents raised" in page
    assert "<td>Sukun</td><td>water_level_high</td><td class=n>2</td>" in page
    assert "<td>Klojen</td><td>intrusion</td><td class=n>1</td>" in page
    assert "Blimbing" not in page
    assert "<svg" in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")

    # Downloads and roles.
    for person in (planner, operator, admin):
        with client(person.token) as api:
            listed = api.get("/api/v1/reports")
            assert listed.status_code == 200 and [r["id"] for r in listed.json()] == [report["id"]]
            got_html = api.get(f"/api/v1/reports/{report['id']}.html")
            assert got_html.status_code == 200 and got_html.text.split() == page.split()  # the mail has CRLF line ends
            got_pdf = api.get(f"/api/v1/reports/{report['id']}.pdf")
            assert got_pdf.status_code == 200 and got_pdf.content.startswith(b"%PDF-")
    with client(operator.token) as api:
        assert api.post("/api/v1/reports", json=body).status_code == 403
    with client(planner.token) as api:
        assert api.post("/api/v1/reports", json=body).status_code == 403
    with client(responder.token) as api:
        assert api.get("/api/v1/reports").status_code == 403
    assert httpx.get(f"{base}/api/v1/reports", timeout=10).status_code == 401
    with pipeline.db() as conn:
        row = conn.execute("SELECT count(*) FROM reports").fetchone()
    assert row is not None and row[0] == 1
    assert len(inbox.messages) == 1
