"""Two console replicas behind one load balancer share what must be shared: a report built by one is
served by the other (its own reports directory is empty), and failed logins spread over both are
counted together."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pantau.auth import Role
from tests.console.conftest import PersonFactory
from tests.console.test_reports import DAY_ZERO, bearer_client
from tests.pipeline import Pipeline, free_port

MAX_FAILURES = 4


@pytest.mark.integration
def test_replicas_share_reports_and_the_login_throttle(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory, tmp_path: Path
) -> None:
    pipeline = pipeline_factory(
        "reports: {enabled: false}\n",
        services=("archiver", "alerting", "console"),
        PANTAU_LOGIN_MAX_FAILURES=str(MAX_FAILURES),
        PANTAU_REPORTS_DIR=str(tmp_path / "reports-1"),
    )
    second_port = free_port()
    pipeline.start(
        "console-2",
        service="console",
        PANTAU_CONSOLE_PORT=str(second_port),
        PANTAU_REPORTS_DIR=str(tmp_path / "reports-2"),
    )
    bases = [f"http://127.0.0.1:{port}" for port in (pipeline.console_port, second_port)]
    admin = person_factory(pipeline, "adi", Role.admin)
    planner = person_factory(pipeline, "pia", Role.planner)

    # A report built through replica 1, read through replica 2 (which never had the files).
    with bearer_client(bases[0], admin.token) as api:
        built = api.post("/api/v1/reports", json=DAY_ZERO)
        assert built.status_code == 200, built.text
    report = built.json()["report"]
    assert not (tmp_path / "reports-2").exists()
    with bearer_client(bases[0], planner.token) as api:
        html_1 = api.get(f"/api/v1/reports/{report['id']}.html")
    # Even replica 1 serves it from the database: its copy on disk may go with the pod.
    shutil.rmtree(tmp_path / "reports-1")
    with bearer_client(bases[1], planner.token) as api:
        assert [r["id"] for r in api.get("/api/v1/reports").json()] == [report["id"]]
        html_2 = api.get(f"/api/v1/reports/{report['id']}.html")
        pdf_2 = api.get(f"/api/v1/reports/{report['id']}.pdf")
    assert html_1.status_code == html_2.status_code == 200 and html_2.text == html_1.text
    assert "<svg" in html_2.text or "<table" in html_2.text
    assert pdf_2.status_code == 200 and pdf_2.content.startswith(b"%PDF-")
    assert pdf_2.headers["content-type"] == "application/pdf"
    assert 'filename="daily-' in pdf_2.headers["content-disposition"]

    # Wrong passwords alternate between the replicas: the throttle counts them all.
    def login(base: str, password: str) -> httpx.Response:
        return httpx.post(f"{base}/api/v1/session", json={"username": "pia", "password": password}, timeout=30)

    for n in range(MAX_FAILURES):
        assert login(bases[n % 2], "wrong").status_code == 401
    for base in bases:
        refused = login(base, planner.password)  # even the right password waits out the window
        assert refused.status_code == 429, refused.text
        assert 0 < int(refused.headers["Retry-After"]) <= 300
    # Another name from the same address still may log in (the address allows four times as many).
    with pipeline.db() as conn:
        counted = conn.execute("SELECT count(*) FROM login_failures WHERE key = 'user:pia'").fetchone()
    assert counted is not None and counted[0] == MAX_FAILURES
    other = httpx.post(f"{bases[1]}/api/v1/session", json={"username": "adi", "password": admin.password}, timeout=30)
    assert other.status_code == 200, other.text
