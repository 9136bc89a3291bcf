"""Evidence files of camera incidents: the full-size snapshot written beside the clip with a small copy
left inline, the clip's frame times, and the sweep that deletes all of it after the camera's retention."""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.video.avi import read_mjpeg_avi
from detectors.video.clips import (
    ClipRecorder,
    FrameTimes,
    camera_folder,
    clip_path,
    frame_times_path,
    keep_snapshot,
    snapshot_path,
    sweep,
)
from detectors.video.evidence import snapshot_jpeg, thumbnail_jpeg

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 27, 10, tzinfo=UTC)


def colour_frame(width: int = 640, height: int = 360) -> np.ndarray:
    """A colour picture with structure (a gradient and a red block), so that scaling shows."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 1] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    image[height // 4 : height // 2, width // 4 : width // 2] = (0, 0, 230)
    return image


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image)


def test_the_thumbnail_is_the_same_colour_picture_320_px_wide() -> None:
    full = snapshot_jpeg(colour_frame(), (0.25, 0.25, 0.5, 0.5), width_px=None, label="person 0.87")
    assert decode(full).shape == (360, 640, 3)
    small = decode(thumbnail_jpeg(full))
    assert small.shape == (180, 320, 3)
    # The same picture: the red block is where it was, in colour.
    b, g, r = small[67, 120].astype(int)
    assert r > 180 and b < 60 and g < 120
    expected = cv2.resize(decode(full), (320, 180), interpolation=cv2.INTER_AREA).astype(int)
    assert float(np.abs(small.astype(int) - expected).mean()) < 6
    narrow = snapshot_jpeg(colour_frame(320, 180), None, width_px=None)
    assert thumbnail_jpeg(narrow) is narrow  # nothing to shrink: not re-encoded
    with pytest.raises(ValueError):
        thumbnail_jpeg(b"not a jpeg")


def test_keep_snapshot_writes_the_full_picture_and_leaves_a_thumbnail_inline(tmp_path: Path) -> None:
    full = snapshot_jpeg(colour_frame(1280, 720), (0.1, 0.1, 0.3, 0.6), width_px=None, label="car 0.91")
    evidence = {"snapshot_jpeg_b64": base64.b64encode(full).decode(), "bbox_xyxy": [0.1, 0.1, 0.3, 0.6]}
    kept = keep_snapshot(tmp_path, "plaza", "inc-1", evidence)
    assert kept["snapshot"] == "plaza/inc-1.jpg" and kept["bbox_xyxy"] == evidence["bbox_xyxy"]
    assert (tmp_path / kept["snapshot"]).read_bytes() == full  # the pipeline's picture, byte for byte
    thumbnail = base64.b64decode(kept["snapshot_jpeg_b64"])
    assert decode(thumbnail).shape == (180, 320, 3)
    assert len(thumbnail) < len(full) / 4
    assert sorted(p.name for p in (tmp_path / "plaza").iterdir()) == ["inc-1.jpg"]  # no temporary file left
    assert evidence["snapshot_jpeg_b64"] == base64.b64encode(full).decode()  # the input is not changed
    assert keep_snapshot(tmp_path, "plaza", "inc-2", {"tamper_kind": "covered"}) == {"tamper_kind": "covered"}


def test_a_camera_id_never_leads_outside_the_evidence_folder(tmp_path: Path) -> None:
    evidence_dir = tmp_path / "evidence"
    full = snapshot_jpeg(colour_frame(), None, width_px=None)
    kept = keep_snapshot(evidence_dir, "../../outside", "inc-1", {"snapshot_jpeg_b64": base64.b64encode(full).decode()})
    path = (evidence_dir / kept["snapshot"]).resolve()
    assert path.is_relative_to(evidence_dir.resolve()) and path.read_bytes() == full
    assert path.parent.parent == evidence_dir.resolve()  # one folder per camera, directly under it
    assert camera_folder(evidence_dir, "alun/cam:1").name == "alun%2Fcam%3A1"
    assert clip_path(evidence_dir, "plaza", "inc-1") == evidence_dir / "plaza" / "inc-1.avi"
    assert snapshot_path(evidence_dir, "plaza", "inc-1") == evidence_dir / "plaza" / "inc-1.jpg"
    assert not (tmp_path / "outside").exists()


def test_an_unwritable_folder_keeps_the_thumbnail_and_names_no_file(tmp_path: Path) -> None:
    blocked = tmp_path / "evidence"
    blocked.write_text("a file where the folder should be")
    full = snapshot_jpeg(colour_frame(), None, width_px=None)
    kept = keep_snapshot(blocked, "plaza", "inc-1", {"snapshot_jpeg_b64": base64.b64encode(full).decode()})
    assert "snapshot" not in kept
    assert decode(base64.b64decode(kept["snapshot_jpeg_b64"])).shape == (180, 320, 3)


def jpeg(level: int) -> bytes:
    _ok, buf = cv2.imencode(".jpg", np.full((90, 160, 3), level, np.uint8))
    return buf.tobytes()


def test_a_clip_plays_at_the_rate_its_frames_came_and_keeps_their_times(tmp_path: Path) -> None:
    recorder = ClipRecorder(tmp_path, pre_s=1.0, post_s=2.0)  # nominal 5 fps; this camera sends 10
    moment = T0 + timedelta(seconds=3)
    for i in range(60):
        ts = T0 + timedelta(seconds=i / 10)
        recorder.add_frame("gate", ts, jpeg(i * 4))
        if ts == moment:
            path = recorder.start("gate", "inc-1", ts)
    fps, frames = read_mjpeg_avi(path.read_bytes())
    times = FrameTimes.read(frame_times_path(path))
    assert times is not None
    assert len(frames) == len(times.frame_ts) == 11 + 20  # 1 s before (incl. the incident's frame), 2 s after
    assert fps == pytest.approx(10.0, rel=1e-3) and times.fps == pytest.approx(10.0, rel=1e-6)
    assert times.frame_ts[0] == moment - timedelta(seconds=1) and times.frame_ts[-1] == moment + timedelta(seconds=2)
    assert times.incident_ts == moment and times.frame_ts[times.incident_frame] == moment
    assert frames[times.incident_frame] == jpeg(30 * 4)
    assert FrameTimes.read(tmp_path / "absent.avi.json") is None


def test_the_sweep_deletes_snapshots_clips_and_their_times_by_the_cameras_retention(tmp_path: Path) -> None:
    now_s = time.time()
    full = snapshot_jpeg(colour_frame(), None, width_px=None)
    files: list[Path] = []
    for camera, incident in (("plaza", "old"), ("plaza", "new"), ("alun/cam:1", "old")):
        keep_snapshot(tmp_path, camera, incident, {"snapshot_jpeg_b64": base64.b64encode(full).decode()})
        recorder = ClipRecorder(tmp_path, pre_s=0, post_s=0)
        recorder.add_frame(camera, T0, jpeg(50))
        recorder.start(camera, incident, T0)
        recorder.add_frame(camera, T0 + timedelta(seconds=1), jpeg(60))
        clip = clip_path(tmp_path, camera, incident)
        files += [snapshot_path(tmp_path, camera, incident), clip, frame_times_path(clip)]
    legacy = tmp_path / "alun" / "cam-2" / "old.avi"  # a camera id with "/" before folders were encoded
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"x")
    files.append(legacy)
    for item in files:
        assert item.is_file(), item
        if item.stem.startswith("old"):
            os.utime(item, (now_s - 10 * 86400, now_s - 10 * 86400))
    deleted = sweep(tmp_path, {"plaza": 7, "alun/cam:1": 7, "alun": 30}, default_days=30, now_s=now_s)
    assert deleted == 6  # plaza's and alun/cam:1's old snapshot, clip and times
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["alun/cam-2/old.avi", "plaza/new.avi", "plaza/new.avi.json", "plaza/new.jpg"]
    assert sweep(tmp_path, {"alun": 7}, default_days=30, now_s=now_s) == 1  # the legacy file by its folder's camera
