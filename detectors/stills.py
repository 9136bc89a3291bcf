"""Each camera's latest still: the last frame as a JPEG at ``<evidence dir>/stills/<camera>.jpg``.

The console's zone editor draws a camera's zones on it. The frame's own JPEG bytes are written (the
worker already has them; re-encoding would cost ~5 ms per frame for nothing), at most once every
``interval_s`` per camera, so a 5 fps camera costs one small file write every few seconds. Each
write goes to a temporary file in the same folder and is renamed over the still (``os.replace``),
so a reader sees the old still or the new one, never half a file.

The still shows whatever the camera sees, people included: it sits in the evidence folder, is
overwritten in place, and is served only to those allowed to see the camera.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

STILLS_FOLDER = "stills"


def still_path(evidence_dir: Path, camera_id: str) -> Path:
    """Where the latest still of ``camera_id`` is kept.

    Camera ids may hold ``/`` and ``:`` (``ingest.schemas.SENSOR_ID_PATTERN``): those are
    percent-encoded so that every still is one file directly in the stills folder, never a path
    leading elsewhere. The usual ids (letters, digits, ``._-``) are the file name as they are.
    """
    return evidence_dir / STILLS_FOLDER / f"{quote(camera_id, safe='')}.jpg"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A plain exclusive create (not mkstemp, whose files are 0600): the still gets the permissions
    # every other evidence file gets from the process's umask, so the console can read it.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("xb") as out:
            out.write(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class StillWriter:
    """Keeps each camera's latest still on disk, written at most once every ``interval_s`` per camera.

    ``interval_s`` 0 turns stills off. Failures (disk full, permissions) are logged, once per camera
    until a write succeeds again, and never stop detection: the still is a convenience.
    """

    def __init__(
        self, evidence_dir: Path, interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.evidence_dir = evidence_dir
        self.interval_s = interval_s
        self.clock = clock
        self._next_s: dict[str, float] = {}
        self._failing: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0

    def due(self, camera_id: str, now_s: float | None = None) -> bool:
        """Whether a frame of ``camera_id`` offered now would be written."""
        now_s = self.clock() if now_s is None else now_s
        return self.enabled and now_s >= self._next_s.get(camera_id, float("-inf"))

    def offer(self, camera_id: str, jpeg: bytes, now_s: float | None = None) -> Path | None:
        """Write ``jpeg`` as the camera's still if its interval has passed; the path written, else None."""
        now_s = self.clock() if now_s is None else now_s
        if not self.due(camera_id, now_s):
            return None
        # Also after a failure: a full disk is retried once per interval, not on every frame.
        self._next_s[camera_id] = now_s + self.interval_s
        path = still_path(self.evidence_dir, camera_id)
        try:
            write_atomically(path, jpeg)
        except OSError as exc:
            if camera_id not in self._failing:
                self._failing.add(camera_id)
                log.warning("still of camera %s not written to %s: %s", camera_id, path, exc)
            return None
        if camera_id in self._failing:
            self._failing.discard(camera_id)
            log.info("still of camera %s written again", camera_id)
        return path

    def forget(self, camera_id: str) -> None:
        """Drop the camera's timer (it left this worker); its last still stays on disk."""
        self._next_s.pop(camera_id, None)
        self._failing.discard(camera_id)
