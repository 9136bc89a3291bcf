"""The evidence clip plays in the alert detail, in a real browser (Debian's Chromium driven by
Playwright) under the console's own content-security policy: the player shows the clip's frames,
starts at the incident's moment, plays, steps and scrubs, and the viewing is recorded once.
Screenshots are saved under ``test-output/browser/``."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import orjson
import pytest
from kafka import KafkaProducer
from playwright.sync_api import Browser, Page, expect, sync_playwright

from detectors.video.clips import ClipRecorder
from pantau.auth import Role
from tests.console.conftest import PersonFactory
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
FRAMES = 15  # 3 s at 5 fps: the incident at frame 7


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: deploy/local/install-system.sh installs it (make setup)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def numbered_frame(n: int) -> bytes:
    """A colour frame showing its own number, so that what the player shows can be told apart."""
    image = np.full((240, 320, 3), (40 + 10 * n, 90, 200 - 10 * n), np.uint8)
    cv2.putText(image, str(n), (110, 160), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 6)
    _ok, buf = cv2.imencode(".jpg", image)
    return buf.tobytes()


def seed_camera_alert(pipeline: Pipeline) -> str:
    """A raised camera incident with its snapshot and clip, as camera-detectors leave them."""
    evidence_dir = Path(pipeline.env["PANTAU_EVIDENCE_DIR"])
    recorder = ClipRecorder(evidence_dir, pre_s=7 / 5, post_s=7 / 5)
    t0 = datetime.now(UTC) - timedelta(seconds=10)
    clip = None
    for n in range(FRAMES):
        ts = t0 + timedelta(seconds=n / 5)
        recorder.add_frame("cam-plaza", ts, numbered_frame(n))
        if n == 7:
            clip = recorder.start("cam-plaza", "inc-clip-1", ts)
    assert clip is not None and clip.is_file()
    now = datetime.now(UTC).isoformat()
    incident = {"id": "inc-clip-1", "type": "intrusion", "source": "cam-plaza", "source_kind": "camera", "rule": "z",
                "ts": now, "detected_at": now, "severity": "high", "title": "Intrusion on the lawn",
                "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"},
                "evidence": {"snapshot_jpeg_b64": base64.b64encode(numbered_frame(7)).decode(),
                             "clip": clip.relative_to(evidence_dir).as_posix()}}  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(pipeline.topic("pantau.incidents.v1"), key=b"cam-plaza", value=orjson.dumps(incident)).get(10)
    producer.close()
    pipeline.wait_count("alert_incidents", 1)
    return "inc-clip-1"


def frame_shown(page: Page) -> int:
    return int(page.get_by_test_id("clip-player").get_attribute("data-frame") or -1)


def test_the_clip_plays_in_the_alert_detail(
    browser: Browser, pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory
) -> None:
    pipeline = pipeline_factory("", services=("archiver", "alerting", "console"))
    ani = person_factory(pipeline, "ani", Role.operator)
    incident_id = seed_camera_alert(pipeline)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="id-ID")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)  # CSP refusals land here
    page.goto(f"http://127.0.0.1:{pipeline.console_port}/")
    page.get_by_test_id("login-username").fill(ani.name)
    page.get_by_test_id("login-password").fill(ani.password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("conn-status")).to_have_attribute("data-state", "live", timeout=15_000)
    errors.clear()  # the signed-out page's GET /api/v1/me answered 401, as it should
    row = page.get_by_test_id("alert-row").first
    expect(row).to_be_visible(timeout=20_000)
    row.click()
    expect(page.get_by_test_id("evidence-snapshot")).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("clip-player")).to_have_count(0)  # nothing is fetched (or recorded) unasked

    page.get_by_test_id("clip-play").click()
    player = page.get_by_test_id("clip-player")
    expect(player).to_have_attribute("data-state", "paused", timeout=15_000)
    expect(page.locator("[data-testid=player-frame][src^='blob:']")).to_have_count(1, timeout=15_000)
    assert frame_shown(page) == 7  # it opens at the incident's moment, marked on the scrubber
    expect(page.get_by_test_id("player-time")).to_contain_text("8 / 15")
    expect(page.get_by_test_id("player-time")).to_contain_text("saat insiden")  # the page speaks Indonesian
    expect(page.get_by_test_id("player-marker")).to_be_visible()
    page.wait_for_function("() => document.querySelector('[data-testid=player-frame]').naturalWidth === 320")
    expect(page.get_by_test_id("player-status")).not_to_contain_text("Memuat", timeout=15_000)  # all 15 fetched
    _shot(page, "clip-player-at-moment")

    page.get_by_test_id("player-forward").click()
    assert frame_shown(page) == 8
    page.get_by_test_id("player-back").click()
    page.get_by_test_id("player-back").click()
    assert frame_shown(page) == 6
    page.get_by_test_id("player-scrub").fill("2")
    assert frame_shown(page) == 2
    shown_src = page.get_by_test_id("player-frame").get_attribute("src")

    page.get_by_test_id("player-play").click()
    expect(player).to_have_attribute("data-state", "playing")
    page.wait_for_function("() => Number(document.querySelector('[data-testid=clip-player]').dataset.frame) >= 6")
    assert page.get_by_test_id("player-frame").get_attribute("src") != shown_src  # other frames shown
    # Plays to the end at the frames' own pace (0.2 s apart) and stops there.
    expect(player).to_have_attribute("data-state", "paused", timeout=10_000)
    assert frame_shown(page) == FRAMES - 1
    expect(page.get_by_test_id("player-time")).to_contain_text("15 / 15")
    _shot(page, "clip-player-at-end")
    # The picture shown is the clip's last frame (its number drawn in white on its colour).
    shown = page.get_by_test_id("player-frame").screenshot()
    picture = cv2.imdecode(np.frombuffer(shown, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    expected = cv2.imdecode(np.frombuffer(numbered_frame(FRAMES - 1), np.uint8), cv2.IMREAD_COLOR)
    assert expected is not None
    resized = cv2.resize(picture, (expected.shape[1], expected.shape[0]), interpolation=cv2.INTER_AREA)
    assert float(np.abs(resized.astype(int) - expected.astype(int)).mean()) < 12

    # Playing again from the end starts over; one viewing, one record, however many frames were shown.
    page.get_by_test_id("player-play").click()
    page.wait_for_function("() => Number(document.querySelector('[data-testid=clip-player]').dataset.frame) >= 3")
    page.get_by_test_id("player-play").click()  # pause
    expect(player).to_have_attribute("data-state", "paused")
    admin = {"Authorization": f"Bearer {pipeline.token(Role.admin, 'root')}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=10) as http:
        log = http.get("/api/v1/evidence-access", headers=admin).json()
    assert sorted((e["user"], e["incident_id"], e["kind"]) for e in log) == [
        ("ani", incident_id, "clip_view"),
        ("ani", incident_id, "snapshot"),
    ]
    page.get_by_test_id("player-close").click()
    expect(page.get_by_test_id("clip-player")).to_have_count(0)
    expect(page.get_by_test_id("clip-download")).to_have_attribute("href", f"/api/v1/incidents/{incident_id}/clip")
    assert errors == []
    context.close()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
