"""Evidence through the console: snapshots and clips for those allowed, every access recorded."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import orjson
import pytest
from kafka import KafkaProducer

from detectors.stills import still_path, write_atomically
from detectors.video.avi import read_mjpeg_avi, write_mjpeg_avi
from detectors.video.clips import ClipRecorder, snapshot_path
from detectors.video.synthetic import FigurePath, SceneSpec, render
from pantau.auth import Role
from tests.console.conftest import make_person
from tests.face_photos import FACES, ensure_face_photos
from tests.pipeline import Pipeline, free_port

pytestmark = pytest.mark.integration


def _jpeg(level: int) -> bytes:
    _ok, buf = cv2.imencode(".jpg", np.full((90, 160), level, np.uint8))
    return buf.tobytes()


def test_snapshots_and_clips_are_served_to_those_allowed_and_every_access_is_recorded(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory("", services=("archiver", "alerting", "console"))
    snapshot = _jpeg(120)
    clip_frames = [_jpeg(level) for level in (10, 60, 110)]
    write_mjpeg_avi(Path(pipeline.env["PANTAU_EVIDENCE_DIR"]) / "cam-gate" / "inc-1.avi", clip_frames, fps=5)
    now = datetime.now(UTC).isoformat()
    evidence = {"snapshot_jpeg_b64": base64.b64encode(snapshot).decode(), "clip": "cam-gate/inc-1.avi"}
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    for incident_id, extra in (("inc-1", evidence), ("inc-2", {"clip": "../../etc/passwd"})):
        incident = {"id": incident_id, "type": "intrusion", "source": "cam-gate", "source_kind": "camera",
                    "rule": "z", "ts": now, "detected_at": now, "severity": "high", "title": "Intrusion",
                    "evidence": extra}  # fmt: skip
        producer.send(pipeline.topic("pantau.incidents.v1"), key=b"cam-gate", value=orjson.dumps(incident)).get(10)
    producer.close()
    pipeline.wait_count("incidents", 2)

    def headers(role: Role, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {pipeline.token(role, user)}"}

    with httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=10) as http:
        # The alert's detail points at its evidence.
        pipeline.wait_count("alert_incidents", 2)
        alert_id = http.get("/api/v1/alerts", headers=headers(Role.operator, "ani")).json()["alerts"][0]["id"]
        detail = http.get(f"/api/v1/alerts/{alert_id}", headers=headers(Role.operator, "ani")).json()
        urls = {i["id"]: (i["snapshot_url"], i["clip_url"]) for i in detail["incidents"]}
        assert urls["inc-1"] == ("/api/v1/incidents/inc-1/snapshot", "/api/v1/incidents/inc-1/clip")
        shown = http.get("/api/v1/incidents/inc-1/snapshot", headers=headers(Role.operator, "ani"))
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
        assert shown.content == snapshot and "no-store" in shown.headers["cache-control"]
        # A responder sees the evidence of their alerts only: budi's once it is assigned to him.
        assert http.get("/api/v1/incidents/inc-1/clip", headers=headers(Role.responder, "budi")).status_code == 404
        commander = {"Authorization": f"Bearer {make_person(pipeline, 'dewi', Role.operator).token}"}
        assigned = http.post(f"/api/v1/alerts/{alert_id}/assign", headers=commander,
                             json={"version": detail["alert"]["version"], "assignee": "budi"})  # fmt: skip
        assert assigned.status_code == 200, assigned.text
        pipeline.wait_count("alerts", 1, "doc->>'assignee' = 'budi'")
        video = http.get("/api/v1/incidents/inc-1/clip", headers=headers(Role.responder, "budi"))
        assert video.status_code == 200 and read_mjpeg_avi(video.content) == (5.0, clip_frames)

        assert http.get("/api/v1/incidents/inc-1/snapshot", headers=headers(Role.planner, "plan")).status_code == 403
        assert http.get("/api/v1/incidents/inc-1/snapshot").status_code == 401
        assert http.get("/api/v1/incidents/nope/snapshot", headers=headers(Role.operator, "ani")).status_code == 404
        assert http.get("/api/v1/incidents/inc-2/snapshot", headers=headers(Role.operator, "ani")).status_code == 404
        escape = http.get("/api/v1/incidents/inc-2/clip", headers=headers(Role.operator, "ani"))
        assert escape.status_code == 404  # a stored path never leads outside the evidence folder

        log = http.get("/api/v1/evidence-access", headers=headers(Role.admin, "root")).json()
        assert [(e["user"], e["role"], e["incident_id"], e["kind"]) for e in log] == [
            ("budi", "responder", "inc-1", "clip"),
            ("ani", "operator", "inc-1", "snapshot"),
        ]
        assert log[0]["source"] == "cam-gate"
        only_ani = http.get("/api/v1/evidence-access", params={"user": "ani"}, headers=headers(Role.admin, "root"))
        assert [e["kind"] for e in only_ani.json()] == ["snapshot"]
        assert http.get("/api/v1/evidence-access", headers=headers(Role.operator, "ani")).status_code == 403


def _produce(pipeline: Pipeline, incidents: dict[str, dict[str, object]], source: str = "cam-gate") -> None:
    """Camera incidents with the given evidence onto the incidents topic (the archiver stores them)."""
    now = datetime.now(UTC).isoformat()
    producer = KafkaProducer(bootstrap_servers=pipeline.env["PANTAU_KAFKA_BOOTSTRAP"], acks="all")
    for incident_id, evidence in incidents.items():
        incident = {"id": incident_id, "type": "intrusion", "source": source, "source_kind": "camera",
                    "rule": "z", "ts": now, "detected_at": now, "severity": "high", "title": "Intrusion",
                    "evidence": evidence}  # fmt: skip
        producer.send(pipeline.topic("pantau.incidents.v1"), key=source.encode(), value=orjson.dumps(incident)).get(10)
    producer.close()
    pipeline.wait_count("incidents", len(incidents))


def _colour_jpeg(width: int, height: int, seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    _ok, buf = cv2.imencode(".jpg", image)
    return buf.tobytes()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _access(http: httpx.Client, pipeline: Pipeline) -> list[tuple[str, str, str]]:
    admin = {"Authorization": f"Bearer {pipeline.token(Role.admin, 'root')}"}
    return [(e["user"], e["incident_id"], e["kind"]) for e in http.get("/api/v1/evidence-access", headers=admin).json()]


def test_the_full_size_snapshot_file_is_served_and_never_a_path_outside_the_evidence_folder(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    pipeline = pipeline_factory("", services=("archiver", "console"))
    evidence_dir = Path(pipeline.env["PANTAU_EVIDENCE_DIR"])
    full, thumbnail, secret = _colour_jpeg(640, 360, 1), _colour_jpeg(320, 180, 2), _colour_jpeg(64, 64, 3)
    keep = ClipRecorder(evidence_dir)  # where camera-detectors put a camera's files
    full_path = snapshot_path(keep.evidence_dir, "cam-gate", "inc-full")
    full_path.parent.mkdir(parents=True)
    full_path.write_bytes(full)
    (tmp_path / "outside.jpg").write_bytes(secret)  # beside the evidence folder, not in it
    link = evidence_dir / "cam-gate" / "link.jpg"
    link.symlink_to(tmp_path / "outside.jpg")
    _produce(pipeline, {
        "inc-full": {"snapshot_jpeg_b64": _b64(thumbnail), "snapshot": "cam-gate/inc-full.jpg"},
        "inc-escape": {"snapshot_jpeg_b64": _b64(thumbnail), "snapshot": "../outside.jpg"},
        "inc-link": {"snapshot_jpeg_b64": _b64(thumbnail), "snapshot": "cam-gate/link.jpg"},
        "inc-swept": {"snapshot_jpeg_b64": _b64(thumbnail), "snapshot": "cam-gate/swept.jpg"},
        "inc-nothing": {"snapshot": "../outside.jpg"},
        "inc-expired": {"snapshot": "cam-gate/inc-full.jpg"},  # the thumbnail stripped after the retention
    })  # fmt: skip
    ani = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ani')}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=10) as http:
        shown = http.get("/api/v1/incidents/inc-full/snapshot", headers=ani)
        assert shown.status_code == 200 and shown.content == full  # the file, not the thumbnail
        assert "content-disposition" not in shown.headers
        saved = http.get("/api/v1/incidents/inc-full/snapshot", params={"download": 1}, headers=ani)
        assert saved.content == full and saved.headers["content-disposition"] == 'attachment; filename="inc-full.jpg"'
        for incident in ("inc-escape", "inc-link", "inc-swept"):  # the thumbnail inside the incident instead
            answer = http.get(f"/api/v1/incidents/{incident}/snapshot", headers=ani)
            assert answer.status_code == 200 and answer.content == thumbnail, incident
        assert http.get("/api/v1/incidents/inc-nothing/snapshot", headers=ani).status_code == 404
        assert http.get("/api/v1/incidents/inc-expired/snapshot", headers=ani).status_code == 404
        assert _access(http, pipeline) == [
            ("ani", "inc-swept", "snapshot"),
            ("ani", "inc-link", "snapshot"),
            ("ani", "inc-escape", "snapshot"),
            ("ani", "inc-full", "snapshot_download"),
            ("ani", "inc-full", "snapshot"),
        ]


def _record_clip(evidence_dir: Path, camera: str, incident_id: str, frames: list[bytes], fps: float) -> Path:
    """A clip as camera-detectors write it: the incident at the middle frame."""
    middle = len(frames) // 2
    recorder = ClipRecorder(evidence_dir, pre_s=middle / fps, post_s=(len(frames) - 1 - middle) / fps)
    t0 = datetime(2026, 11, 27, 10, tzinfo=UTC)
    path = None
    for index, frame in enumerate(frames):
        ts = t0 + timedelta(seconds=index / fps)
        recorder.add_frame(camera, ts, frame)
        if index == middle:
            path = recorder.start(camera, incident_id, ts)
    assert path is not None and path.is_file()
    return path


def test_a_clip_is_viewed_frame_by_frame_with_one_record_per_viewing(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory("", services=("archiver", "console"))
    evidence_dir = Path(pipeline.env["PANTAU_EVIDENCE_DIR"])
    frames = [_colour_jpeg(160, 90, seed) for seed in range(9)]
    clip = _record_clip(evidence_dir, "cam-gate", "inc-clip", frames, fps=10)
    write_mjpeg_avi(evidence_dir / "cam-gate" / "inc-old.avi", frames[:3], fps=5)  # kept without frame times
    _produce(pipeline, {"inc-clip": {"clip": clip.relative_to(evidence_dir).as_posix()},
                        "inc-old": {"clip": "cam-gate/inc-old.avi"}, "inc-none": {}})  # fmt: skip
    ani = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ani')}"}
    citra = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'citra')}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=10) as http:
        opened = http.get("/api/v1/incidents/inc-clip/clip/frames", headers=ani)
        assert opened.status_code == 200, opened.text
        index = opened.json()
        assert (index["count"], index["width"], index["height"]) == (9, 160, 90)  # 4 before, the incident, 4 after
        assert index["fps"] == pytest.approx(10.0) and index["blurred"] is False
        assert index["offsets_s"] == pytest.approx([i / 10 for i in range(9)])
        assert index["incident_frame"] == 4 and index["frame_ts"][4] == index["incident_ts"]
        view = index["view"]
        for n in range(index["count"]):
            frame = http.get(f"/api/v1/incidents/inc-clip/clip/frames/{n}", params={"view": view}, headers=ani)
            assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
            assert frame.content == frames[n] and "no-store" in frame.headers["cache-control"]
        beyond = http.get("/api/v1/incidents/inc-clip/clip/frames/9", params={"view": view}, headers=ani)
        assert beyond.status_code == 404
        # No frame without a recorded viewing: no token, someone else's, altered, expired, another incident's.
        altered = view[:-1] + ("1" if view[-1] == "0" else "0")
        expired = "1." + view.partition(".")[2]
        for params, who in (({}, ani), ({"view": view}, citra), ({"view": altered}, ani), ({"view": expired}, ani)):
            refused = http.get("/api/v1/incidents/inc-clip/clip/frames/0", params=params, headers=who)
            assert refused.status_code == 403, (params, refused.text)
        elsewhere = http.get("/api/v1/incidents/inc-old/clip/frames/0", params={"view": view}, headers=ani)
        assert elsewhere.status_code == 403
        planner = {"Authorization": f"Bearer {pipeline.token(Role.planner, 'plan')}"}
        assert http.get("/api/v1/incidents/inc-clip/clip/frames", headers=planner).status_code == 403
        assert http.get("/api/v1/incidents/inc-none/clip/frames", headers=ani).status_code == 404
        # A clip kept before frame times: shown at its rate, the incident's moment unknown.
        old = http.get("/api/v1/incidents/inc-old/clip/frames", headers=citra).json()
        assert old["count"] == 3 and old["offsets_s"] == pytest.approx([0, 0.2, 0.4])
        assert old["frame_ts"] is None and old["incident_frame"] is None
        first = http.get("/api/v1/incidents/inc-old/clip/frames/0", params={"view": old["view"]}, headers=citra)
        assert first.content == frames[0]
        # The download stays as it was.
        assert read_mjpeg_avi(http.get("/api/v1/incidents/inc-clip/clip", headers=ani).content)[1] == frames
        assert _access(http, pipeline) == [
            ("ani", "inc-clip", "clip"),
            ("citra", "inc-old", "clip_view"),
            ("ani", "inc-clip", "clip_view"),
        ]


def _detail(jpeg: bytes, box: tuple[int, int, int, int]) -> float:
    """Fine detail (spread of the Laplacian) of a region of a JPEG: a blurred face has next to none."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    x1, y1, x2, y2 = box
    return float(cv2.Laplacian(image[y1:y2, x1:x2], cv2.CV_64F).std())


def _region_change(a: bytes, b: bytes, box: tuple[int, int, int, int]) -> float:
    first, second = (cv2.imdecode(np.frombuffer(x, np.uint8), cv2.IMREAD_COLOR) for x in (a, b))
    assert first is not None and second is not None
    x1, y1, x2, y2 = box
    return float(np.abs(first[y1:y2, x1:x2].astype(int) - second[y1:y2, x1:x2].astype(int)).mean())


def test_faces_are_blurred_in_exports_and_everywhere_with_always_and_a_missing_model_stops_the_console(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    photos = ensure_face_photos()
    portrait = (photos / "messi5.jpg").read_bytes()  # a real JPEG with one face
    indoor = cv2.imread(str(photos / "basketball1.png"), cv2.IMREAD_COLOR)
    assert indoor is not None
    _ok, buf = cv2.imencode(".jpg", indoor, [cv2.IMWRITE_JPEG_QUALITY, 90])
    frames = [buf.tobytes()] * 3  # two people, one frontal and one in profile
    camera = "cameras:\n  - {id: cam-gate, source: /videos/gate.mp4, location: {lat: -7.98, lon: 112.63}}\n"
    pipeline = pipeline_factory(camera, services=("archiver", "alerting"))
    evidence_dir = Path(pipeline.env["PANTAU_EVIDENCE_DIR"])
    write_atomically(still_path(evidence_dir, "cam-gate"), portrait)  # the zone editor's latest still
    snapshot = snapshot_path(evidence_dir, "cam-gate", "inc-face")
    snapshot.parent.mkdir(parents=True)
    snapshot.write_bytes(portrait)
    clip = _record_clip(evidence_dir, "cam-gate", "inc-face", frames, fps=5)
    thumbnail = _b64(_colour_jpeg(320, 200, 4))
    _produce(pipeline, {"inc-face": {"snapshot_jpeg_b64": thumbnail, "snapshot": "cam-gate/inc-face.jpg",
                                     "clip": "cam-gate/inc-face.avi"}})  # fmt: skip
    assert clip == evidence_dir / "cam-gate" / "inc-face.avi"
    pipeline.start("console", PANTAU_EVIDENCE_BLUR_FACES="export")
    always_port = free_port()
    pipeline.start("console-always", service="console", PANTAU_EVIDENCE_BLUR_FACES="always",
                   PANTAU_CONSOLE_PORT=str(always_port))  # fmt: skip
    face, lawn = FACES["messi5.jpg"][0], (0, 280, 200, 342)
    people = FACES["basketball1.png"]
    ani = {"Authorization": f"Bearer {make_person(pipeline, 'ani', Role.operator).token}"}

    def blurred(jpeg: bytes, original: bytes, faces: tuple[tuple[int, int, int, int], ...]) -> bool:
        return all(_detail(jpeg, box) < 0.25 * _detail(original, box) for box in faces)

    with httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=60) as http:
        # A responder's photo from the scene, on the incident's alert.
        pipeline.wait_count("alert_incidents", 1)
        alert_id = http.get("/api/v1/alerts", headers=ani).json()["alerts"][0]["id"]
        noted = http.post(f"/api/v1/alerts/{alert_id}/note", json={"photo_jpeg_b64": _b64(portrait)}, headers=ani)
        assert noted.status_code == 200, noted.text
        notes = http.get(f"/api/v1/alerts/{alert_id}", headers=ani).json()["notes"]
        photo = f"/api/v1/alerts/{alert_id}/photos/{notes[-1]['detail']['photo_id']}"
        # export: what operators see on screen is the evidence as it is...
        assert http.get("/api/v1/incidents/inc-face/snapshot", headers=ani).content == portrait
        assert http.get(photo, headers=ani).content == portrait
        assert http.get("/api/v1/cameras/cam-gate/still", headers=ani).content == portrait
        index = http.get("/api/v1/incidents/inc-face/clip/frames", headers=ani).json()
        assert index["blurred"] is False
        shown = http.get("/api/v1/incidents/inc-face/clip/frames/1", params={"view": index["view"]}, headers=ani)
        assert shown.content == frames[1]
        # ...what leaves it as a file has the faces blurred, and nothing else changed beyond JPEG's noise.
        saved = http.get("/api/v1/incidents/inc-face/snapshot", params={"download": 1}, headers=ani)
        assert saved.status_code == 200 and blurred(saved.content, portrait, (face,))
        assert _region_change(saved.content, portrait, lawn) < 3
        video = http.get("/api/v1/incidents/inc-face/clip", headers=ani)
        assert (
            video.status_code == 200 and video.headers["content-disposition"] == 'attachment; filename="inc-face.avi"'
        )
        fps, exported = read_mjpeg_avi(video.content)
        assert fps == pytest.approx(5.0) and len(exported) == 3
        assert all(blurred(frame, frames[0], people) for frame in exported)
        assert clip.read_bytes() != video.content and read_mjpeg_avi(clip.read_bytes())[1] == frames  # file untouched
    with httpx.Client(base_url=f"http://127.0.0.1:{always_port}", timeout=60) as http:
        # always: the screen too.
        assert blurred(http.get("/api/v1/incidents/inc-face/snapshot", headers=ani).content, portrait, (face,))
        index = http.get("/api/v1/incidents/inc-face/clip/frames", headers=ani).json()
        assert index["blurred"] is True
        shown = http.get("/api/v1/incidents/inc-face/clip/frames/0", params={"view": index["view"]}, headers=ani)
        assert blurred(shown.content, frames[0], people)
        assert blurred(http.get(photo, headers=ani).content, portrait, (face,))
        assert blurred(http.get("/api/v1/cameras/cam-gate/still", headers=ani).content, portrait, (face,))
    # Blurring asked for and the model missing: the console does not start, and says how to install it.
    with pytest.raises(RuntimeError, match=r"(?s)exited \(1\).*centerface.*make models"):
        pipeline.start("console-no-model", service="console", PANTAU_EVIDENCE_BLUR_FACES="export",
                       PANTAU_MODELS_DIR=str(tmp_path / "no-models"), PANTAU_CONSOLE_PORT=str(free_port()))  # fmt: skip


def test_a_camera_incident_keeps_its_full_size_colour_snapshot_as_a_file_and_a_thumbnail_inline(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    """Through the real services: camera-ingest reads a recording of someone walking onto the lawn,
    camera-detectors raise the intrusion, the archiver stores it, and the console serves the picture."""
    spec = SceneSpec(figures=[FigurePath(1, [(0.3, 0.4), (0.35, 0.95)], start_s=1.0, speed_px_s=60)], frames=60, seed=3)
    video = tmp_path / "walker.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), spec.fps, (spec.width_px, spec.height_px))
    for frame in render(spec):  # tinted, so that a grey picture would show
        tint = np.array([0.55, 0.8, 1.0])
        writer.write(np.clip(cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR) * tint, 0, 255).astype(np.uint8))
    writer.release()
    config = f"""
cameras:
  - id: plaza
    source: "{video}"
    fps: 5
    width_px: 640
    realtime: false
    object_check: null  # the walker is a drawn shape: the motion layer alone
    location: {{lat: -7.98, lon: 112.63, district: Klojen}}
    zones:
      - name: lawn
        polygon: [[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]]
        rules: [intrusion]
"""
    pipeline = pipeline_factory(config, services=("archiver", "camera-detectors", "console", "camera-ingest"))
    pipeline.wait_count("incidents", 1, "type = 'intrusion'", timeout_s=90)
    with pipeline.db() as conn:
        row = conn.execute("SELECT id, evidence FROM incidents WHERE type = 'intrusion' LIMIT 1").fetchone()
    assert row is not None
    incident_id, evidence = row
    assert evidence["snapshot"] == f"plaza/{incident_id}.jpg"
    kept = (Path(pipeline.env["PANTAU_EVIDENCE_DIR"]) / evidence["snapshot"]).read_bytes()
    thumbnail = base64.b64decode(evidence["snapshot_jpeg_b64"])
    small = cv2.imdecode(np.frombuffer(thumbnail, np.uint8), cv2.IMREAD_COLOR)
    assert small is not None and small.shape == (180, 320, 3)  # what the incident carries on Kafka
    ani = {"Authorization": f"Bearer {pipeline.token(Role.operator, 'ani')}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=10) as http:
        served = http.get(f"/api/v1/incidents/{incident_id}/snapshot", headers=ani)
    assert served.status_code == 200 and served.content == kept
    picture = cv2.imdecode(np.frombuffer(kept, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == (360, 640, 3)  # the camera's resolution
    blue, _green, red = (float(picture[:, :, c].mean()) for c in range(3))
    assert red > blue + 20  # in colour, as the camera sent it
    assert len(thumbnail) < len(kept) / 2
