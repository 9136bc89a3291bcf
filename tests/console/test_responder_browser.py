"""The responder's phone page in a real browser (Debian's Chromium driven by Playwright, a 360x740
viewport), on the real stack: an alert assigned to the responder's group appears live; an alert sent
to the group is acknowledged from the phone, reported on scene and documented with a note and a
photo (shrunk in the page before upload), which the operator sees in the console; when the operator
closes it, the phone shows the stand-down. Screenshots are saved under ``test-output/browser/``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import orjson
import pytest
from kafka import KafkaProducer
from playwright.sync_api import Browser, FilePayload, Page, ViewportSize, expect, sync_playwright

from pantau.auth import Role
from tests.alerting.conftest import Hook
from tests.console.conftest import LoginFactory, Person, PersonFactory
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
PHONE = ViewportSize(width=360, height=740)
CONFIG = """
timezone: Asia/Jakarta
sensors:
  - {{id: wl-01, kind: water_level, name: Brantas, location: {{lat: -7.94, lon: 112.61, district: Lowokwaru}}}}
  - {{id: smoke-01, kind: smoke, name: SDN Klojen, location: {{lat: -7.98, lon: 112.63, district: Klojen}}}}
alerting:
  corroboration_window_s: 0
  channels:
    - {{type: webhook, name: field-hook, url: "{hook}", secret: "a-webhook-secret-of-some-length", timeout_s: 2}}
  routing:
    groups: [{{id: rescue-klojen, name: Rescue Klojen}}, {{id: duty, name: Duty officers}}]
    responders:
      - {{id: budi, name: Budi, groups: [rescue-klojen], channels: [field-hook]}}
      - {{id: sari, name: Sari, groups: [duty]}}
    routes:
      - {{match: {{types: [smoke]}}, tiers: [{{groups: [rescue-klojen], ack_deadline_s: 3600}}]}}
      - {{match: {{}}, tiers: [{{groups: [duty], ack_deadline_s: 3600}}]}}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: deploy/local/install-system.sh installs it (make setup)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()  # stands in for the field team's push receiver
    yield receiver
    receiver.server.shutdown()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _produce(pipeline: Pipeline, incident_id: str, source: str, incident_type: str, district: str) -> None:
    now = datetime.now(UTC).isoformat()
    incident = {"id": incident_id, "type": incident_type, "source": source, "source_kind": "sensor", "rule": "r",
                "ts": now, "detected_at": now, "severity": "critical",
                "location": {"lat": -7.98, "lon": 112.63, "district": district},
                "title": f"{incident_type} at {source}", "evidence": {}}  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(pipeline.topic("pantau.incidents.v1"), key=source.encode(), value=orjson.dumps(incident)).get(10)
    producer.close()


def _photo() -> bytes:
    """A 1600x1200 JPEG, as a phone camera would give (bigger than the page sends)."""
    picture = np.full((1200, 1600, 3), (40, 60, 90), np.uint8)
    cv2.rectangle(picture, (300, 400), (1300, 1100), (30, 90, 230), -1)
    cv2.circle(picture, (800, 300), 160, (200, 200, 255), -1)
    ok, buf = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def _alert(operator: httpx.Client, source: str) -> dict[str, Any]:
    for alert in operator.get("/api/v1/alerts").json()["alerts"]:
        if alert["source"] == source:
            found: dict[str, Any] = alert
            return found
    raise AssertionError(f"no alert from {source}")


def _login(page: Page, pipeline: Pipeline, person: Person, path: str) -> None:
    page.goto(f"http://127.0.0.1:{pipeline.console_port}{path}")
    page.get_by_test_id("login-username").fill(person.name)
    page.get_by_test_id("login-password").fill(person.password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("conn-status")).to_have_attribute("data-state", "live", timeout=15_000)


def test_a_responder_on_a_phone_acknowledges_reports_on_scene_and_is_stood_down(
    browser: Browser,
    hook: Hook,
    pipeline_factory: Callable[..., Pipeline],
    person_factory: PersonFactory,
    login_factory: LoginFactory,
) -> None:
    pipeline = pipeline_factory(CONFIG.format(hook=hook.url), services=("archiver", "alerting", "console"))
    budi = person_factory(pipeline, "budi", Role.responder)
    ani_person = person_factory(pipeline, "ani", Role.operator)
    ani = login_factory(pipeline, ani_person)

    phone_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="id-ID")
    phone = phone_context.new_page()
    errors: list[str] = []
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    phone.goto(f"http://127.0.0.1:{pipeline.console_port}/responder")
    expect(phone.get_by_test_id("login-username")).to_be_visible()
    _shot(phone, "responder-login")
    _login(phone, pipeline, budi, "/responder")
    expect(phone.get_by_test_id("list-empty")).to_be_visible()
    _shot(phone, "responder-empty")
    # The service worker (for Web Push) controls the page: served under /responder, allowed that scope.
    scope = phone.evaluate("navigator.serviceWorker.ready.then((registration) => registration.scope)")
    assert scope == f"http://127.0.0.1:{pipeline.console_port}/responder"
    expect(phone.get_by_test_id("push-toggle")).to_be_visible()
    # The page fits the phone: nothing wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # An operator assigns an alert to budi's group: it appears on his phone at once.
    _produce(pipeline, "inc-water", "wl-01", "water_level_high", "Lowokwaru")
    assert pipeline.wait_count("alerts", 1) == 1
    water = _alert(ani, "wl-01")
    assigned = ani.post(
        f"/api/v1/alerts/{water['id']}/assign", json={"version": water["version"], "assignee": "rescue-klojen"}
    )
    assert assigned.status_code == 200, assigned.text
    card = phone.get_by_test_id("r-alert").filter(has_text="wl-01")
    expect(card).to_be_visible(timeout=15_000)
    expect(card).to_have_attribute("data-status", "assigned")
    _shot(phone, "responder-group-alert-live")

    # A smoke alert is sent to his group (routed and pushed to him): he acknowledges it from the phone.
    _produce(pipeline, "inc-smoke", "smoke-01", "smoke", "Klojen")
    card = phone.get_by_test_id("r-alert").filter(has_text="smoke-01")
    expect(card).to_be_visible(timeout=30_000)
    expect(card).to_have_attribute("data-status", "new")
    _shot(phone, "responder-list")
    card.click()
    expect(phone.get_by_test_id("r-title")).to_contain_text("smoke at smoke-01")
    expect(phone.get_by_test_id("r-reason")).to_contain_text("P1")
    expect(phone.get_by_test_id("r-maps")).to_have_attribute("href", "geo:-7.980000,112.630000?q=-7.980000,112.630000")
    osm = phone.get_by_test_id("r-maps-osm").get_attribute("href") or ""
    assert osm.startswith("https://www.openstreetmap.org/?mlat=-7.980000&mlon=112.630000")
    _shot(phone, "responder-detail")
    phone.get_by_test_id("r-ack").click()
    expect(phone.get_by_test_id("r-status")).to_have_attribute("data-status", "acknowledged", timeout=10_000)
    expect(phone.get_by_test_id("r-ack")).to_have_count(0)
    smoke = _alert(ani, "smoke-01")
    assert (smoke["status"], smoke["acknowledged_by"]) == ("acknowledged", "budi")

    # On scene, then a note with a photo from the scene.
    phone.get_by_test_id("r-on-scene").click()
    expect(phone.get_by_test_id("r-my-status")).to_have_attribute("data-status", "on_scene", timeout=10_000)
    expect(phone.get_by_test_id("r-on-scene")).to_have_attribute("aria-pressed", "true")
    phone.get_by_test_id("r-note-text").fill("Asap dari lantai 2, murid sudah dievakuasi")
    phone.get_by_test_id("r-photo-input").set_input_files(
        files=[FilePayload(name="scene.jpg", mimeType="image/jpeg", buffer=_photo())]
    )
    expect(phone.get_by_test_id("r-photo-preview")).to_be_visible(timeout=10_000)
    _shot(phone, "responder-on-scene-note")
    phone.get_by_test_id("r-note-send").click()
    photo = phone.get_by_test_id("r-note-photo")
    expect(photo).to_be_visible(timeout=10_000)
    expect(phone.get_by_test_id("r-notes")).to_contain_text("murid sudah dievakuasi")
    phone.wait_for_function("() => document.querySelector('[data-testid=r-note-photo]').naturalWidth > 0")
    assert photo.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1280, 960]  # shrunk in the page
    expect(phone.get_by_test_id("r-note-text")).to_have_value("")
    _shot(phone, "responder-note-sent")
    with pipeline.db() as conn:
        rows = conn.execute("SELECT alert_id, actor, jpeg FROM alert_photos").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(smoke["id"], "budi")]
    stored = cv2.imdecode(np.frombuffer(bytes(rows[0][2]), np.uint8), cv2.IMREAD_COLOR)
    assert stored is not None and stored.shape[:2] == (960, 1280)

    # The operator sees the photo in the alert's notes on the console.
    console_context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="id-ID")
    console = console_context.new_page()
    console.on("pageerror", lambda exc: errors.append(f"console: {exc}"))
    _login(console, pipeline, ani_person, "/")
    console.get_by_test_id("alert-row").filter(has_text="smoke-01").click()
    expect(console.get_by_test_id("note-photo")).to_be_visible(timeout=10_000)
    console.wait_for_function("() => document.querySelector('[data-testid=note-photo]').naturalWidth > 0")
    _shot(console, "console-scene-photo")
    console_context.close()

    # The operator closes it: the phone shows the stand-down, and the push receiver got one too.
    smoke = _alert(ani, "smoke-01")
    closing = {"version": smoke["version"], "close_reason": "handled"}
    closed = ani.post(f"/api/v1/alerts/{smoke['id']}/close", json=closing)
    assert closed.status_code == 200, closed.text
    banner = phone.get_by_test_id("stand-down")
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_contain_text("smoke at smoke-01")
    expect(phone.get_by_test_id("r-closed")).to_be_visible()
    expect(phone.get_by_test_id("r-actions")).to_have_count(0)
    _shot(phone, "responder-stand-down")
    phone.get_by_test_id("r-back").click()
    expect(phone.get_by_test_id("r-alert")).to_have_count(1)  # the water alert is still his group's
    hook.wait_for(lambda bodies: any(b["kind"] == "stand_down" and b["alert"]["id"] == smoke["id"] for b in bodies))

    # Evidence access: each view of the photo is recorded, by whom.
    admin = login_factory(pipeline, person_factory(pipeline, "root", Role.admin))
    viewers = {(e["user"], e["kind"]) for e in admin.get("/api/v1/evidence-access").json()}
    assert {("budi", "scene_photo"), ("ani", "scene_photo")} <= viewers
    assert errors == []
    phone_context.close()
