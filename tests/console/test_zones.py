"""The zone editor's back end: the config file's zones read and saved whole (``console.configfile``)
and the API on it (``console.routers.zones``), on a small app with only that router (no stack)."""

from __future__ import annotations

import asyncio
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from console.configfile import ConfigFile, UnknownCamera, VersionConflict, zones_version
from console.routers import zones as zones_router
from console.settings import Settings
from detectors.stills import still_path
from pantau.auth import Principal, Role, issue_token
from pantau.exceptions import ConfigError

pytestmark = pytest.mark.unit

CONFIG = """\
# The city's configuration (this comment is lost on the first save from the console).
timezone: Asia/Jakarta
sensors:
  - id: wl-brantas-01
    kind: water_level
    name: Brantas at Dinoyo
    location: {lat: -7.9405, lon: 112.6112, district: Lowokwaru}
    interval_s: 30
sensor_rules:
  - name: river-flood
    kind: water_level
    type: threshold
    above: 2.5
    clear_below: 2.3
    severity: critical
cameras:
  - id: plaza
    source: /videos/plaza.mp4
    name: Alun-Alun
    location: {lat: -7.98, lon: 112.63, district: Klojen}
    masks: [[[0.0, 0.0], [0.2, 0.0], [0.2, 0.1]]]
    zones:
      - name: lawn
        polygon: [[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]]
        rules: [intrusion, {loitering: {min_s: 60}}]
        criticality: high
        schedule: "18:00-06:00"
  - id: station
    source: rtsp://10.0.0.7/stream1
    zones:
      - name: platform-edge
        polygon: [[0.1, 0.7], [0.9, 0.7], [0.9, 0.8], [0.1, 0.8]]
        rules: [{line_crossing: {line: [[0.1, 0.75], [0.9, 0.75]], direction: in}}]
alerting:
  night: {hours: "22:00-05:00", types: [intrusion, loitering]}
"""

PLATFORM = [[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]
NEW_ZONES: list[dict[str, Any]] = [
    {"name": "lawn", "polygon": PLATFORM, "rules": ["intrusion"], "criticality": "critical"},
    {
        "name": "gate",
        "polygon": [[0.4, 0.2], [0.6, 0.2], [0.6, 0.5], [0.4, 0.5]],
        "rules": [{"line_crossing": {"line": [[0.4, 0.35], [0.6, 0.35]], "direction": "both"}}],
    },
]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "pantau.yaml"
    path.write_text(CONFIG)
    return path


# -- the file ---------------------------------------------------------------------------------


def test_save_replaces_one_cameras_zones_and_keeps_everything_else(config_path: Path) -> None:
    before = yaml.safe_load(CONFIG)
    config = ConfigFile(config_path)
    zones, masks = config.save_zones("plaza", NEW_ZONES, [])
    assert (zones, masks) == (NEW_ZONES, [])
    after = yaml.safe_load(config_path.read_text())
    assert list(after) == list(before)  # sections in their order
    for section in ("timezone", "sensors", "sensor_rules", "alerting"):
        assert after[section] == before[section]
    assert after["cameras"][1] == before["cameras"][1]  # the other camera, line crossing and all
    plaza = after["cameras"][0]
    assert list(plaza) == list(before["cameras"][0])  # its keys in their order
    assert {k: v for k, v in plaza.items() if k not in ("zones", "masks")} == {
        k: v for k, v in before["cameras"][0].items() if k not in ("zones", "masks")
    }
    assert plaza["zones"] == NEW_ZONES and plaza["masks"] == []
    assert config.backup_path == config_path.with_name("pantau.yaml.bak")
    assert config.backup_path.read_text() == CONFIG  # the previous file, comments and all
    assert sorted(p.name for p in config_path.parent.iterdir()) == ["pantau.yaml", "pantau.yaml.bak"]


def test_keys_a_camera_did_not_have_stay_absent_when_empty(config_path: Path) -> None:
    config = ConfigFile(config_path)
    config.save_zones("station", [], [])
    station = yaml.safe_load(config_path.read_text())["cameras"][1]
    assert station["zones"] == [] and "masks" not in station


def test_invalid_zones_are_refused_with_the_reason_and_nothing_is_written(config_path: Path) -> None:
    config = ConfigFile(config_path)
    cases: list[tuple[list[Any], list[Any], str]] = [
        ([{"name": "lawn", "polygon": [[0.1, 0.1], [0.2, 0.2]], "rules": ["intrusion"]}], [], "polygon"),
        ([{"name": "lawn", "polygon": PLATFORM, "rules": ["intrusoin"]}], [], "unknown zone rule 'intrusoin'"),
        ([{"name": "lawn", "polygon": [[0.1, 0.1], [1.5, 0.1], [0.1, 0.3]], "rules": ["intrusion"]}], [], "1"),
        ([NEW_ZONES[0], NEW_ZONES[0]], [], "duplicate zone names lawn"),
        ([{"name": "lawn", "polygon": PLATFORM, "rules": ["intrusion"], "colour": "red"}], [], "colour"),
        ([], [[[0.1, 0.1], [0.2, 0.2]]], "at least 3 points"),
    ]
    for zones, masks, reason in cases:
        with pytest.raises(ConfigError, match=reason) as caught:
            config.save_zones("plaza", zones, masks)
        assert str(config_path) in str(caught.value) and ".tmp" not in str(caught.value)
    assert config_path.read_text() == CONFIG
    assert sorted(p.name for p in config_path.parent.iterdir()) == ["pantau.yaml"]  # no .bak, no temporary


def test_whole_file_is_checked_not_just_the_zones(config_path: Path) -> None:
    # Another section broken by hand: the save would write a file no service starts with.
    config_path.write_text(CONFIG.replace("clear_below: 2.3", "clear_belwo: 2.3"))
    with pytest.raises(ConfigError, match="clear_belwo"):
        ConfigFile(config_path).save_zones("plaza", NEW_ZONES, [])


def test_unknown_camera_and_stale_versions_are_refused(config_path: Path) -> None:
    config = ConfigFile(config_path)
    with pytest.raises(UnknownCamera):
        config.zones("nowhere")
    with pytest.raises(UnknownCamera):
        config.save_zones("nowhere", NEW_ZONES, [])
    loaded = zones_version(*config.zones("plaza"))
    config.save_zones("plaza", NEW_ZONES, [], expected_version=loaded)
    with pytest.raises(VersionConflict):
        config.save_zones("plaza", [], [], expected_version=loaded)  # based on what is no longer there
    assert config.zones("plaza") == (NEW_ZONES, [])


def test_permissions_and_symlinks_survive_a_save(tmp_path: Path, config_path: Path) -> None:
    config_path.chmod(0o640)
    link = tmp_path / "current.yaml"
    link.symlink_to(config_path)
    ConfigFile(link).save_zones("plaza", NEW_ZONES, [])
    assert link.is_symlink() and yaml.safe_load(config_path.read_text())["cameras"][0]["zones"] == NEW_ZONES
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
    assert (tmp_path / "pantau.yaml.bak").read_text() == CONFIG


# -- the API ----------------------------------------------------------------------------------


class EvidenceRecord:
    """Stands in for the console's store in these in-process tests: keeps the evidence views the
    router records (the real table is exercised by tests/console/test_evidence.py)."""

    def __init__(self) -> None:
        self.views: list[dict[str, Any]] = []

    def run(self, work: Callable[[Any], Any], what: str = "") -> Any:
        return work(self)

    def execute(self, _statement: str, params: dict[str, Any]) -> None:
        self.views.append(params)


class Api:
    """Requests to an app with the zones router (in process, no server), and tokens for each role."""

    def __init__(self, app: FastAPI, secret: str) -> None:
        self.app = app
        self.secret = secret
        self.audited: list[tuple[Principal, str, dict[str, Any]]] = []
        self.evidence = EvidenceRecord()
        app.state.store = self.evidence

    def auth(self, role: Role, user: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.secret, role, user)}"}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)


@pytest.fixture
def api_factory(tmp_path: Path, config_path: Path) -> Callable[..., Api]:
    def make(config: Path | None = config_path, audit: bool = True) -> Api:
        secret = secrets.token_urlsafe(32)
        app = FastAPI()
        app.state.settings = Settings(config=config, evidence_dir=tmp_path / "evidence", token_secret=secret)
        app.state.token_secret = secret
        app.include_router(zones_router.router)
        api = Api(app, secret)
        if audit:
            app.state.audit = lambda user, action, detail: api.audited.append((user, action, detail))
        return api

    return make


def test_operators_and_admins_read_zones_as_they_are_in_the_file(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    for role in (Role.operator, Role.admin):
        got = api.get("/api/v1/cameras/station/zones", headers=api.auth(role))
        assert got.status_code == 200, got.text
        assert got.json() == {
            "camera": "station",
            "zones": yaml.safe_load(CONFIG)["cameras"][1]["zones"],  # the line inside its rule's params
            "masks": [],
        }
        assert got.headers["etag"].strip('"') == zones_version(got.json()["zones"], [])
    plaza = api.get("/api/v1/cameras/plaza/zones", headers=api.auth(Role.operator)).json()
    assert plaza["masks"] == [[[0.0, 0.0], [0.2, 0.0], [0.2, 0.1]]]
    assert plaza["zones"][0]["schedule"] == "18:00-06:00"


def test_who_may_do_what(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    body = {"zones": NEW_ZONES, "masks": []}
    assert api.get("/api/v1/cameras/plaza/zones").status_code == 401
    assert api.get("/api/v1/cameras/plaza/still").status_code == 401
    assert api.put("/api/v1/cameras/plaza/zones", json=body).status_code == 401
    for role in (Role.planner, Role.responder, Role.ingest):
        assert api.get("/api/v1/cameras/plaza/zones", headers=api.auth(role)).status_code == 403
        assert api.get("/api/v1/cameras/plaza/still", headers=api.auth(role)).status_code == 403
    refused = api.put("/api/v1/cameras/plaza/zones", json=body, headers=api.auth(Role.operator))
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert api.audited == []


def test_admin_saves_zones_to_the_file_and_the_save_is_audited(
    api_factory: Callable[..., Api], config_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = api_factory()
    masks = [[[0.0, 0.0], [0.3, 0.0], [0.3, 0.2]]]
    with caplog.at_level("INFO", logger="console.routers.zones"):
        saved = api.put(
            "/api/v1/cameras/plaza/zones",
            json={"zones": NEW_ZONES, "masks": masks},
            headers=api.auth(Role.admin, "rina"),
        )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"camera": "plaza", "zones": NEW_ZONES, "masks": masks}
    stored = yaml.safe_load(config_path.read_text())["cameras"][0]
    assert stored["zones"] == NEW_ZONES and stored["masks"] == masks
    assert stored["zones"][1]["rules"][0]["line_crossing"]["line"] == [[0.4, 0.35], [0.6, 0.35]]
    assert config_path.with_name("pantau.yaml.bak").read_text() == CONFIG
    assert "zones of camera plaza saved by rina (admin)" in caplog.text
    assert [(p.user, p.role, action, detail) for p, action, detail in api.audited] == [
        ("rina", Role.admin, "zones.saved", {"camera": "plaza"})
    ]
    again = api.get("/api/v1/cameras/plaza/zones", headers=api.auth(Role.operator))
    assert again.json()["zones"] == NEW_ZONES and again.headers["etag"] == saved.headers["etag"]


def test_invalid_zones_answer_422_with_the_reason(api_factory: Callable[..., Api], config_path: Path) -> None:
    api = api_factory()
    bad = [{"name": "lawn", "polygon": PLATFORM, "rules": [{"crowd": {"max_people": None}}]}]
    refused = api.put("/api/v1/cameras/plaza/zones", json={"zones": bad, "masks": []}, headers=api.auth(Role.admin))
    assert refused.status_code == 422
    assert "a crowd rule needs max_people or max_occupancy" in refused.json()["detail"]
    assert "cameras.0.zones.0.rules" in refused.json()["detail"]
    missing_masks = api.put("/api/v1/cameras/plaza/zones", json={"zones": []}, headers=api.auth(Role.admin))
    assert missing_masks.status_code == 422  # both keys are required: nothing is dropped by omission
    assert config_path.read_text() == CONFIG and api.audited == []


def test_unknown_camera_is_404_and_no_config_file_is_409(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    admin = api.auth(Role.admin)
    body = {"zones": NEW_ZONES, "masks": []}
    for response in (
        api.get("/api/v1/cameras/nowhere/zones", headers=admin),
        api.get("/api/v1/cameras/nowhere/still", headers=admin),
        api.put("/api/v1/cameras/nowhere/zones", json=body, headers=admin),
    ):
        assert response.status_code == 404 and "nowhere" in response.json()["detail"]
    without = api_factory(config=None)
    for response in (
        without.get("/api/v1/cameras/plaza/zones", headers=without.auth(Role.admin)),
        without.put("/api/v1/cameras/plaza/zones", json=body, headers=without.auth(Role.admin)),
    ):
        assert response.status_code == 409 and "PANTAU_CONFIG" in response.json()["detail"]


def test_a_file_that_cannot_be_parsed_is_503_not_the_editors_fault(
    api_factory: Callable[..., Api], config_path: Path
) -> None:
    api = api_factory()
    config_path.write_text(CONFIG + "cameras: [oops\n")
    admin = api.auth(Role.admin)
    for response in (
        api.get("/api/v1/cameras/plaza/zones", headers=admin),
        api.put("/api/v1/cameras/plaza/zones", json={"zones": NEW_ZONES, "masks": []}, headers=admin),
    ):
        assert response.status_code == 503 and "not valid YAML" in response.json()["detail"]


def test_a_stale_edit_is_refused_with_412(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    admin = api.auth(Role.admin)
    etag = api.get("/api/v1/cameras/plaza/zones", headers=admin).headers["etag"]
    first = api.put(
        "/api/v1/cameras/plaza/zones", json={"zones": NEW_ZONES, "masks": []}, headers={**admin, "If-Match": etag}
    )
    assert first.status_code == 200
    second = api.put(
        "/api/v1/cameras/plaza/zones", json={"zones": [], "masks": []}, headers={**admin, "If-Match": etag}
    )
    assert second.status_code == 412 and "load them again" in second.json()["detail"]


def test_still_is_served_once_written(api_factory: Callable[..., Api], tmp_path: Path) -> None:
    api = api_factory()
    missing = api.get("/api/v1/cameras/plaza/still", headers=api.auth(Role.operator))
    assert missing.status_code == 404 and "no still of camera plaza yet" in missing.json()["detail"]
    jpeg = b"\xff\xd8\xff\xe0 a still \xff\xd9"
    path = still_path(tmp_path / "evidence", "plaza")
    path.parent.mkdir(parents=True)
    path.write_bytes(jpeg)
    shown = api.get("/api/v1/cameras/plaza/still", headers=api.auth(Role.operator))
    assert shown.status_code == 200 and shown.content == jpeg
    assert shown.headers["content-type"] == "image/jpeg" and "no-store" in shown.headers["cache-control"]
    assert "last-modified" in shown.headers
    # A still shows people: the view is recorded, with who looked.
    assert [(v["user"], v["kind"], v["source"]) for v in api.evidence.views] == [("operator", "still", "plaza")]


def test_a_failing_audit_hook_does_not_undo_the_answer(api_factory: Callable[..., Api], config_path: Path) -> None:
    api = api_factory(audit=False)

    def broken(user: Principal, action: str, detail: dict[str, Any]) -> None:
        raise RuntimeError("audit table unavailable")

    api.app.state.audit = broken
    saved = api.put("/api/v1/cameras/plaza/zones", json={"zones": NEW_ZONES, "masks": []}, headers=api.auth(Role.admin))
    assert saved.status_code == 200  # the file is saved and in use: saying otherwise would mislead
    assert yaml.safe_load(config_path.read_text())["cameras"][0]["zones"] == NEW_ZONES
