"""Access control of the console: every route for every role, sessions with CSRF, login throttling,
disabled accounts, and the websocket's cookie and origin checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.typing import Origin

from console.app import create_app
from console.settings import Settings
from pantau import users
from pantau.auth import Role, issue_token
from tests.console.conftest import LoginFactory, PersonFactory
from tests.pipeline import Pipeline

ANON = "anonymous"
PEOPLE = frozenset({"operator", "responder", "planner", "admin"})
EVERYONE = PEOPLE | {"ingest", ANON}
SIGNED_IN = PEOPLE | {"ingest"}
OPS = frozenset({"operator", "admin"})
READERS = frozenset({"operator", "admin", "planner"})
ALERT_READERS = READERS | {"responder"}
ACTORS = OPS | {"responder"}
ADMIN = frozenset({"admin"})

# (method, route path) -> who may call it. A route missing here fails the test below.
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): EVERYONE,  # the page shell: the login form, no data
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/alerts/{alert_id}"): EVERYONE,  # a push's link: a redirect to the responder page
    ("GET", "/readyz"): EVERYONE,
    ("POST", "/api/v1/session"): EVERYONE,  # logging in
    ("DELETE", "/api/v1/session"): SIGNED_IN,
    ("GET", "/api/v1/me"): PEOPLE,
    ("GET", "/api/v1/ui/config"): PEOPLE,
    ("GET", "/api/v1/alerts"): ALERT_READERS,
    ("GET", "/api/v1/alerts/open"): ALERT_READERS,
    ("GET", "/api/v1/alerts/{alert_id}"): ALERT_READERS,
    ("POST", "/api/v1/alerts"): OPS,
    ("POST", "/api/v1/alerts/{alert_id}/{command}"): ACTORS,
    ("GET", "/api/v1/incidents/{incident_id}/snapshot"): ACTORS,
    ("GET", "/api/v1/incidents/{incident_id}/clip"): ACTORS,
    ("GET", "/api/v1/incidents/{incident_id}/clip/frames"): ACTORS,
    ("GET", "/api/v1/incidents/{incident_id}/clip/frames/{frame}"): ACTORS,
    ("GET", "/api/v1/evidence-access"): ADMIN,
    ("GET", "/api/v1/cases"): READERS,
    ("POST", "/api/v1/cases"): OPS,
    ("GET", "/api/v1/cases/{case_id}"): READERS,
    ("POST", "/api/v1/cases/{case_id}/alerts"): OPS,
    ("GET", "/api/v1/handovers"): READERS,
    ("POST", "/api/v1/handovers"): OPS,
    ("POST", "/api/v1/handovers/{handover_id}/sign"): OPS,
    ("GET", "/api/v1/cameras/health"): READERS,
    ("GET", "/api/v1/sensors/latest"): READERS,
    ("GET", "/api/v1/audit"): ADMIN,
    ("GET", "/api/v1/cameras/{camera_id}/zones"): OPS,
    ("GET", "/api/v1/cameras/{camera_id}/still"): OPS,
    ("PUT", "/api/v1/cameras/{camera_id}/zones"): ADMIN,
    ("GET", "/api/v1/history/incidents"): READERS,
    ("GET", "/api/v1/history/heatmap"): READERS,
    ("GET", "/api/v1/history/response-times"): READERS,
    ("GET", "/api/v1/history/false-alarms"): READERS,
    ("GET", "/api/v1/history/sensors/{sensor_id:path}"): READERS,
    ("GET", "/api/v1/history/readings"): READERS,
    ("GET", "/api/v1/history/top-sources"): READERS,
    ("GET", "/api/v1/history/crossings"): READERS,
    ("GET", "/api/v1/history/cap"): READERS,
    ("GET", "/api/v1/reports"): READERS,
    ("POST", "/api/v1/reports"): ADMIN,
    ("GET", "/api/v1/reports/{report_id}.html"): READERS,
    ("GET", "/api/v1/reports/{report_id}.pdf"): READERS,
    ("POST", "/api/v1/reports/{report_id}/mail"): ADMIN,
    ("WS", "/ws/alerts"): ACTORS,
    ("GET", "/planner"): EVERYONE,  # the page shell
    ("GET", "/responder"): EVERYONE,  # the responders' page shell: the login form, no data
    ("GET", "/responder/manifest.webmanifest"): EVERYONE,
    ("GET", "/responder/sw.js"): EVERYONE,
    ("GET", "/api/v1/push/vapid-public-key"): ACTORS,
    ("POST", "/api/v1/push/subscriptions"): ACTORS,
    ("DELETE", "/api/v1/push/subscriptions"): ACTORS,
    ("GET", "/api/v1/alerts/{alert_id}/photos/{photo_id}"): ACTORS,
}
PATH_VALUES = {
    "{alert_id}": "no-such-alert",
    "{command}": "ack",
    "{incident_id}": "no-such-incident",
    "{frame}": "0",
    "{case_id}": "no-such-case",
    "{handover_id}": "no-such-handover",
    "{camera_id}": "no-such-camera",
    "{sensor_id:path}": "no-such-sensor",
}


def _routes() -> set[tuple[str, str]]:
    app = create_app(Settings(token_secret="matrix-test-" + "0123456789abcdef" * 2))
    found: set[tuple[str, str]] = set()
    routes: list[Any] = []
    for route in app.routes:
        # FastAPI keeps each included router whole; its routes carry their full paths.
        original = getattr(route, "original_router", None)
        routes.extend(original.routes if original is not None else [route])
    for route in routes:
        methods = getattr(route, "methods", None)
        path: str = getattr(route, "path", "")
        if path.startswith("/static"):
            continue
        if methods is None:
            found.add(("WS", path))
        else:
            found |= {(m, path) for m in methods if m != "HEAD"}
    return found


@pytest.mark.unit
def test_every_route_has_a_row_in_the_matrix() -> None:
    routes = _routes()
    assert routes - MATRIX.keys() == set(), "routes without an access rule in the matrix"
    assert MATRIX.keys() - routes == set(), "matrix rows for routes that do not exist"


def _wait_status(call: Callable[[], int], expected: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (code := call()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert code == expected


def _concrete(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace(name, value)
    return path


@pytest.mark.integration
def test_role_route_matrix(pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory) -> None:
    pipeline = pipeline_factory(services=("archiver", "alerting", "console"))
    headers: dict[str, dict[str, str]] = {ANON: {}}
    for role in (Role.operator, Role.responder, Role.planner, Role.admin):
        headers[role.value] = {"Authorization": f"Bearer {person_factory(pipeline, f'm-{role.value}', role).token}"}
    headers["ingest"] = {"Authorization": f"Bearer {issue_token(pipeline.secret, Role.ingest, 'gateway')}"}
    base = f"127.0.0.1:{pipeline.console_port}"
    checked = 0
    with httpx.Client(base_url=f"http://{base}", timeout=15) as client:
        for (method, path), allowed in sorted(MATRIX.items()):
            for who, sent in headers.items():
                if method == "WS":
                    token = sent.get("Authorization", "").removeprefix("Bearer ")
                    try:
                        with ws_connect(f"ws://{base}{path}?token={token}", open_timeout=30) as ws:
                            ws.recv(timeout=30)
                        code = 101
                    except InvalidStatus as exc:
                        code = exc.response.status_code
                else:
                    body: dict[str, object] | None = {} if method in ("POST", "PUT") else None
                    code = client.request(method, _concrete(path), headers=sent, json=body).status_code
                if who in allowed:
                    assert code not in (401, 403), f"{who} refused {method} {path}: {code}"
                else:
                    expected = 401 if who == ANON else 403
                    assert code == expected, f"{who} on {method} {path}: {code}, expected {expected}"
                checked += 1
        # No API browser for strangers; the page's answers carry the security headers.
        assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404
        page = client.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        assert client.get("/readyz").json().keys() == {"ready", "feed"}
    assert checked == len(MATRIX) * len(headers)


@pytest.mark.integration
def test_sessions_csrf_logout_disable_and_throttling(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory, login_factory: LoginFactory
) -> None:
    pipeline = pipeline_factory(services=("archiver", "alerting", "console"))
    ani = person_factory(pipeline, "ani", Role.operator)
    client = login_factory(pipeline, ani)
    cookie = client.cookies.get("pantau_session")
    assert cookie
    me = client.get("/api/v1/me").json()
    assert (me["user"], me["role"], me["display_name"]) == ("ani", "operator", "Ani")
    assert me["csrf_token"] == client.headers["X-CSRF-Token"]

    # The cookie is HttpOnly and SameSite=Strict.
    raw = httpx.post(
        f"http://127.0.0.1:{pipeline.console_port}/api/v1/session",
        json={"username": "ani", "password": ani.password},
    ).headers["set-cookie"]
    assert "HttpOnly" in raw and "SameSite=strict" in raw.replace("Strict", "strict")

    # A change without the CSRF header is refused; with it, it goes through and is audited.
    bare = httpx.Client(base_url=str(client.base_url), cookies={"pantau_session": cookie}, timeout=15)
    refused = bare.post("/api/v1/handovers", json={"text": "quiet night"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = bare.post("/api/v1/handovers", json={"text": "quiet night"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    assert client.post("/api/v1/handovers", json={"text": "quiet night"}).status_code == 201

    # The websocket takes the cookie from our own origin only.
    ws_url = f"ws://127.0.0.1:{pipeline.console_port}/ws/alerts"
    origin = f"http://127.0.0.1:{pipeline.console_port}"
    with ws_connect(ws_url, additional_headers={"Cookie": f"pantau_session={cookie}"}, origin=Origin(origin)) as ws:
        assert '"snapshot"' in str(ws.recv(timeout=30))
    with pytest.raises(InvalidStatus) as refused_ws:
        ws_connect(
            ws_url, additional_headers={"Cookie": f"pantau_session={cookie}"}, origin=Origin("http://evil.example")
        )
    assert refused_ws.value.response.status_code == 403

    # Logging out ends the session on the server, not only in the browser.
    assert client.delete("/api/v1/session").status_code == 204
    assert bare.get("/api/v1/me").status_code == 401

    # Disabling a person stops their sessions and their tokens.
    budi = person_factory(pipeline, "budi", Role.operator)
    budi_client = login_factory(pipeline, budi)
    token_headers = {"Authorization": f"Bearer {budi.token}"}
    assert httpx.get(f"{origin}/api/v1/alerts", headers=token_headers).status_code == 200
    direct = f"{pipeline.alerting_url}/api/v1/alerts/no-such-alert/note"
    assert httpx.post(direct, headers=token_headers, json={"text": "x"}).status_code == 404
    with pipeline.db() as conn:
        users.set_disabled(conn, "budi", True)
    # Each replica checks accounts through a cache of about 2 s: both must stop within a few seconds.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        budi_client.get("/api/v1/me").status_code == 401
        and httpx.get(f"{origin}/api/v1/alerts", headers=token_headers).status_code == 401
    ):
        time.sleep(0.2)
    assert budi_client.get("/api/v1/me").status_code == 401
    assert httpx.get(f"{origin}/api/v1/alerts", headers=token_headers).status_code == 401
    # ... at the alerting service too, which checks the same accounts.
    _wait_status(lambda: httpx.post(direct, headers=token_headers, json={"text": "x"}).status_code, 401)
    disabled_login = httpx.post(f"{origin}/api/v1/session", json={"username": "budi", "password": budi.password})
    assert disabled_login.status_code == 401

    # Five wrong passwords for one name: the sixth try waits, even with the right password.
    citra = person_factory(pipeline, "citra", Role.planner)
    for _ in range(5):
        answer = httpx.post(f"{origin}/api/v1/session", json={"username": "citra", "password": "not-it-at-all"})
        assert answer.status_code == 401
    throttled = httpx.post(f"{origin}/api/v1/session", json={"username": "citra", "password": citra.password})
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 300

    # Every one of those actions is in the admin's audit log, with the person.
    admin = person_factory(pipeline, "dewi", Role.admin)
    log = httpx.get(f"{origin}/api/v1/audit", headers={"Authorization": f"Bearer {admin.token}"}).json()
    actions = {(entry["user"], entry["action"]) for entry in log}
    assert {("ani", "login"), ("ani", "handover.written"), ("ani", "logout"), ("citra", "login.failed")} <= actions


def _closed_with(ws: Any, timeout_s: float) -> tuple[int | None, str]:
    """Read until the server closes the feed; its close code and reason."""
    from websockets.exceptions import ConnectionClosed

    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")
    except TimeoutError:
        pass
    raise AssertionError(f"the feed stayed open for {timeout_s} s")


@pytest.mark.integration
def test_an_open_feed_ends_on_logout_disable_and_token_expiry(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory, login_factory: LoginFactory
) -> None:
    # Heartbeats every 2 s keep each feed busy; access is checked every second.
    pipeline = pipeline_factory(services=("alerting", "console"), PANTAU_WS_ACCESS_CHECK_S="1")
    origin = f"http://127.0.0.1:{pipeline.console_port}"
    ws_url = f"ws://127.0.0.1:{pipeline.console_port}/ws/alerts"

    def cookie_feed(client: httpx.Client) -> Any:
        headers = {"Cookie": f"pantau_session={client.cookies.get('pantau_session')}"}
        return ws_connect(ws_url, additional_headers=headers, origin=Origin(origin), open_timeout=30)

    # Logout: the feed opened with that session closes within a few seconds.
    ani = person_factory(pipeline, "ani", Role.operator)
    ani_client = login_factory(pipeline, ani)
    with cookie_feed(ani_client) as ws:
        assert '"snapshot"' in str(ws.recv(timeout=30))
        time.sleep(1.5)  # a heartbeat or two: the feed is alive and stays so while access holds
        assert ani_client.delete("/api/v1/session").status_code == 204
        started = time.monotonic()
        code, reason = _closed_with(ws, 10)
        assert code == 4401 and "session has ended" in reason, (code, reason)
        assert time.monotonic() - started < 5

    # Disabling: the person's cookie feed and the feed opened with their user token both close.
    budi = person_factory(pipeline, "budi", Role.operator)
    budi_client = login_factory(pipeline, budi)
    with cookie_feed(budi_client) as by_cookie, ws_connect(f"{ws_url}?token={budi.token}", open_timeout=30) as by_token:
        assert '"snapshot"' in str(by_cookie.recv(timeout=30)) and '"snapshot"' in str(by_token.recv(timeout=30))
        with pipeline.db() as conn:
            users.set_disabled(conn, "budi", True)
        assert _closed_with(by_cookie, 10)[0] == 4401
        code, reason = _closed_with(by_token, 10)
        assert code == 4401 and "disabled" in reason, (code, reason)

    # A machine token that expires while its feed is open.
    short = issue_token(pipeline.secret, Role.operator, "wall-screen", ttl_s=3)
    with ws_connect(f"{ws_url}?token={short}", open_timeout=30) as ws:
        assert '"snapshot"' in str(ws.recv(timeout=30))
        code, reason = _closed_with(ws, 15)
        assert code == 4401 and "expired" in reason, (code, reason)

    # Someone whose access holds keeps their feed.
    citra = person_factory(pipeline, "citra", Role.operator)
    with ws_connect(f"{ws_url}?token={citra.token}", open_timeout=30) as ws:
        assert '"snapshot"' in str(ws.recv(timeout=30))
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            assert "heartbeat" in str(ws.recv(timeout=5))


@pytest.mark.integration
def test_parallel_guesses_cannot_pass_the_throttle_and_a_guesser_cannot_lock_the_owner_out(
    pipeline_factory: Callable[..., Pipeline], person_factory: PersonFactory
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from console.ratelimit import LoginThrottle, login_keys

    pipeline = pipeline_factory(services=("console",))
    eko = person_factory(pipeline, "eko", Role.operator)
    url = f"http://127.0.0.1:{pipeline.console_port}/api/v1/session"

    def guess(n: int) -> int:
        return httpx.post(url, json={"username": "eko", "password": f"guess-{n}"}, timeout=60).status_code

    # 40 at once: the count is taken before each check, so no more than the allowance get to guess.
    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(guess, range(40)))
    assert codes.count(401) == 5 and codes.count(429) == 35, codes
    assert httpx.post(url, json={"username": "eko", "password": eko.password}).status_code == 429

    # The counts themselves, from other addresses (the console sees one address in a test).
    throttle = LoginThrottle(max_failures=5, window_s=300)
    with pipeline.db() as conn:  # the console made the table at start
        for _ in range(5):
            assert throttle.reserve(conn, login_keys("sari", "10.0.0.66"))[0] is None  # a guesser, five failures
        assert throttle.reserve(conn, login_keys("sari", "10.0.0.66"))[0] is not None  # that guesser waits
        wait, reserved = throttle.reserve(conn, login_keys("sari", "10.1.2.3"))  # the owner at her desk
        assert wait is None and reserved
        throttle.succeeded(conn, login_keys("sari", "10.1.2.3"), reserved)  # right password: taken back
        # Guessing one name from many addresses: the name's own count stops it at ten times the allowance.
        for n in range(50):
            assert throttle.reserve(conn, login_keys("tono", f"10.9.{n}.1"))[0] is None
        assert throttle.reserve(conn, login_keys("tono", "10.1.2.3"))[0] is not None
