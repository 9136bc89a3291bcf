"""The latest status of every camera feed, read from ingest's compacted camera-status topic.

A thread reads the topic from its start (compaction keeps each camera's newest status) and keeps
the newest per camera in memory, so the console's health page needs no database. A status that is
not valid is skipped with a warning: it concerns one camera's health display, not an alert.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from kafka import TopicPartition
from pydantic import ValidationError

from ingest.cameras.schemas import TOPIC_CAMERA_STATUS, CameraStatus
from pantau.kafka import make_consumer
from pantau.settings import CommonSettings

log = logging.getLogger(__name__)


class CameraStatusWatch:
    """Keeps ``latest[camera_id]``: the newest :class:`CameraStatus` seen."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.latest: dict[str, CameraStatus] = {}
        self.stop = threading.Event()
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="camera-status", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def snapshot(self) -> dict[str, CameraStatus]:
        with self._lock:
            return dict(self.latest)

    def _run(self) -> None:
        backoff_s = 0.5
        while not self.stop.is_set():
            try:
                self._consume(TopicPartition(self.settings.topic(TOPIC_CAMERA_STATUS), 0))
            except Exception as exc:  # outlive broker outages: reconnect and read again
                self.error = str(exc)
                log.warning("camera status: %s; reconnecting in %.1f s", exc, backoff_s)
                self.stop.wait(backoff_s)
                backoff_s = min(backoff_s * 2, 10)

    def _consume(self, tp: TopicPartition) -> None:
        consumer = make_consumer(self.settings, client_id="pantau-console-cameras", group_id=None)
        try:
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            while not self.stop.is_set():
                for rec in consumer.poll(timeout_ms=500).get(tp, []):
                    if rec.value is None:
                        continue
                    try:
                        status = CameraStatus.model_validate_json(rec.value)
                    except ValidationError as exc:
                        log.warning("camera status at offset %d skipped: %s", rec.offset, exc.errors()[0]["msg"])
                        continue
                    with self._lock:
                        self.latest[status.camera_id] = status
                self.error = None
        finally:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False)
