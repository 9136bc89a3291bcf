"""Latest stills and hot reload of zones in the camera detectors.

Unit tests drive :class:`CameraDetectorWorker` with fake records (no Kafka); the integration test
runs the real camera-ingest and camera-detectors on the local stack and edits the config file under
them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import orjson
import pytest
import yaml

from detectors.camera_pipeline import CameraPipeline
from detectors.camera_worker import CONFIG_SETTLE_S, CameraDetectorWorker, ConfigWatcher, Settings
from detectors.stills import StillWriter, still_path
from detectors.video.synthetic import FigurePath, SceneSpec, render
from detectors.zones.config import CameraDetectorsConfig, DetectorCameraConfig
from ingest.cameras.schemas import FrameMeta
from pantau.config import load_config_file, parse_section
from pantau.timeutil import utcnow
from tests.pipeline import Pipeline

LAWN = [[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]]  # where the walker ends up
CORNER = [[0.8, 0.0], [1.0, 0.0], [1.0, 0.2], [0.8, 0.2]]  # where nobody ever goes
WALKER = FigurePath(1, [(0.3, 0.4), (0.35, 0.95)], start_s=1.0, speed_px_s=60)


def camera_yaml(camera_id: str, zone: list[list[float]], source: str = "x.avi", **extra: Any) -> dict[str, Any]:
    return {
        "id": camera_id,
        "source": source,
        "fps": 5,
        "zones": [{"name": "watched", "polygon": zone, "rules": ["intrusion"], "criticality": "high"}],
        "object_check": None,  # synthetic walkers are shapes: the motion layer alone
        **extra,
    }


def write_config(path: Path, cameras: Sequence[dict[str, Any]], **sections: Any) -> None:
    """As an editor that saves properly does (and as the console does): a new file renamed over the old."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump({**sections, "cameras": list(cameras)}, sort_keys=False))
    tmp.replace(path)


def settled(path: Path) -> None:
    """Date the file back so the watcher need not wait for it to settle."""
    old_s = time.time() - 2 * CONFIG_SETTLE_S
    os.utime(path, (old_s, old_s))


# -- stills -------------------------------------------------------------------------------------


@pytest.mark.unit
def test_still_is_the_frames_own_bytes_at_most_once_per_interval(tmp_path: Path) -> None:
    writer = StillWriter(tmp_path, interval_s=5.0)
    first = writer.offer("plaza", b"\xff\xd8one", now_s=100.0)
    assert first == tmp_path / "stills" / "plaza.jpg" == still_path(tmp_path, "plaza")
    assert first.read_bytes() == b"\xff\xd8one"
    assert writer.offer("plaza", b"\xff\xd8two", now_s=104.9) is None
    assert first.read_bytes() == b"\xff\xd8one"
    assert writer.offer("gate", b"\xff\xd8gate", now_s=104.9) is not None  # each camera has its own interval
    assert writer.offer("plaza", b"\xff\xd8three", now_s=105.0) == first
    assert first.read_bytes() == b"\xff\xd8three"
    assert sorted(p.name for p in (tmp_path / "stills").iterdir()) == ["gate.jpg", "plaza.jpg"]  # no tmp left


@pytest.mark.unit
def test_still_names_stay_inside_the_stills_folder(tmp_path: Path) -> None:
    path = still_path(tmp_path, "dishub/cam:07")
    assert path.parent == tmp_path / "stills" and path.name == "dishub%2Fcam%3A07.jpg"


@pytest.mark.unit
def test_still_write_failure_is_logged_once_and_never_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "stills").write_text("a file where the folder should be")
    writer = StillWriter(tmp_path, interval_s=1.0)
    with caplog.at_level(logging.WARNING, logger="detectors.stills"):
        assert writer.offer("plaza", b"x", now_s=0.0) is None
        assert writer.offer("plaza", b"x", now_s=0.5) is None  # not retried within the interval
        assert writer.offer("plaza", b"x", now_s=2.0) is None
    assert len([r for r in caplog.records if "not written" in r.getMessage()]) == 1


@pytest.mark.unit
def test_stills_can_be_turned_off(tmp_path: Path) -> None:
    assert StillWriter(tmp_path, interval_s=0).offer("plaza", b"x", now_s=0.0) is None
    assert not (tmp_path / "stills").exists()


# -- the config watcher ---------------------------------------------------------------------------


@pytest.mark.unit
def test_watcher_offers_each_new_version_once_after_it_settles(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    write_config(path, [camera_yaml("plaza", CORNER)])
    watcher = ConfigWatcher(path, interval_s=2.0)
    assert not watcher.poll(0.0)
    write_config(path, [camera_yaml("plaza", LAWN)])
    assert not watcher.poll(1.0)  # within the interval: not even looked at
    assert not watcher.poll(2.0)  # just written: may still be being written
    settled(path)
    assert watcher.poll(2.0 + CONFIG_SETTLE_S)
    assert not watcher.poll(10.0)  # the same version is not offered twice
    path.unlink()
    assert not watcher.poll(20.0)  # gone: logged, nothing to load
    write_config(path, [camera_yaml("plaza", CORNER)])
    future_s = time.time() + 3600  # written on a share whose clock is an hour ahead
    os.utime(path, (future_s, future_s))
    assert not watcher.poll(30.0)
    assert watcher.poll(30.0 + CONFIG_SETTLE_S)  # unchanged since the last look: settled all the same


# -- the worker, without Kafka ----------------------------------------------------------------------


@dataclass
class FakeProducer:
    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append(orjson.loads(value))

    def flush(self, timeout: float | None = None) -> None:
        return None


@dataclass
class FakeDeadLetters:
    reasons: list[str] = field(default_factory=list)

    def reject_record(self, rec: Any, reason: str) -> None:
        self.reasons.append(reason)


@dataclass
class Harness:
    worker: CameraDetectorWorker
    producer: FakeProducer
    dead_letters: FakeDeadLetters
    config_path: Path
    evidence_dir: Path
    frames: list[tuple[int, bytes]]
    t0: datetime
    clock_s: float = 0.0

    def feed(self, camera_ids: Sequence[str], start: int, stop: int) -> None:
        for index, jpeg in self.frames[start:stop]:
            records = []
            for camera_id in camera_ids:
                meta = FrameMeta(
                    camera_id=camera_id,
                    capture_ts=self.t0 + timedelta(seconds=index / 5),
                    seq=index,
                    session="s",
                    width_px=640,
                    height_px=360,
                )
                records.append(
                    SimpleNamespace(key=camera_id.encode(), value=jpeg, headers=meta.headers(), offset=index)
                )
            self.worker.handle(records)

    def reload_now(self) -> None:
        """What the worker loop does: a tick late enough for the watcher to look at the settled file."""
        settled(self.config_path)
        self.clock_s += 10.0
        self.worker.tick(self.clock_s)

    def incidents(self, camera_id: str) -> list[dict[str, Any]]:
        return [i for i in self.producer.sent if i["source"] == camera_id]


@pytest.fixture(scope="module")
def walker_frames() -> list[tuple[int, bytes]]:
    spec = SceneSpec(figures=[WALKER], frames=40, seed=3)
    return [(f.index, cv2.imencode(".jpg", f.gray)[1].tobytes()) for f in render(spec)]


@pytest.fixture
def harness_factory(
    tmp_path: Path, walker_frames: list[tuple[int, bytes]]
) -> Iterator[Callable[[Sequence[dict[str, Any]]], Harness]]:
    def make(cameras: Sequence[dict[str, Any]]) -> Harness:
        path = tmp_path / "config.yaml"
        write_config(path, cameras)
        evidence = tmp_path / "evidence"
        settings = Settings(config=path, evidence_dir=evidence, still_interval_s=5.0, config_check_interval_s=2.0)
        config = parse_section(CameraDetectorsConfig, load_config_file(path))
        producer, dead_letters = FakeProducer(), FakeDeadLetters()
        worker = CameraDetectorWorker(settings, config, producer, dead_letters, partitions=4)  # type: ignore[arg-type]
        worker.tick(0.0)
        t0 = utcnow() - timedelta(hours=1)
        return Harness(worker, producer, dead_letters, path, evidence, walker_frames, t0)

    yield make


@pytest.mark.unit
def test_moved_zone_applies_at_once_and_keeps_the_background_and_the_other_cameras(
    harness_factory: Callable[[Sequence[dict[str, Any]]], Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = harness_factory([camera_yaml("plaza", CORNER), camera_yaml("gate", LAWN)])
    h.feed(["plaza", "gate"], 0, 10)
    plaza, gate = h.worker.pipelines["plaza"], h.worker.pipelines["gate"]
    motion, gate_rules = plaza.motion, list(gate.rules)
    assert h.producer.sent == []

    write_config(h.config_path, [camera_yaml("plaza", LAWN, name="Alun-Alun"), camera_yaml("gate", LAWN)])
    with caplog.at_level(logging.INFO, logger="detectors.camera_worker"):
        h.reload_now()
    reloaded = [r.getMessage().split(" reloaded: ", 1)[1] for r in caplog.records if " reloaded: " in r.getMessage()]
    assert reloaded == ["zones reloaded for plaza"]
    # Same pipelines: the background model, tracks and the other camera's episodes carry on.
    assert h.worker.pipelines["plaza"] is plaza and plaza.motion is motion and plaza.frames == 10
    assert h.worker.pipelines["gate"] is gate and gate.rules == gate_rules

    h.feed(["plaza", "gate"], 10, 40)
    plaza_incidents = h.incidents("plaza")
    assert [(i["type"], i["zone"]) for i in plaza_incidents] == [("intrusion", "watched")]
    assert "Alun-Alun" in plaza_incidents[0]["title"]  # the rest of the camera's config applies too
    assert len(h.incidents("gate")) == 1  # the unchanged camera saw the walker once, as it would have anyway
    assert h.dead_letters.reasons == []


@pytest.mark.unit
def test_an_unchanged_zone_keeps_its_episodes_across_a_reload(
    harness_factory: Callable[[Sequence[dict[str, Any]]], Harness],
) -> None:
    h = harness_factory([camera_yaml("plaza", LAWN)])
    h.feed(["plaza"], 0, 20)
    assert len(h.incidents("plaza")) == 1
    rule = h.worker.pipelines["plaza"].rules[0]
    corner = {"name": "corner", "polygon": CORNER, "rules": ["intrusion"]}
    camera = camera_yaml("plaza", LAWN)
    write_config(h.config_path, [{**camera, "zones": [*camera["zones"], corner]}])
    h.reload_now()
    rules = h.worker.pipelines["plaza"].rules
    assert len(rules) == 2 and rules[0] is rule
    h.feed(["plaza"], 20, 40)
    assert len(h.incidents("plaza")) == 1  # the walker still in the lawn is not reported a second time


@pytest.mark.unit
def test_invalid_config_is_logged_and_the_running_one_stays(
    harness_factory: Callable[[Sequence[dict[str, Any]]], Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = harness_factory([camera_yaml("plaza", LAWN)])
    h.feed(["plaza"], 0, 5)
    running = h.worker.config
    broken = camera_yaml("plaza", CORNER)
    broken["zones"][0]["rules"] = ["intrusoin"]
    write_config(h.config_path, [broken])
    with caplog.at_level(logging.ERROR, logger="detectors.camera_worker"):
        h.reload_now()
    assert "invalid, the running config stays" in caplog.text and "unknown zone rule 'intrusoin'" in caplog.text
    write_config(h.config_path, [camera_yaml("plaza", CORNER)], timezone="Mars/Olympus")
    with caplog.at_level(logging.ERROR, logger="detectors.camera_worker"):
        h.reload_now()
    assert "timezone" in caplog.records[-1].getMessage()
    assert h.worker.config is running
    h.feed(["plaza"], 5, 40)
    assert [i["zone"] for i in h.incidents("plaza")] == ["watched"]  # the lawn still watched


@pytest.mark.unit
def test_cameras_added_and_removed_by_a_reload(harness_factory: Callable[[Sequence[dict[str, Any]]], Harness]) -> None:
    h = harness_factory([camera_yaml("plaza", LAWN)])
    h.feed(["plaza"], 0, 3)
    write_config(h.config_path, [camera_yaml("gate", LAWN)])
    h.reload_now()
    assert "plaza" not in h.worker.pipelines
    h.feed(["plaza", "gate"], 3, 4)
    assert h.dead_letters.reasons == ["frame refused: camera 'plaza' is not in the config"]
    assert "gate" in h.worker.pipelines


@pytest.mark.unit
def test_worker_keeps_each_cameras_latest_frame_as_its_still(
    harness_factory: Callable[[Sequence[dict[str, Any]]], Harness],
) -> None:
    h = harness_factory([camera_yaml("plaza", LAWN)])
    h.feed(["plaza"], 0, 1)
    assert still_path(h.evidence_dir, "plaza").read_bytes() == h.frames[0][1]  # the very JPEG, not re-encoded
    h.feed(["plaza"], 1, 3)  # within 5 s of wall time: not rewritten
    assert still_path(h.evidence_dir, "plaza").read_bytes() == h.frames[0][1]


@pytest.mark.unit
def test_pipeline_reconfigure_rebuilds_only_the_zone_layer() -> None:
    def camera(**extra: Any) -> DetectorCameraConfig:
        return DetectorCameraConfig.model_validate(camera_yaml("plaza", LAWN, **extra))

    pipeline = CameraPipeline(camera(), ZoneInfo("Asia/Jakarta"))
    motion, tracker, tamper = pipeline.motion, pipeline.tracker, pipeline.tamper
    crowd = {"name": "lawn", "polygon": LAWN, "rules": [{"abandoned_object": {"min_s": 10}}, "crowd"]}
    assert pipeline.reconfigure(camera(zones=[crowd], masks=[CORNER], object_check={"min_score": 0.6})) == [
        "zones",
        "masks",
        "object_check",
    ]
    assert (pipeline.motion, pipeline.tracker, pipeline.tamper) == (motion, tracker, tamper)
    assert [r.name for r in pipeline.rules] == ["abandoned_object", "crowd"]
    assert pipeline.static_objects is not None and pipeline._measure_areas and pipeline.confirmer is not None
    assert pipeline.confirmer.config.min_score == 0.6 and pipeline.detector is not None
    assert pipeline.reconfigure(camera()) == ["zones", "masks", "object_check"]
    assert pipeline.static_objects is None and not pipeline._measure_areas and pipeline.confirmer is None
    with pytest.raises(ValueError, match="cannot take the config of gate"):
        pipeline.reconfigure(DetectorCameraConfig.model_validate(camera_yaml("gate", LAWN)))


# -- the real thing ------------------------------------------------------------------------------


def _wait_for(what: str, check: Callable[[], bool], pipeline: Pipeline, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what} after {timeout_s} s\ncamera-detectors log:\n{pipeline.log_tail('camera-detectors', 60)}"
                + (
                    f"\ncamera-ingest log:\n{pipeline.log_tail('camera-ingest', 30)}"
                    if "camera-ingest" in pipeline.procs
                    else ""
                )
            )
        time.sleep(0.3)


@pytest.mark.integration
def test_zone_edits_apply_to_a_running_worker_and_a_broken_edit_changes_nothing(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    # A 6 s loop: the walker enters at 0.4 s and is on the lawn about 2 s later, every loop.
    spec = SceneSpec(figures=[FigurePath(1, [(0.3, 0.4), (0.35, 0.95)], start_s=0.4, speed_px_s=80)], frames=30, seed=3)
    video = tmp_path / "walker.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), spec.fps, (spec.width_px, spec.height_px))
    for frame in render(spec):
        writer.write(cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR))
    writer.release()
    camera = camera_yaml("plaza", CORNER, source=str(video), loop=True, realtime=True)
    pipeline = pipeline_factory(
        yaml.safe_dump({"cameras": [camera]}, sort_keys=False),
        services=("archiver", "camera-detectors"),
        PANTAU_CONFIG_CHECK_INTERVAL_S="0.5",
        PANTAU_STILL_INTERVAL_S="1",
    )
    config_path = Path(pipeline.env["PANTAU_CONFIG"])
    still = still_path(Path(pipeline.env["PANTAU_EVIDENCE_DIR"]), "plaza")
    pipeline.start("camera-ingest")

    # Frames flow (the still is there) and a full loop of the walker in the corner-only config raises nothing.
    _wait_for("no still", still.exists, pipeline, 60)  # first frames take longer on a loaded machine
    assert still.read_bytes()[:2] == b"\xff\xd8"
    time.sleep(7)
    assert pipeline.count("incidents", "type = 'intrusion'") == 0

    # The zone moved onto the lawn, where the walker walks: incidents without a restart.
    write_config(config_path, [camera_yaml("plaza", LAWN, source=str(video), loop=True, realtime=True)])
    _wait_for("no intrusion", lambda: pipeline.count("incidents", "type = 'intrusion'") >= 1, pipeline, 60)
    assert "zones reloaded for plaza" in pipeline.log_tail("camera-detectors", 200)

    # A broken edit: refused with the reason; the lawn stays watched and the next loop is reported again.
    seen = pipeline.count("incidents", "type = 'intrusion'")
    broken = camera_yaml("plaza", LAWN, source=str(video), loop=True, realtime=True)
    broken["zones"][0]["polygon"] = [[0.1, 0.1], [0.2, 0.2]]
    write_config(config_path, [broken])
    _wait_for(
        "no refusal logged",
        lambda: "invalid, the running config stays" in pipeline.log_tail("camera-detectors", 200),
        pipeline,
        10,
    )
    assert "polygon" in pipeline.log_tail("camera-detectors", 200)
    _wait_for("no further intrusion", lambda: pipeline.count("incidents", "type = 'intrusion'") > seen, pipeline, 60)
    assert pipeline.procs["camera-detectors"].poll() is None
