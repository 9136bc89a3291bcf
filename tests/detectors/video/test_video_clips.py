"""Evidence clips: seconds before and after an incident, and deletion after the camera's retention."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.video.clips import ClipRecorder, clip_path, sweep

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 27, 10, tzinfo=UTC)


def jpeg(level: int) -> bytes:
    _ok, buf = cv2.imencode(".jpg", np.full((90, 160), level, np.uint8))
    return buf.tobytes()


def test_clip_holds_pre_and_post_seconds(tmp_path: Path) -> None:
    recorder = ClipRecorder(tmp_path, pre_s=2.0, post_s=3.0, fps=5)
    written: list[Path] = []
    path = None
    for i in range(60):
        ts = T0 + timedelta(seconds=i / 5)
        written += recorder.add_frame("plaza", ts, jpeg(i * 4 % 255))
        if i == 30:
            path = recorder.start("plaza", "inc-1", ts)
    assert path == clip_path(tmp_path, "plaza", "inc-1") and written == [path]
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 11 + 15  # 2 s before (incl. the incident frame), 3 s after
    capture.release()


def test_sweep_deletes_only_what_is_past_its_cameras_retention(tmp_path: Path) -> None:
    now_s = time.time()
    for camera, age_days in (("plaza", 3), ("plaza", 10), ("gate", 10)):
        folder = tmp_path / camera
        folder.mkdir(exist_ok=True)
        item = folder / f"{age_days}.avi"
        item.write_bytes(b"x")
        os.utime(item, (now_s - age_days * 86400, now_s - age_days * 86400))
    deleted = sweep(tmp_path, {"plaza": 7}, default_days=30, now_s=now_s)
    assert deleted == 1
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.avi")) == ["gate/10.avi", "plaza/3.avi"]
