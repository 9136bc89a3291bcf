"""The report scheduler inside a running console: it catches up the runs missed while no console was
up, builds and mails the daily report when its time comes, and deletes reports past their retention;
and ``pantau report`` builds a chosen day from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from console.reports import queries as q
from tests.console.conftest import Inbox
from tests.console.test_history_api import BASE, INCIDENTS, _produce
from tests.console.test_reports import RECIPIENTS
from tests.pipeline import Pipeline

WIB = ZoneInfo("Asia/Jakarta")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _wait(condition: Callable[[], bool], timeout_s: float, what: str, pipeline: Pipeline) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout_s} s\n{pipeline.log_tail('console', 60)}")
        time.sleep(0.5)


def _periods(pipeline: Pipeline, kind: str) -> list[datetime]:
    with pipeline.db() as conn:
        rows = conn.execute("SELECT period_from FROM reports WHERE kind = %s ORDER BY period_from", (kind,)).fetchall()
    return [row[0] for row in rows]


@pytest.mark.integration
def test_console_catches_up_runs_on_time_and_sweeps_old_reports(
    pipeline_factory: Callable[..., Pipeline], smtp_inbox: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp_inbox
    now_local = datetime.now(WIB)
    # Today's daily run 45 s from now (after the catch-up at start-up); the weekly one on another day.
    daily_at = (now_local + timedelta(seconds=45)).time().replace(microsecond=0)
    weekly_on = WEEKDAYS[(now_local.weekday() + 3) % 7]
    config = f"""
timezone: Asia/Jakarta
reports:
  recipients: [{", ".join(RECIPIENTS)}]
  daily_at: "{daily_at.isoformat()}"
  weekly_on: {weekly_on}
  weekly_at: "07:30"
"""
    reports_dir = tmp_path / "reports"
    pipeline = pipeline_factory(
        config,
        services=("archiver", "alerting"),
        PANTAU_SMTP_HOST="127.0.0.1",
        PANTAU_SMTP_PORT=str(port),
        PANTAU_REPORTS_DIR=str(reports_dir),
        PANTAU_REPORTS_CATCH_UP="2",
    )
    # A weekly report from two years ago, as an earlier console left it: past the 400-day retention.
    reports_dir.mkdir()
    old_html, old_pdf = reports_dir / "weekly-old.html", reports_dir / "weekly-old.pdf"
    old_html.write_text("<p>old</p>")
    old_pdf.write_bytes(b"%PDF-old")
    old_from = datetime.now(UTC) - timedelta(days=730)
    with pipeline.db() as conn:
        for statement in q.SCHEMA_STATEMENTS:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO reports (kind, period_from, period_to, html_path, pdf_path) VALUES ('weekly', %s, %s, %s, %s)",
            (old_from, old_from + timedelta(days=7), str(old_html), str(old_pdf)),
        )

    pipeline.start("console")

    # Catch-up: the last daily run only (no daily report yet); the two latest weekly runs (bounded by
    # PANTAU_REPORTS_CATCH_UP, though the last weekly report is two years old); then the sweep.
    _wait(
        lambda: len(_periods(pipeline, "daily")) == 1 and len(_periods(pipeline, "weekly")) == 2,
        60,
        "catch-up",
        pipeline,
    )
    _wait(lambda: not old_html.exists(), 30, "the sweep of the old report", pipeline)
    assert not old_pdf.exists()
    weekly = _periods(pipeline, "weekly")
    assert old_from not in weekly and weekly[1] - weekly[0] == timedelta(days=7)
    assert weekly[1].astimezone(WIB).weekday() == WEEKDAYS.index(weekly_on)  # a week ends on the run's weekday
    first_daily = _periods(pipeline, "daily")[0]

    # The daily run comes at daily_at and reports the day before it.
    _wait(lambda: len(_periods(pipeline, "daily")) == 2, 90, "the scheduled daily report", pipeline)
    second_daily = _periods(pipeline, "daily")[1]
    assert second_daily - first_daily == timedelta(days=1)
    run_day = (now_local + timedelta(seconds=45)).date()
    assert second_daily == datetime.combine(run_day - timedelta(days=1), datetime.min.time(), tzinfo=WIB)
    _wait(lambda: len(inbox.messages) == 4, 30, "four mails", pipeline)
    assert all(sorted(rcpt) == sorted(RECIPIENTS) for rcpt, _msg in inbox.messages)
    for path in reports_dir.iterdir():
        assert path.stat().st_size > 0
    assert len(list(reports_dir.glob("*.pdf"))) == 4

    # A restarted console has nothing to catch up: no new report, no new mail.
    pipeline.kill("console")
    pipeline.start("console")
    time.sleep(5)
    assert len(_periods(pipeline, "daily")) == 2 and len(_periods(pipeline, "weekly")) == 2
    assert len(inbox.messages) == 4


@pytest.mark.integration
def test_report_command_builds_a_chosen_day_once(
    pipeline_factory: Callable[..., Pipeline], smtp_inbox: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp_inbox
    config = f"timezone: Asia/Jakarta\nreports:\n  recipients: [{RECIPIENTS[0]}]\n  enabled: false\n"
    reports_dir = tmp_path / "reports"
    pipeline = pipeline_factory(config, services=("archiver", "alerting"))
    _produce(pipeline)
    assert pipeline.wait_count("incidents", len(INCIDENTS)) == len(INCIDENTS)
    env: dict[str, Any] = {
        **os.environ,
        **pipeline.env,
        "PANTAU_SMTP_HOST": "127.0.0.1",
        "PANTAU_SMTP_PORT": str(port),
        "PANTAU_REPORTS_DIR": str(reports_dir),
    }
    day = BASE.astimezone(WIB).date().isoformat()

    def report(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pantau.cli", "report", "daily", "--day", day, *extra]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    built = report()
    assert built.returncode == 0, built.stderr
    assert f"daily report {day} .." in built.stdout and "built" in built.stdout
    page = (reports_dir / f"daily-{day}.html").read_text(encoding="utf-8")
    assert "<strong>3</strong> incidents raised" in page  # as the API-built report of the same day
    assert (reports_dir / f"daily-{day}.pdf").read_bytes().startswith(b"%PDF-")
    assert inbox.messages == []  # without --send nothing is mailed

    again = report("--send")
    assert again.returncode == 0, again.stderr
    assert "already kept" in again.stdout and inbox.messages == []

    tomorrow = (BASE.astimezone(WIB) + timedelta(days=1)).date().isoformat()
    sent = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "report", "daily", "--day", tomorrow, "--send"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    assert f"mailed to {RECIPIENTS[0]}" in sent.stdout and len(inbox.messages) == 1

    future = (datetime.now(WIB) + timedelta(days=1)).date().isoformat()
    refused = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "report", "daily", "--day", future],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1 and "has not ended yet" in refused.stderr
