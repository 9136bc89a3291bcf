"""A report whose mail fails (the SMTP server is away) is kept and mailed again: by the console on
its own once the server is back, exactly once, and by an admin on demand."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from console.exceptions import MailNotPossible
from console.reports.scheduler import ReportsConfig, mail_report
from console.settings import Settings
from pantau.auth import Role
from tests.console.conftest import Inbox, PersonFactory
from tests.console.test_history_api import BASE, WIB
from tests.console.test_report_scheduler import _wait
from tests.console.test_reports import DAY_ZERO, RECIPIENTS, bearer_client
from tests.pipeline import Pipeline, free_port

CONFIG = f"""
timezone: Asia/Jakarta
reports:
  recipients: [{", ".join(RECIPIENTS)}]
  enabled: false  # built through the API; the schedule is tested in test_report_scheduler
"""
SECRET = "mail-test-" + "0123456789abcdef" * 2


def _row(pipeline: Pipeline, report_id: int) -> tuple[Any, ...]:
    with pipeline.db() as conn:
        row = conn.execute(
            "SELECT mailed_to, mail_error, mail_attempts, mail_tried_at FROM reports WHERE id = %s", (report_id,)
        ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.integration
def test_failed_mail_is_retried_until_the_server_is_back_and_can_be_sent_again(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory, tmp_path: Path
) -> None:
    smtp_port = free_port()  # nothing listens here until the server "comes back"
    pipeline = pipeline_factory(
        CONFIG,
        services=("archiver", "alerting", "console"),
        PANTAU_SMTP_HOST="127.0.0.1",
        PANTAU_SMTP_PORT=str(smtp_port),
        PANTAU_SMTP_FROM="pantau@malang.example",
        PANTAU_REPORTS_MAIL_RETRY_S="2",
    )
    admin = person_factory(pipeline, "adi", Role.admin)
    planner = person_factory(pipeline, "pia", Role.planner)
    base = f"http://127.0.0.1:{pipeline.console_port}"

    def client(token: str) -> httpx.Client:
        return bearer_client(base, token)

    body = DAY_ZERO
    with client(admin.token) as api:
        built = api.post("/api/v1/reports", json=body)
        assert built.status_code == 200, built.text
        report = built.json()["report"]
        # Kept, not mailed, and the reason is on the row.
        assert report["mailed_to"] == [] and "Connection refused" in (report["mail_error"] or "")
        assert report["mail_attempts"] == 1 and report["mail_tried_at"] is not None
        assert api.get(f"/api/v1/reports/{report['id']}.pdf").content.startswith(b"%PDF-")

        # An admin's "mail again" while the server is still away: 502 with the reason, one more try.
        again = api.post(f"/api/v1/reports/{report['id']}/mail")
        assert again.status_code == 502 and "Connection refused" in again.json()["detail"], again.text
        assert api.post("/api/v1/reports/999999/mail").status_code == 404

    # The console keeps trying on its own, every PANTAU_REPORTS_MAIL_RETRY_S.
    _wait(lambda: _row(pipeline, report["id"])[2] >= 4, 60, "two more tries by the console", pipeline)

    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    server.start()
    try:
        _wait(lambda: len(inbox.messages) >= 1, 60, "the mail once the server is back", pipeline)
        mailed_to, error, attempts, _tried_at = _row(pipeline, report["id"])
        assert sorted(mailed_to) == sorted(RECIPIENTS) and error is None
        rcpt, msg = inbox.messages[0]
        assert sorted(rcpt) == sorted(RECIPIENTS)
        assert msg["Subject"] == f"Daily report {BASE.astimezone(WIB).date().isoformat()}"
        pdfs = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
        assert len(pdfs) == 1 and pdfs[0].get_content().startswith(b"%PDF-")
        assert msg.get_body(preferencelist=("html",)) is not None

        # Sent is sent: a few more retry intervals mail nothing more.
        time.sleep(6)
        assert len(inbox.messages) == 1 and _row(pipeline, report["id"])[2] == attempts

        # An admin may send it again (a recipient added since, a lost mail); a planner may not.
        with client(planner.token) as api:
            assert api.post(f"/api/v1/reports/{report['id']}/mail").status_code == 403
        with client(admin.token) as api:
            resent = api.post(f"/api/v1/reports/{report['id']}/mail")
            assert resent.status_code == 200, resent.text
            assert resent.json()["mail_error"] is None and resent.json()["mail_attempts"] == attempts + 1
        assert len(inbox.messages) == 2
    finally:
        server.stop()


@pytest.mark.unit
def test_mailing_needs_a_server_and_recipients() -> None:
    no_server = Settings(token_secret=SECRET)
    with pytest.raises(MailNotPossible, match="PANTAU_SMTP_HOST"):
        mail_report(None, no_server, ReportsConfig(recipients=RECIPIENTS), "UTC", 1, resend=True)  # type: ignore[arg-type]
    with_server = Settings(token_secret=SECRET, smtp_host="127.0.0.1")
    with pytest.raises(MailNotPossible, match="recipients"):
        mail_report(None, with_server, ReportsConfig(recipients=[]), "UTC", 1, resend=True)  # type: ignore[arg-type]
