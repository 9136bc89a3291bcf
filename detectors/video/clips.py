"""Evidence files of camera incidents: a clip of a few seconds before and after each raised incident,
the full-size snapshot of every incident, kept per camera for its retention period, then deleted.

The recorder keeps each camera's last ``pre_s`` seconds of frames (the JPEG bytes as they arrived,
so holding them costs no decoding). When an incident fires, the clip starts with those frames and
goes on for ``post_s`` seconds; it is written as a Motion-JPEG ``.avi`` of those very JPEGs
(:mod:`detectors.video.avi`) at ``<evidence dir>/<camera>/<incident id>.avi``, the path the
incident already names, with the frames' capture times beside it (``<incident id>.avi.json``: the
console's player shows when each frame was taken and marks the incident's moment).

The pipeline draws each incident's snapshot at the frame's own size; :func:`keep_snapshot` writes it
to ``<evidence dir>/<camera>/<incident id>.jpg`` and leaves a 320 px copy inline, so incident
messages stay small on Kafka and in the database while the console serves the full picture.

Camera ids may hold ``/`` and ``:`` (``ingest.schemas.SENSOR_ID_PATTERN``, which also lets ``..``
through): the camera's folder name is the id percent-encoded, one folder directly under the evidence
folder, never a path leading elsewhere. The usual ids (letters, digits, ``._-``) are the folder name
as they are.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import orjson

from detectors.stills import write_atomically
from detectors.video.avi import ClipFormatError, jpeg_size, write_mjpeg_avi
from detectors.video.evidence import thumbnail_jpeg

log = logging.getLogger(__name__)

SNAPSHOT_KEY = "snapshot_jpeg_b64"  # the inline snapshot (a 320 px thumbnail once the file is kept)
SNAPSHOT_FILE_KEY = "snapshot"  # the full-size snapshot's path, relative to the evidence folder
CLIP_KEY = "clip"


def camera_folder(evidence_dir: Path, camera_id: str) -> Path:
    """The camera's evidence folder: one name directly under ``evidence_dir`` whatever the id holds."""
    return evidence_dir / quote(camera_id, safe="")


def clip_path(evidence_dir: Path, camera_id: str, incident_id: str) -> Path:
    return camera_folder(evidence_dir, camera_id) / f"{quote(incident_id, safe='')}.avi"


def snapshot_path(evidence_dir: Path, camera_id: str, incident_id: str) -> Path:
    return camera_folder(evidence_dir, camera_id) / f"{quote(incident_id, safe='')}.jpg"


def frame_times_path(clip: Path) -> Path:
    """Where the capture times of a clip's frames are kept (beside the clip)."""
    return clip.with_name(f"{clip.name}.json")


@dataclass(frozen=True)
class FrameTimes:
    """When each frame of a clip was captured, and which frame is the incident's."""

    fps: float
    frame_ts: list[datetime]
    incident_ts: datetime
    incident_frame: int  # index of the last frame captured at or before the incident

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "fps": self.fps,
                "frame_ts": [ts.isoformat() for ts in self.frame_ts],
                "incident_ts": self.incident_ts.isoformat(),
                "incident_frame": self.incident_frame,
            }
        )

    @classmethod
    def read(cls, path: Path) -> FrameTimes | None:
        """The times kept beside a clip; None when there are none (older clips) or they cannot be read."""
        try:
            doc = orjson.loads(path.read_bytes())
            return cls(
                float(doc["fps"]),
                [datetime.fromisoformat(ts) for ts in doc["frame_ts"]],
                datetime.fromisoformat(doc["incident_ts"]),
                int(doc["incident_frame"]),
            )
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


def keep_snapshot(evidence_dir: Path, camera_id: str, incident_id: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """``evidence`` with its inline snapshot written to the camera's folder as
    ``<incident id>.jpg`` (its relative path under :data:`SNAPSHOT_FILE_KEY`) and replaced by a
    320 px thumbnail.

    The file is written through a temporary file and a rename (a reader never sees half of it).
    When it cannot be written (disk full, permissions) the thumbnail alone stays, with a warning:
    a full-size picture must not make the incident too big for Kafka, and the incident must go out.
    """
    encoded = evidence.get(SNAPSHOT_KEY)
    if not isinstance(encoded, str):
        return evidence
    try:
        jpeg = base64.b64decode(encoded, validate=True)
        thumbnail = thumbnail_jpeg(jpeg)
    except (binascii.Error, ValueError) as exc:
        log.warning("snapshot of incident %s (camera %s) is not a JPEG, left as it is: %s", incident_id, camera_id, exc)
        return evidence
    kept = {**evidence, SNAPSHOT_KEY: base64.b64encode(thumbnail).decode("ascii")}
    path = snapshot_path(evidence_dir, camera_id, incident_id)
    try:
        write_atomically(path, jpeg)
    except OSError as exc:
        log.warning("full-size snapshot of incident %s not written to %s: %s", incident_id, path, exc)
        return kept
    return {**kept, SNAPSHOT_FILE_KEY: path.relative_to(evidence_dir).as_posix()}


@dataclass
class _OpenClip:
    path: Path
    incident_ts: datetime
    until: datetime
    frames: list[tuple[datetime, bytes]] = field(default_factory=list)


class ClipRecorder:
    """Per-camera frame history and the clips being completed."""

    def __init__(self, evidence_dir: Path, pre_s: float = 5.0, post_s: float = 5.0, fps: float = 5.0) -> None:
        self.evidence_dir = evidence_dir
        self.pre_s = pre_s
        self.post_s = post_s
        self.fps = fps
        self._history: dict[str, deque[tuple[datetime, bytes]]] = {}
        self._open: dict[str, list[_OpenClip]] = {}

    def add_frame(self, camera_id: str, ts: datetime, jpeg: bytes) -> list[Path]:
        """Record a frame; returns the clips this frame completed (written to disk)."""
        history = self._history.setdefault(camera_id, deque())
        history.append((ts, jpeg))
        while history and ts - history[0][0] > timedelta(seconds=self.pre_s):
            history.popleft()
        done: list[Path] = []
        still_open = []
        for clip in self._open.get(camera_id, []):
            clip.frames.append((ts, jpeg))
            if ts >= clip.until:
                self._write(clip)
                done.append(clip.path)
            else:
                still_open.append(clip)
        self._open[camera_id] = still_open
        return done

    def start(self, camera_id: str, incident_id: str, ts: datetime) -> Path:
        """Begin the clip of an incident raised at ``ts`` (the frame at ``ts`` already added)."""
        path = clip_path(self.evidence_dir, camera_id, incident_id)
        frames = list(self._history.get(camera_id, ()))
        self._open.setdefault(camera_id, []).append(_OpenClip(path, ts, ts + timedelta(seconds=self.post_s), frames))
        return path

    def _write(self, clip: _OpenClip) -> None:
        # The frames are JPEGs already: wrapping them costs ~1 ms per clip, against ~150 ms for
        # decoding and re-encoding 50 frames on the worker's thread.
        times = frame_times_path(clip.path)
        try:
            size = jpeg_size(clip.frames[0][1])
            frames = [(ts, jpeg) for ts, jpeg in clip.frames if _size_or_none(jpeg) == size]
            span_s = (frames[-1][0] - frames[0][0]).total_seconds()
            # The rate the frames came at, so that a player shows them in real time (a 10 fps camera
            # written at a fixed 5 fps would play at half speed); the nominal rate for a single frame.
            fps = (len(frames) - 1) / span_s if len(frames) > 1 and span_s > 0 else self.fps
            moment = sum(1 for ts, _ in frames if ts <= clip.incident_ts) - 1
            record = FrameTimes(fps, [ts for ts, _ in frames], clip.incident_ts, max(moment, 0))
            # The times first: the clip's appearance is what tells readers both are there.
            write_atomically(times, record.to_json())
            write_mjpeg_avi(clip.path, [jpeg for _, jpeg in frames], fps)
        except (ClipFormatError, OSError) as exc:
            times.unlink(missing_ok=True)
            log.warning("clip %s not written: %s", clip.path.name, exc)


def _size_or_none(jpeg: bytes) -> tuple[int, int] | None:
    try:
        return jpeg_size(jpeg)
    except ClipFormatError:
        return None


def sweep(evidence_dir: Path, retention_days: dict[str, float], default_days: float, now_s: float | None = None) -> int:
    """Delete evidence files (clips, their frame times, snapshots, left-over temporary files) older
    than their camera's retention; returns how many were deleted.

    A folder is the camera whose percent-encoded id is its name. Files in folders below it (kept
    there before camera ids were encoded, by a camera id holding ``/``) go by the same retention.
    """
    now_s = time.time() if now_s is None else now_s
    deleted = 0
    if not evidence_dir.exists():
        return 0
    for camera_dir in evidence_dir.iterdir():
        if not camera_dir.is_dir():
            continue
        max_age_s = retention_days.get(unquote(camera_dir.name), default_days) * 86400
        for item in camera_dir.rglob("*"):
            try:
                if item.is_file() and now_s - item.stat().st_mtime > max_age_s:
                    item.unlink(missing_ok=True)
                    deleted += 1
            except OSError as exc:  # gone meanwhile, or not ours to delete: the next sweep tries again
                log.warning("evidence file %s not swept: %s", item, exc)
    return deleted
