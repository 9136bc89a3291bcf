"""The camera detector worker: frames in, incidents out.

Consumes ``pantau.frames.v1`` in consumer group ``pantau.detectors.cameras``. Each camera's state
(background model, tracks, rule episodes) lives in the worker that owns the camera's partition;
a worker that takes a camera over starts it afresh, and the motion model's warm-up keeps that from
raising alarms. Frames that cannot be used — headers missing, not a JPEG, a size other than
announced, a camera not in the config, out of order or from the far future — go to the DLQ with
the reason, and the camera's state stays as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kafka import KafkaProducer
from kafka.structs import TopicPartition
from pydantic import Field, ValidationError

from detectors.camera_pipeline import CameraPipeline, FrameRejected
from detectors.schemas import INCIDENTS_TOPIC, TOPIC_INCIDENTS, Incident, Phase
from detectors.video.clips import ClipRecorder, sweep
from detectors.video.evidence import decode_gray, decoded_size
from detectors.zones.config import CameraDetectorsConfig
from ingest.cameras.schemas import FRAMES_TOPIC, TOPIC_FRAMES, FrameMeta
from pantau.config import format_validation_error, load_config_file, parse_section
from pantau.kafka import DeadLetterSink, dumps, ensure_topics, make_consumer, make_producer, partition_for_key
from pantau.settings import CommonSettings
from pantau.timeutil import utcnow
from pantau.topics import DLQ_TOPIC
from pantau.worker import ConsumerLoop, HandlerDefaults, install_signal_handlers

log = logging.getLogger(__name__)
STAGE = "detectors.cameras"


class Settings(CommonSettings):
    """Settings of the camera detector deployable."""

    camera_detectors_group: str = Field("pantau.detectors.cameras", description="Kafka consumer group")
    evidence_dir: Path = Field(Path("evidence"), description="Where evidence clips are kept, one folder per camera")
    clip_pre_s: float = Field(5.0, ge=0, description="Seconds of video kept before an incident")
    clip_post_s: float = Field(5.0, ge=0, description="Seconds of video kept after an incident")


class CameraDetectorWorker(HandlerDefaults):
    """Batch handler running one :class:`CameraPipeline` per owned camera."""

    def __init__(
        self,
        settings: Settings,
        config: CameraDetectorsConfig,
        producer: KafkaProducer,
        dead_letters: DeadLetterSink,
        partitions: int,
    ) -> None:
        self.config = config
        self.cameras = {camera.id: camera for camera in config.cameras}
        self.tz = ZoneInfo(config.timezone)
        self.producer = producer
        self.dead_letters = dead_letters
        self.partitions = partitions
        self.incidents_topic = settings.topic(TOPIC_INCIDENTS)
        self.pipelines: dict[str, CameraPipeline] = {}
        self.frames = 0
        self.evidence_dir = settings.evidence_dir
        self.clips = ClipRecorder(settings.evidence_dir, settings.clip_pre_s, settings.clip_post_s)
        self.retention_days = {camera.id: camera.retention_days for camera in config.cameras}
        self._next_sweep_s = 0.0

    def handle(self, records: Sequence[Any]) -> None:
        now = utcnow()
        for rec in records:
            try:
                incidents = self._frame(rec, now)
            except (FrameRejected, ValidationError, ValueError) as exc:
                reason = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
                self.dead_letters.reject_record(rec, f"frame refused: {reason}")
                continue
            for incident in incidents:
                live = incident.model_copy(update={"detected_at": utcnow()})
                self.producer.send(self.incidents_topic, key=live.key(), value=dumps(live))

    def _frame(self, rec: Any, now: Any) -> list[Incident]:
        if rec.key is None:
            raise ValueError("frame without a key (the camera id)")
        camera_id = rec.key.decode("utf-8", "replace")
        camera = self.cameras.get(camera_id)
        if camera is None:
            raise ValueError(f"camera {camera_id!r} is not in the config")
        meta = FrameMeta.from_headers(camera_id, list(rec.headers or []))
        pipeline = self.pipelines.get(camera_id)
        if pipeline is None:
            pipeline = self.pipelines[camera_id] = CameraPipeline(camera, self.tz)
        pipeline.check(meta.capture_ts, now)
        gray = decode_gray(rec.value or b"", meta.width_px)
        if (gray.shape[1], gray.shape[0]) != decoded_size(meta.width_px, meta.height_px):
            raise ValueError(f"frame is not the {meta.width_px}x{meta.height_px} its headers announce")
        self.frames += 1
        self.clips.add_frame(camera_id, meta.capture_ts, rec.value)
        incidents = pipeline.process(gray, meta.capture_ts, meta.seq)
        return [self._with_clip(camera_id, incident) for incident in incidents]

    def _with_clip(self, camera_id: str, incident: Incident) -> Incident:
        if incident.phase is not Phase.raised:
            return incident
        path = self.clips.start(camera_id, incident.id, incident.ts)
        clip = str(path.relative_to(self.evidence_dir))
        return incident.model_copy(update={"evidence": {**incident.evidence, "clip": clip}})

    def make_durable(self) -> None:
        self.producer.flush(timeout=30)

    def tick(self, now_s: float) -> None:
        if now_s >= self._next_sweep_s:
            self._next_sweep_s = now_s + 3600
            deleted = sweep(self.evidence_dir, self.retention_days, default_days=30)
            if deleted:
                log.info("deleted %d evidence files past their camera's retention", deleted)

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        for camera_id in [c for c in self.pipelines if partition_for_key(c.encode(), self.partitions) in gone]:
            del self.pipelines[camera_id]


def build(settings: Settings) -> ConsumerLoop:
    config = parse_section(CameraDetectorsConfig, load_config_file(settings.config), str(settings.config or "<none>"))
    ensure_topics(settings, [FRAMES_TOPIC, INCIDENTS_TOPIC, DLQ_TOPIC])
    consumer = make_consumer(
        settings,
        client_id="pantau-camera-detectors",
        group_id=settings.group(settings.camera_detectors_group),
        max_poll_records=200,
    )
    frames_topic = settings.topic(TOPIC_FRAMES)
    partitions = len(consumer.partitions_for_topic(frames_topic) or ()) or FRAMES_TOPIC.partitions
    producer = make_producer(settings, client_id="pantau-camera-detectors", max_request_size=8 * 1024 * 1024)
    worker = CameraDetectorWorker(settings, config, producer, DeadLetterSink(settings, producer, STAGE), partitions)
    return ConsumerLoop(
        consumer, worker, [frames_topic], name="camera-detectors", commit_interval_s=1.0, ready_file=settings.ready_file
    )


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s camera-detectors %(message)s")
    loop = build(settings)
    install_signal_handlers(loop.stop)
    loop.run()


if __name__ == "__main__":
    main()
