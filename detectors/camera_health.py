"""The camera-health watch: a feed that goes silent becomes a ``video_loss`` incident, and its
return clears it.

Ingest reports each feed's status (``pantau.camera-status.v1``) as it goes, but never builds
incidents; this watch does. A camera counts as delivering while its reports show frames being sent;
when no progress has been seen for ``after_s`` — because the feed is reconnecting, or because
ingest itself went quiet — a timer raises ``video_loss``. Every configured camera is watched from
the start, so a camera that never delivered is reported too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import KafkaProducer
from pydantic import Field, ValidationError

from detectors.schemas import INCIDENTS_TOPIC, TOPIC_INCIDENTS, Incident, Phase, Severity, incident_id
from detectors.zones.config import CameraDetectorsConfig, DetectorCameraConfig
from ingest.cameras.schemas import CAMERA_STATUS_TOPIC, TOPIC_CAMERA_STATUS, CameraStatus, FeedState
from pantau.config import format_validation_error, load_config_file, parse_section
from pantau.kafka import DeadLetterSink, dumps, ensure_topics, flush, make_consumer, make_producer
from pantau.logs import configure_logging
from pantau.metrics import INCIDENTS
from pantau.redact import redact_credentials
from pantau.settings import CommonSettings
from pantau.timeutil import utcnow
from pantau.topics import DLQ_TOPIC
from pantau.worker import ConsumerLoop, HandlerDefaults, install_signal_handlers

log = logging.getLogger(__name__)
STAGE = "detectors.camera-health"
RULE = "camera-health:video_loss"


@dataclass
class _Feed:
    progress_at: datetime
    frames_sent: int = -1
    lost_since: datetime | None = None
    state: str = "unknown"
    error: str | None = None


class CameraHealthWatch:
    """Pure logic of the watch: ``observe`` status reports, ``tick`` the timer."""

    def __init__(self, cameras: Sequence[DetectorCameraConfig], after_s: float, started_at: datetime) -> None:
        self.after_s = after_s
        self.cameras = {camera.id: camera for camera in cameras}
        self.feeds = {camera.id: _Feed(progress_at=started_at) for camera in cameras}

    def reconfigure(self, cameras: Sequence[DetectorCameraConfig], after_s: float, now: datetime) -> None:
        """Watch this list from now on: a new camera is watched from ``now``; a removed one is dropped
        (an open video-loss alert of it stays for the operators to close); the others keep their state."""
        self.after_s = after_s
        self.cameras = {camera.id: camera for camera in cameras}
        for camera_id in [c for c in self.feeds if c not in self.cameras]:
            del self.feeds[camera_id]
        for camera_id in self.cameras:
            self.feeds.setdefault(camera_id, _Feed(progress_at=now))

    def observe(self, status: CameraStatus) -> list[Incident]:
        """Record a report; returns the ``cleared`` incident when a lost feed delivers again."""
        feed = self.feeds.setdefault(status.camera_id, _Feed(progress_at=status.at))
        # Redacted again: a status written by an older ingest may still carry a camera's password.
        feed.state, feed.error = status.state.value, redact_credentials(status.error) if status.error else None
        progressed = status.state is FeedState.connected and status.frames_sent != feed.frames_sent
        feed.frames_sent = status.frames_sent
        if not progressed:
            return []
        feed.progress_at = max(feed.progress_at, status.at)
        if feed.lost_since is None:
            return []
        lost_since, feed.lost_since = feed.lost_since, None
        return [self._incident(status.camera_id, Phase.cleared, lost_since, status.at, "Video restored")]

    def tick(self, now: datetime) -> list[Incident]:
        out = []
        for camera_id, feed in self.feeds.items():
            if feed.lost_since is None and (now - feed.progress_at).total_seconds() > self.after_s:
                feed.lost_since = feed.progress_at
                why = f" ({feed.state}: {feed.error})" if feed.error else f" ({feed.state})"
                out.append(self._incident(camera_id, Phase.raised, feed.progress_at, now, f"Video loss{why}"))
        return out

    def _incident(self, camera_id: str, phase: Phase, episode_ts: datetime, ts: datetime, title: str) -> Incident:
        camera = self.cameras.get(camera_id)
        name = camera.name or camera_id if camera else camera_id
        feed = self.feeds[camera_id]
        return Incident(
            id=incident_id(RULE, camera_id, phase, episode_ts),
            type="video_loss",
            source=camera_id,
            source_kind="camera",
            rule=RULE,
            phase=phase,
            ts=ts,
            detected_at=utcnow(),
            severity=Severity.high,
            location=camera.location if camera else None,
            title=f"{title} on {name}",
            evidence={"last_progress": episode_ts.isoformat(), "state": feed.state, "error": feed.error},
        )


class Settings(CommonSettings):
    """Settings of the camera-health watch deployable."""

    camera_health_group: str = Field("pantau.detectors.camera-health", description="Kafka consumer group")
    video_loss_after_s: float = Field(15.0, gt=0, description="Seconds without frames before video loss")


class CameraHealthWorker(HandlerDefaults):
    """Batch handler around :class:`CameraHealthWatch`."""

    def __init__(
        self,
        settings: Settings,
        watch: CameraHealthWatch,
        producer: KafkaProducer,
        dead_letters: DeadLetterSink,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.watch = watch
        self.producer = producer
        self.dead_letters = dead_letters
        self.clock = clock
        self.incidents_topic = settings.topic(TOPIC_INCIDENTS)
        self._next_tick_s = 0.0

    def reload(self) -> None:
        """``pantau reload``: watch the cameras the configuration file lists now."""
        source = str(self.settings.config or "<none>")
        config = parse_section(CameraDetectorsConfig, load_config_file(self.settings.config), source)
        self.watch.reconfigure(config.cameras, self.settings.video_loss_after_s, self.clock())

    def _emit(self, incidents: list[Incident]) -> None:
        for incident in incidents:
            self.producer.send(self.incidents_topic, key=incident.key(), value=dumps(incident))
            INCIDENTS.labels(STAGE, incident.type, incident.phase.value).inc()

    def handle(self, records: Sequence[Any]) -> None:
        for rec in records:
            if rec.value is None:
                continue
            try:
                status = CameraStatus.model_validate_json(rec.value)
            except ValidationError as exc:
                self.dead_letters.reject_record(rec, f"invalid camera status: {format_validation_error(exc)}")
                continue
            self._emit(self.watch.observe(status))

    def tick(self, now_s: float) -> None:
        if now_s >= self._next_tick_s:
            self._next_tick_s = now_s + 1.0
            self._emit(self.watch.tick(self.clock()))

    def make_durable(self) -> None:
        flush(self.producer, 30)


def build(settings: Settings) -> ConsumerLoop:
    config = parse_section(CameraDetectorsConfig, load_config_file(settings.config), str(settings.config or "<none>"))
    ensure_topics(settings, [CAMERA_STATUS_TOPIC, INCIDENTS_TOPIC, DLQ_TOPIC])
    producer = make_producer(settings, client_id="pantau-camera-health")
    watch = CameraHealthWatch(config.cameras, settings.video_loss_after_s, started_at=utcnow())
    worker = CameraHealthWorker(settings, watch, producer, DeadLetterSink(settings, producer, STAGE))
    consumer = make_consumer(
        settings, client_id="pantau-camera-health", group_id=settings.group(settings.camera_health_group)
    )
    return ConsumerLoop(
        consumer,
        worker,
        [settings.topic(TOPIC_CAMERA_STATUS)],
        name="camera-health",
        commit_interval_s=1.0,
        ready_file=settings.ready_file,
    )


def main() -> None:
    settings = Settings()
    configure_logging(settings, "camera-health")
    loop = build(settings)
    install_signal_handlers(loop.stop, loop.reload_requested)
    loop.serve_ops(settings)
    loop.run()


if __name__ == "__main__":
    main()
