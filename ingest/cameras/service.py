"""The camera ingest service: one process serves many cameras, one thread each.

Frames go to ``pantau.frames.v1`` keyed by camera id (so one camera's frames stay in order on one
partition and one detector worker); feed status goes to ``pantau.camera-status.v1``. Frames are
sent without waiting for each acknowledgement: a frame that is late is worth less than the next one,
and the producer still retries; status changes are flushed at once.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaProducer
from pydantic import Field

from ingest.cameras.capture import CameraFeed
from ingest.cameras.config import CameraConfig, CamerasConfig
from ingest.cameras.schemas import (
    CAMERA_STATUS_TOPIC,
    FRAMES_TOPIC,
    TOPIC_CAMERA_STATUS,
    TOPIC_FRAMES,
    CameraStatus,
    FrameMeta,
)
from pantau.config import load_config_file, parse_section
from pantau.exceptions import ConfigError, KafkaError
from pantau.kafka import dumps, ensure_topics, flush, make_producer
from pantau.logs import configure_logging
from pantau.metrics import Heartbeat, start_ops_server
from pantau.settings import CommonSettings
from pantau.topics import DLQ_TOPIC
from pantau.worker import install_signal_handlers

log = logging.getLogger(__name__)


class Settings(CommonSettings):
    """Settings of the camera ingest deployable."""

    camera_status_interval_s: float = Field(5.0, gt=0, description="Seconds between status reports of a feed")


class CameraIngest:
    """All configured feeds of one process."""

    def __init__(self, settings: Settings, config: CamerasConfig, producer: KafkaProducer) -> None:
        self.settings = settings
        self.producer = producer
        self.frames_topic = settings.topic(TOPIC_FRAMES)
        self.status_topic = settings.topic(TOPIC_CAMERA_STATUS)
        self._status_lock = threading.Lock()
        self.feeds = [self._feed(camera) for camera in config.cameras]
        self.threads: list[threading.Thread] = []
        self._threads_by_camera: dict[str, threading.Thread] = {}

    def _feed(self, camera: CameraConfig) -> CameraFeed:
        return CameraFeed(
            camera, self._send_frame, self._send_status, status_interval_s=self.settings.camera_status_interval_s
        )

    def _send_frame(self, meta: FrameMeta, jpeg: bytes) -> None:
        self.producer.send(self.frames_topic, key=meta.camera_id.encode(), value=jpeg, headers=meta.headers())

    def _send_status(self, status: CameraStatus) -> None:
        with self._status_lock:
            self.producer.send(self.status_topic, key=status.key(), value=dumps(status))
            try:
                flush(self.producer, 10)
            except KafkaError as exc:
                # The feed keeps running; the next report (every few seconds) says the same again.
                log.warning("camera %s: status not confirmed by Kafka: %s", status.camera_id, exc)

    def start(self) -> None:
        for feed in self.feeds:
            self._start_feed(feed)

    def _start_feed(self, feed: CameraFeed) -> None:
        thread = threading.Thread(target=feed.run, name=f"camera-{feed.camera.id}", daemon=True)
        thread.start()
        self.threads.append(thread)
        self._threads_by_camera[feed.camera.id] = thread

    def reload(self, config: CamerasConfig, timeout_s: float = 10.0) -> tuple[list[str], list[str], list[str]]:
        """Serve the cameras of ``config`` (``pantau reload``): a new camera starts, a removed one stops,
        a changed one (source, fps, size...) reconnects; the others keep streaming untouched. Returns
        the ids (added, removed, changed)."""
        running = {feed.camera.id: feed for feed in self.feeds}
        wanted = {camera.id: camera for camera in config.cameras}
        added = [c for c in wanted if c not in running]
        removed = [c for c in running if c not in wanted]
        changed = [c for c in wanted if c in running and running[c].camera != wanted[c]]
        for camera_id in [*removed, *changed]:
            running[camera_id].stop.set()
        for camera_id in [*removed, *changed]:
            thread = self._threads_by_camera.pop(camera_id, None)
            if thread is not None:
                thread.join(timeout=timeout_s)
                self.threads.remove(thread)
        feeds = [running[c] if c in running and c not in changed else self._feed(wanted[c]) for c in wanted]
        for feed in feeds:
            if feed.camera.id in added or feed.camera.id in changed:
                self._start_feed(feed)
        self.feeds = feeds
        return added, removed, changed

    def stop(self, timeout_s: float = 10.0) -> None:
        for feed in self.feeds:
            feed.stop.set()
        for thread in self.threads:
            thread.join(timeout=timeout_s)
        self.producer.flush(timeout=timeout_s)


def main() -> None:
    settings = Settings()
    configure_logging(settings, "camera-ingest")
    config = parse_section(CamerasConfig, load_config_file(settings.config), str(settings.config or "<none>"))
    ensure_topics(settings, [FRAMES_TOPIC, CAMERA_STATUS_TOPIC, DLQ_TOPIC])
    producer = make_producer(settings, client_id="pantau-camera-ingest", max_request_size=8 * 1024 * 1024)
    ingest = CameraIngest(settings, config, producer)
    stop, reload = threading.Event(), threading.Event()
    install_signal_handlers(stop, reload)
    heartbeat = Heartbeat(deadline_s=30.0)
    start_ops_server(settings, alive=heartbeat.alive, ready=lambda: True)
    ingest.start()
    if settings.ready_file is not None:
        settings.ready_file.parent.mkdir(parents=True, exist_ok=True)
        settings.ready_file.write_text("ready\n")
    log.info("serving %d cameras", len(ingest.feeds))
    while not stop.is_set():
        heartbeat.beat()
        if not reload.wait(0.5):
            continue
        reload.clear()
        try:
            new = parse_section(CamerasConfig, load_config_file(settings.config), str(settings.config or "<none>"))
        except ConfigError as exc:
            log.error("configuration refused, the running cameras stay: %s", exc)
            continue
        added, removed, changed = ingest.reload(new)
        log.info("configuration reloaded: cameras added %s, removed %s, changed %s", added, removed, changed)
    ingest.stop()
    producer.close(timeout=10)


if __name__ == "__main__":
    main()
