"""The responder view's pieces without services: whose alerts a responder's feed and REST scope take
(groups from alerting's routing config), and the installable page's manifest, icons and worker."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import pytest

from alerting.schemas import Alert
from console import queries
from console.configview import ConfigView
from console.feed import ClientFilter
from console.responders import groups_of
from console.routers import pages

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
ROUTING = """
alerting:
  routing:
    groups: [{id: rescue-klojen, name: Rescue Klojen}, {id: duty, name: Duty}]
    responders:
      - {id: budi, name: Budi, groups: [rescue-klojen, duty]}
      - {id: sari, name: Sari, groups: [duty]}
    routes: [{match: {}, tiers: [{groups: [rescue-klojen]}, {groups: [duty]}]}]
"""


@pytest.fixture
def alert_factory() -> Callable[..., Alert]:
    def make(alert_id: str, **extra: Any) -> Alert:
        return Alert.model_validate(
            {"id": alert_id, "status": "new", "priority": 2, "priority_reason": "P2", "severity": "high",
             "type": "smoke", "source": f"src-{alert_id}", "source_kind": "sensor", "title": alert_id,
             "first_seen": T0, "last_seen": T0, "count": 1, "last_incident_id": "i", "version": 1,
             "change": "opened", "updated_at": T0, **extra}
        )  # fmt: skip

    return make


def test_a_responders_feed_takes_their_groups_alerts(alert_factory: Callable[..., Alert]) -> None:
    budi = ClientFilter(responder="budi", groups=frozenset({"rescue-klojen", "duty"}))
    assert not budi.everything
    assert budi.matches(alert_factory("a", status="assigned", assignee="rescue-klojen"))
    assert budi.matches(alert_factory("b", status="assigned", assignee="sari", responders={"duty": "notified"}))
    assert budi.matches(alert_factory("c", status="acknowledged", acknowledged_by="budi"))
    assert budi.matches(alert_factory("d", status="assigned", assignee="budi"))
    assert not budi.matches(alert_factory("e", status="assigned", assignee="rescue-sukun"))
    assert not budi.matches(alert_factory("f"))
    # Without groups, a group's alert is not theirs; other filters still apply on top.
    assert not ClientFilter(responder="budi").matches(alert_factory("g", assignee="rescue-klojen"))
    strict = ClientFilter(responder="budi", groups=frozenset({"duty"}), max_priority=1)
    assert not strict.matches(alert_factory("h", assignee="duty"))


def test_groups_come_from_alertings_routing_config(tmp_path: Path) -> None:
    config = tmp_path / "pantau.yaml"
    config.write_text(ROUTING)
    view = ConfigView(config)
    assert groups_of(view, "budi") == {"rescue-klojen", "duty"}
    assert groups_of(view, "sari") == {"duty"}
    assert groups_of(view, "nobody") == frozenset()
    assert groups_of(ConfigView(None), "budi") == frozenset()


def test_the_rest_scope_binds_the_groups() -> None:
    statement, params = queries.list_alerts(
        queries.AlertFilters(routed_to="budi", routed_groups=["duty", "rescue-klojen"], limit=10)
    )
    assert params["user"] == "budi" and params["groups"] == ["duty", "rescue-klojen"]
    assert "ANY(%(groups)s::text[])" in statement and "?| %(groups)s::text[]" in statement
    everything, params = queries.list_alerts(queries.AlertFilters(limit=10))
    assert "groups" not in params and "%(groups)s" not in everything
    assert "%(groups)s" in queries.ALERT_ROUTED


def test_the_installable_page() -> None:
    root = pages.RESPONDER_DIR
    html = (root / "index.html").read_text()
    assert '<link rel="manifest" href="/responder/manifest.webmanifest">' in html
    # No inline script (the console's CSP allows script-src 'self' only), nothing from another origin.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"(src|href)=\"https?://", html)
    manifest = json.loads((root / "manifest.webmanifest").read_text())
    assert manifest["start_url"] == "/responder" and manifest["display"] == "standalone"
    assert manifest["scope"] == "/responder" and manifest["theme_color"].startswith("#") and manifest["name"]
    for icon in manifest["icons"]:
        path = root / icon["src"].removeprefix("/static/responder/")
        assert path.is_file(), icon["src"]
        if icon["type"] == "image/png":
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            width, height = (int(n) for n in icon["sizes"].split("x"))
            assert image is not None and image.shape[:2] == (height, width)
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}
    assert any(icon["type"] == "image/svg+xml" for icon in manifest["icons"])


def test_the_service_worker_may_control_the_page() -> None:
    worker = pages.responder_service_worker()
    assert worker.headers["service-worker-allowed"] == "/responder"
    assert worker.media_type == "text/javascript"
    source = (pages.RESPONDER_DIR / "sw.js").read_text()
    for event in ("push", "notificationclick"):
        assert f'addEventListener("{event}"' in source
    assert "stand_down" in source
    manifest = pages.responder_manifest()
    assert manifest.media_type == "application/manifest+json"


def test_a_pushs_link_opens_the_responder_page_on_its_alert() -> None:
    answer = pages.alert_link("3f2a-alert-1")
    assert answer.status_code == 303 and answer.headers["location"] == "/responder#/alert/3f2a-alert-1"
