"""The operator page in a real browser (Debian's Chromium driven by Playwright), on the real stack:
log in, see an alert produced on Kafka appear live, acknowledge it and watch a second operator's
screen follow; raise an alert by hand; the page in Indonesian and English. Screenshots are saved
under ``test-output/browser/``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pantau.auth import Role
from tests.console.conftest import Person, PersonFactory
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
CONFIG = """
timezone: Asia/Jakarta
sensors:
  - {id: wl-01, kind: water_level, name: Brantas at Dinoyo, location: {lat: -7.94, lon: 112.61, district: Lowokwaru}}
  - {id: smoke-01, kind: smoke, name: SDN Klojen, location: {lat: -7.98, lon: 112.63, district: Klojen}}
alerting:
  corroboration_window_s: 0
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: deploy/local/install-system.sh installs it (make setup)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


PageFactory = Callable[[Pipeline, Person], Page]
PAGE_ERRORS: dict[int, list[str]] = {}  # script errors seen on each page, by id(page)


def _errors(page: Page) -> list[str]:
    return PAGE_ERRORS.get(id(page), [])


@pytest.fixture
def page_factory(browser: Browser) -> Iterator[PageFactory]:
    """A logged-in operator's page (its own browser context: its own cookies), on a wall-screen size."""
    contexts = []

    def make(pipeline: Pipeline, person: Person) -> Page:
        context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="id-ID")
        contexts.append(context)
        page = context.new_page()
        errors = PAGE_ERRORS.setdefault(id(page), [])
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"http://127.0.0.1:{pipeline.console_port}/")
        page.get_by_test_id("login-username").fill(person.name)
        page.get_by_test_id("login-password").fill(person.password)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("conn-status")).to_have_attribute("data-state", "live", timeout=15_000)
        return page

    yield make
    for context in contexts:
        context.close()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _produce_incident(pipeline: Pipeline, incident_id: str, source: str, incident_type: str, severity: str) -> None:
    now = datetime.now(UTC).isoformat()
    district = "Klojen" if source.startswith("smoke") else "Lowokwaru"
    incident = {"id": incident_id, "type": incident_type, "source": source, "source_kind": "sensor", "rule": "r",
                "ts": now, "detected_at": now, "severity": severity,
                "location": {"lat": -7.98, "lon": 112.63, "district": district},
                "title": f"{incident_type} at {source}", "evidence": {}}  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(pipeline.topic("pantau.incidents.v1"), key=source.encode(), value=orjson.dumps(incident)).get(10)
    producer.close()


def test_a_login_page_and_nothing_else_for_strangers(
    browser: Browser, pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("alerting", "console"))
    person_factory(pipeline, "ani", Role.operator)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{pipeline.console_port}/")
    expect(page.get_by_test_id("login-username")).to_be_visible()
    expect(page.get_by_test_id("alert-row")).to_have_count(0)
    page.get_by_test_id("login-username").fill("ani")
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_be_visible()
    _shot(page, "login-refused")
    context.close()


def test_an_alert_appears_live_is_acknowledged_and_the_other_screen_follows(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory, page_factory: PageFactory
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "alerting", "console"))
    ani = page_factory(pipeline, person_factory(pipeline, "ani", Role.operator))
    budi = page_factory(pipeline, person_factory(pipeline, "budi", Role.operator))

    _produce_incident(pipeline, "inc-smoke-1", "smoke-01", "smoke", "critical")
    row = ani.get_by_test_id("alert-row").first
    expect(row).to_be_visible(timeout=15_000)
    expect(row).to_have_attribute("data-status", "new")
    expect(row).to_contain_text("smoke-01")
    other = budi.get_by_test_id("alert-row").first
    expect(other).to_have_attribute("data-status", "new", timeout=15_000)
    _shot(ani, "live-alert")

    row.click()
    expect(ani.get_by_test_id("alert-detail")).to_be_visible()
    ani.get_by_test_id("action-ack").click()
    expect(ani.get_by_test_id("detail-status")).to_contain_text("acknowledged", timeout=10_000)
    # The second operator's screen changes without a reload.
    expect(other).to_have_attribute("data-status", "acknowledged", timeout=10_000)
    _shot(ani, "acknowledged")
    _shot(budi, "acknowledged-on-second-screen")
    assert _errors(ani) == [] and _errors(budi) == []


def test_an_operator_raises_an_alert_by_hand(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory, page_factory: PageFactory
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "alerting", "console"))
    ani = page_factory(pipeline, person_factory(pipeline, "ani", Role.operator))
    ani.get_by_test_id("manual-open").click()
    ani.get_by_test_id("manual-type").select_option("fire")
    ani.get_by_test_id("manual-severity").select_option("critical")
    ani.get_by_test_id("manual-title").fill("Asap dari ruko Jl. Basuki Rahmat")
    ani.get_by_test_id("manual-description").fill("Penelepon melihat asap di lantai 2")
    ani.get_by_test_id("map-pick").click()  # the place, picked on the map
    ani.get_by_test_id("manual-district").select_option("Klojen")
    _shot(ani, "manual-form")
    ani.get_by_test_id("manual-submit").click()
    row = ani.get_by_test_id("alert-row").filter(has_text="Asap dari ruko")
    expect(row).to_be_visible(timeout=15_000)
    expect(row).to_have_attribute("data-status", "new")
    _shot(ani, "manual-raised")
    assert pipeline.wait_count("incidents", 1, "source_kind = 'manual'") == 1
    # Where the operator clicked, within the city drawn from the devices' coordinates.
    lat, lon = (
        pipeline.count("incidents", f"source_kind = 'manual' AND {c} BETWEEN %s AND %s", r)
        for c, r in (("lat", (-8.1, -7.8)), ("lon", (112.5, 112.8)))
    )
    assert lat == lon == 1
    assert _errors(ani) == []


def test_keyboard_only_on_a_laptop_in_english(
    browser: Browser, pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory
) -> None:
    pipeline = pipeline_factory(CONFIG, services=("archiver", "alerting", "console"))
    ani = person_factory(pipeline, "ani", Role.operator)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{pipeline.console_port}/")
    page.get_by_test_id("login-username").fill(ani.name)
    page.get_by_test_id("login-password").fill(ani.password)
    page.keyboard.press("Enter")
    status = page.get_by_test_id("conn-status")
    expect(status).to_have_attribute("data-state", "live", timeout=15_000)
    page.get_by_test_id("lang-toggle").click()  # Indonesian by default; English on request
    expect(status).to_have_text("live")
    _produce_incident(pipeline, "inc-wl-1", "wl-01", "water_level_high", "high")
    _produce_incident(pipeline, "inc-smoke-2", "smoke-01", "smoke", "critical")
    rows = page.get_by_test_id("alert-row")
    expect(rows).to_have_count(2, timeout=15_000)
    expect(rows.first).to_contain_text("smoke-01")  # the most urgent first
    expect(rows.first).to_have_attribute("data-priority", "1")
    # j selects the first row, Enter opens it, a acknowledges it: no mouse.
    page.evaluate("document.activeElement.blur()")  # as a click on the empty queue would: Enter is the row's
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("alert-detail")).to_be_visible()
    page.keyboard.press("a")
    expect(rows.first).to_have_attribute("data-status", "acknowledged", timeout=10_000)
    expect(page.get_by_test_id("detail-status")).to_contain_text("cknowledged")
    # Times in the configured timezone, marked WIB.
    expect(page.get_by_test_id("alert-detail")).to_contain_text("WIB")
    _shot(page, "keyboard-laptop-en")
    context.close()
