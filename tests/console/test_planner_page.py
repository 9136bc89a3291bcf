"""The planners' page (``/planner``): the shell and its assets, without services (file checks: no
inline script, nothing from another origin, server data never as HTML, every string translated),
and served by a real console with the same content-security policy as the other pages."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from console.routers import pages
from tests.pipeline import Pipeline

ASSETS = ("planner.js", "planner.css", "i18n-planner.js")
TEST_IDS = ("planner-apply", "planner-from", "planner-to", "cap-export", "login-username", "lang-toggle", "logout")
# The leadership reports card: its shell in the page, its rows and buttons made by the script.
REPORT_IDS = ("reports", "report-build", "report-build-kind", "report-error", "report-list")
REPORT_SCRIPT_IDS = ("report-row", "report-mail", "report-html", "report-pdf", "report-mail-state")


@pytest.mark.unit
def test_the_shell_has_no_inline_script_and_loads_its_assets() -> None:
    html = (pages.PLANNER_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers either
    assert not re.search(r"(src|href)=\"https?://", html)
    for asset in ASSETS:
        assert f'"/static/planner/{asset}"' in html
        assert (pages.PLANNER_DIR / asset).is_file()
    for shared in ("dom.js", "api.js", "i18n.js"):
        assert f'<script defer src="/static/{shared}"></script>' in html
    for test_id in TEST_IDS + REPORT_IDS:
        assert f'data-testid="{test_id}"' in html
    assert bytes(pages.planner().body).decode() == html


@pytest.mark.unit
def test_the_script_puts_server_data_in_as_text_and_translates_every_key() -> None:
    script = (pages.PLANNER_DIR / "planner.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script
    html = (pages.PLANNER_DIR / "index.html").read_text()
    keys = set(re.findall(r'\bt\("([\w.]+)"', script)) | set(re.findall(r'data-i18n(?:-placeholder)?="([\w.]+)"', html))
    dictionaries = (pages.PLANNER_DIR / "i18n-planner.js").read_text() + (pages.STATIC_DIR / "i18n.js").read_text()
    defined = set(re.findall(r'^\s*"([\w.]+)": \[', dictionaries, re.MULTILINE))
    assert keys and keys <= defined, keys - defined
    # Every chart card the browser test and the docs name.
    for name in ("incidents", "readings", "crossings", "heatmap", "response-times", "false-alarms", "top-sources"):
        assert f'"{name}"' in script
    assert '"sensor"' in script and 'url("/crossings"' in script
    # The reports card reads the reports API and names its rows and buttons.
    assert '"/api/v1/reports"' in script
    for test_id in REPORT_SCRIPT_IDS:
        assert f'testid: "{test_id}"' in script


@pytest.mark.integration
def test_the_console_serves_the_page_and_its_assets(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory("timezone: Asia/Jakarta\n", services=("console",))
    with httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=10) as client:
        page = client.get("/planner")  # anonymous: the shell (the login form), no data
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert 'id="login-form"' in page.text
        for asset, media in (("planner.js", "javascript"), ("i18n-planner.js", "javascript"), ("planner.css", "css")):
            answer = client.get(f"/static/planner/{asset}")
            assert answer.status_code == 200 and media in answer.headers["content-type"], asset
        assert client.get("/api/v1/history/incidents").status_code == 401
