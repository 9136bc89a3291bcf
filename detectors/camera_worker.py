"""The camera detector worker: frames in, incidents out.

Consumes ``pantau.frames.v1`` in consumer group ``pantau.detectors.cameras``. Each camera's state
(background model, tracks, rule episodes) lives in the worker that owns the camera's partition;
a worker that takes a camera over starts it afresh, and the motion model's warm-up keeps that from
raising alarms. Frames that cannot be used — headers missing, not a JPEG, a size other than
announced, a camera not in the config, out of order or from the far future — go to the DLQ with
the reason, and the camera's state stays as it was.

Each camera's latest frame is kept as a still (``<evidence dir>/stills/<camera>.jpg``, see
:mod:`detectors.stills`) for the console's zone editor. The config file is watched (from the
worker loop, every ``PANTAU_CONFIG_CHECK_INTERVAL_S``): when it changes it is validated with the
same model as at start, and the cameras whose zones, masks or person check changed get their zone
layer rebuilt in place — background models, tracks and the other cameras' state are kept. An
invalid file is logged with the reason and the running config stays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kafka import KafkaProducer
from kafka.structs import TopicPartition
from pydantic import Field, ValidationError

from detectors.camera_pipeline import CameraPipeline, FrameRejected, shared_detector
from detectors.schemas import (
    INCIDENTS_TOPIC,
    LINE_CROSSINGS_TOPIC,
    TOPIC_INCIDENTS,
    TOPIC_LINE_CROSSINGS,
    Incident,
    Phase,
)
from detectors.stills import StillWriter
from detectors.video.clips import ClipRecorder, keep_snapshot, sweep
from detectors.video.evidence import decoded_size
from detectors.video.frames import CameraFrame
from detectors.video.models import ModelMissing, default_models_dir
from detectors.zones.config import CameraDetectorsConfig, DetectorCameraConfig
from ingest.cameras.schemas import FRAMES_TOPIC, TOPIC_FRAMES, FrameMeta
from pantau.config import format_validation_error, load_config_file, parse_section
from pantau.exceptions import ConfigError
from pantau.kafka import (
    DeadLetterSink,
    dumps,
    ensure_topics,
    flush,
    make_consumer,
    make_producer,
    partition_for_key,
    topic_partitions,
)
from pantau.logs import configure_logging
from pantau.metrics import DETECTOR_SECONDS, FRAMES, INCIDENTS
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
    still_interval_s: float = Field(
        5.0, ge=0, description="Seconds between writes of a camera's latest still (evidence dir/stills); 0: none"
    )
    config_check_interval_s: float = Field(
        2.0, gt=0, description="Seconds between checks of the config file for changed zones (hot reload)"
    )
    models_dir: Path = Field(
        default_factory=default_models_dir,
        description="Folder of the object detectors' network files (`make models`; default .pantau/models)",
    )


# Fields of a camera that only camera-ingest reads: a change to them needs camera-ingest restarted.
_INGEST_FIELDS = ("source", "fps", "width_px", "jpeg_quality", "grayscale", "loop", "realtime")
# A config file modified less than this long ago may still be being written by an editor that
# rewrites in place; it is read once it has settled (the console replaces it atomically anyway).
CONFIG_SETTLE_S = 0.5


@dataclass(frozen=True)
class FileStamp:
    """What identifies one version of a file: a rename over it changes the inode, an edit the mtime."""

    inode: int
    mtime_ns: int
    size: int


def file_stamp(path: Path) -> FileStamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return FileStamp(st.st_ino, st.st_mtime_ns, st.st_size)


class ConfigWatcher:
    """Tells, at most every ``interval_s``, whether the config file has a new version to load.

    Polled from the worker loop (no thread: the reload then runs where the pipelines live). A
    version is offered once, when it has not been modified for :data:`CONFIG_SETTLE_S`; a file that
    disappears is logged once and nothing is offered until it is back.
    """

    def __init__(self, path: Path, interval_s: float = 2.0) -> None:
        self.path = path
        self.interval_s = interval_s
        self.stamp = file_stamp(path)  # the version running now
        self._seen: FileStamp | None = None  # a new version seen at the last look, not yet settled
        self._next_s = 0.0

    def poll(self, now_s: float) -> bool:
        if now_s < self._next_s:
            return False
        self._next_s = now_s + self.interval_s
        stamp = file_stamp(self.path)
        if stamp == self.stamp:
            return False
        if stamp is None:
            log.warning("config file %s is gone; the running config stays", self.path)
            self.stamp = None
            return False
        # Settled: old enough by its mtime, or unchanged since the last look (an mtime from a clock
        # ahead of ours, as on a network share, must not hold the reload back).
        if time.time_ns() - stamp.mtime_ns < CONFIG_SETTLE_S * 1e9 and stamp != self._seen:
            self._seen = stamp
            self._next_s = now_s + CONFIG_SETTLE_S  # look again soon, once the writer is done
            return False
        self.stamp, self._seen = stamp, None
        return True


def _ingest_view(camera: DetectorCameraConfig) -> tuple[object, ...]:
    return tuple(getattr(camera, name) for name in _INGEST_FIELDS)


class CameraDetectorWorker(HandlerDefaults):
    """Batch handler running one :class:`CameraPipeline` per owned camera."""

    def __init__(
        self,
        settings: Settings,
        config: CameraDetectorsConfig,
        producer: KafkaProducer,
        dead_letters: DeadLetterSink,
        partitions: int,
        watcher: ConfigWatcher | None = None,
    ) -> None:
        self.config = config
        self.cameras = {camera.id: camera for camera in config.cameras}
        self.tz = ZoneInfo(config.timezone)
        self.producer = producer
        self.dead_letters = dead_letters
        self.partitions = partitions
        self.incidents_topic = settings.topic(TOPIC_INCIDENTS)
        self.crossings_topic = settings.topic(TOPIC_LINE_CROSSINGS)
        self.models_dir = settings.models_dir
        self.max_clock_skew_s = settings.max_clock_skew_s
        self.pipelines: dict[str, CameraPipeline] = {}
        self.frames = 0
        self.evidence_dir = settings.evidence_dir
        self.clips = ClipRecorder(settings.evidence_dir, settings.clip_pre_s, settings.clip_post_s)
        self.retention_days = {camera.id: camera.retention_days for camera in config.cameras}
        self._next_sweep_s = 0.0
        self.stills = StillWriter(settings.evidence_dir, settings.still_interval_s)
        self.config_path = settings.config
        if watcher is None and settings.config is not None:
            watcher = ConfigWatcher(settings.config, settings.config_check_interval_s)
        self.watcher = watcher

    def handle(self, records: Sequence[Any]) -> None:
        now = utcnow()
        for rec in records:
            try:
                started_s = time.monotonic()
                incidents = self._frame(rec, now)
            except (FrameRejected, ValidationError, ValueError) as exc:
                reason = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
                self.dead_letters.reject_record(rec, f"frame refused: {reason}")
                continue
            camera = rec.key.decode("utf-8", "replace")
            FRAMES.labels(camera).inc()
            DETECTOR_SECONDS.labels(camera).observe(time.monotonic() - started_s)
            for incident in incidents:
                live = incident.model_copy(update={"detected_at": utcnow()})
                self.producer.send(self.incidents_topic, key=live.key(), value=dumps(live))
                INCIDENTS.labels(STAGE, live.type, live.phase.value).inc()
                log.info(
                    "%s: %s incident %s (%s) on %s: %s",
                    STAGE,
                    live.phase.value,
                    live.id,
                    live.type,
                    live.source,
                    live.title,
                    extra={"correlation_id": live.correlation_id, "incident_id": live.id},
                )

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
            pipeline = self.pipelines[camera_id] = CameraPipeline(camera, self.tz, models_dir=self.models_dir)
        pipeline.check(meta.capture_ts, now, self.max_clock_skew_s)
        frame = CameraFrame.from_jpeg(rec.value or b"", meta.width_px)
        gray = frame.gray
        if (gray.shape[1], gray.shape[0]) != decoded_size(meta.width_px, meta.height_px):
            raise ValueError(f"frame is not the {meta.width_px}x{meta.height_px} its headers announce")
        self.frames += 1
        self.clips.add_frame(camera_id, meta.capture_ts, rec.value)
        self.stills.offer(camera_id, rec.value)
        incidents = pipeline.process(frame, meta.capture_ts, meta.seq)
        for crossing in pipeline.take_crossings():
            self.producer.send(self.crossings_topic, key=crossing.key(), value=dumps(crossing))
        # The frame that triggered them: its id follows the incidents into alerting's logs.
        return [
            self._with_clip(camera_id, incident.model_copy(update={"correlation_id": meta.frame_id}))
            for incident in incidents
        ]

    def _with_clip(self, camera_id: str, incident: Incident) -> Incident:
        # The full-size snapshot goes to a file; the message keeps a thumbnail (clips.keep_snapshot).
        evidence = keep_snapshot(self.evidence_dir, camera_id, incident.id, incident.evidence)
        if incident.phase is Phase.raised:
            path = self.clips.start(camera_id, incident.id, incident.ts)
            evidence = {**evidence, "clip": path.relative_to(self.evidence_dir).as_posix()}
        return incident if evidence is incident.evidence else incident.model_copy(update={"evidence": evidence})

    def make_durable(self) -> None:
        flush(self.producer, 30)

    def tick(self, now_s: float) -> None:
        if self.watcher is not None and self.watcher.poll(now_s):
            self.reload_config()
        if now_s >= self._next_sweep_s:
            self._next_sweep_s = now_s + 3600
            deleted = sweep(self.evidence_dir, self.retention_days, default_days=30)
            if deleted:
                log.info("deleted %d evidence files past their camera's retention", deleted)

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        for camera_id in [c for c in self.pipelines if partition_for_key(c.encode(), self.partitions) in gone]:
            del self.pipelines[camera_id]
            self.stills.forget(camera_id)

    # -- hot reload --------------------------------------------------------------------------
    def reload(self) -> None:
        """``pantau reload``: apply the config file now rather than at the next file check."""
        if self.config_path is None:
            return
        if not self.reload_config():
            raise ConfigError(f"{self.config_path}: invalid; see the error above")

    def reload_config(self) -> bool:
        """Load the config file again and apply it; False (and the running config kept) if it is invalid."""
        source = str(self.config_path)
        try:
            config = parse_section(CameraDetectorsConfig, load_config_file(self.config_path), source)
            ZoneInfo(config.timezone)  # an unknown zone would otherwise fail on the next frame
        except ConfigError as exc:
            log.error("config file changed but is invalid, the running config stays: %s", exc)
            return False
        except (ZoneInfoNotFoundError, ValueError) as exc:
            log.error("config file changed but is invalid, the running config stays: %s: timezone: %s", source, exc)
            return False
        try:
            load_models(config, self.models_dir)
        except ModelMissing as exc:
            log.error("config file changed but cannot be applied, the running config stays: %s", exc)
            return False
        self.apply_config(config)
        return True

    def apply_config(self, config: CameraDetectorsConfig) -> list[str]:
        """Switch to a validated config; returns the cameras whose zone layer was reloaded.

        Cameras whose zones, masks or person check changed are rebuilt in place
        (:meth:`CameraPipeline.reconfigure`: the background model is kept); other changes (name,
        location, retention) apply from the next frame; a camera removed from the config stops
        being analysed (its frames are refused from now on); a new one starts with its first frame.
        """
        old = self.cameras
        new = {camera.id: camera for camera in config.cameras}
        tz = ZoneInfo(config.timezone) if config.timezone != self.config.timezone else None
        reloaded = sorted(
            camera_id
            for camera_id, camera in new.items()
            if camera_id in old
            and (camera.zones, camera.masks, camera.object_check)
            != (old[camera_id].zones, old[camera_id].masks, old[camera_id].object_check)
        )
        # A snapshot of the items: a rebalance may drop pipelines from the client's network thread.
        for camera_id, pipeline in list(self.pipelines.items()):
            camera = new.get(camera_id)
            if camera is None:
                self.pipelines.pop(camera_id, None)
            elif camera != pipeline.camera or tz is not None:
                pipeline.reconfigure(camera, tz)
        added, removed = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
        restart = sorted(c for c in new if c in old and _ingest_view(new[c]) != _ingest_view(old[c]))
        self.config, self.cameras = config, new
        self.tz = tz or self.tz
        self.retention_days = {camera.id: camera.retention_days for camera in config.cameras}
        for camera_id in removed:
            self.stills.forget(camera_id)
        parts = [f"zones reloaded for {', '.join(reloaded)}" if reloaded else "no camera's zones changed"]
        if added:
            parts.append(f"cameras added: {', '.join(added)}")
        if removed:
            parts.append(f"cameras removed (their frames are refused from now on): {', '.join(removed)}")
        if tz is not None:
            parts.append(f"timezone now {config.timezone}")
        log.info("config %s reloaded: %s", self.config_path, "; ".join(parts))
        if restart:
            log.warning("feed settings of %s changed: they apply once camera-ingest restarts", ", ".join(restart))
        return reloaded


def load_models(config: CameraDetectorsConfig, models_dir: Path) -> None:
    """Load every object detector the cameras name, so a missing model fails now, naming the
    install command, rather than at a camera's first frame (or never, on motion alone)."""
    for model in sorted({c.object_check.model for c in config.cameras if c.object_check is not None}):
        shared_detector(model, models_dir)


def build(settings: Settings) -> ConsumerLoop:
    # Stamped before loading, so that an edit made while starting up is not missed.
    watcher = ConfigWatcher(settings.config, settings.config_check_interval_s) if settings.config else None
    config = parse_section(CameraDetectorsConfig, load_config_file(settings.config), str(settings.config or "<none>"))
    load_models(config, settings.models_dir)
    ensure_topics(settings, [FRAMES_TOPIC, INCIDENTS_TOPIC, LINE_CROSSINGS_TOPIC, DLQ_TOPIC])
    consumer = make_consumer(
        settings,
        client_id="pantau-camera-detectors",
        group_id=settings.group(settings.camera_detectors_group),
        max_poll_records=200,
    )
    frames_topic = settings.topic(TOPIC_FRAMES)
    partitions = len(consumer.partitions_for_topic(frames_topic) or ()) or topic_partitions(settings, FRAMES_TOPIC)
    producer = make_producer(settings, client_id="pantau-camera-detectors", max_request_size=8 * 1024 * 1024)
    dead_letters = DeadLetterSink(settings, producer, STAGE)
    worker = CameraDetectorWorker(settings, config, producer, dead_letters, partitions, watcher)
    return ConsumerLoop(
        consumer, worker, [frames_topic], name="camera-detectors", commit_interval_s=1.0, ready_file=settings.ready_file
    )


def main() -> None:
    settings = Settings()
    configure_logging(settings, "camera-detectors")  # replaces any handlers `pantau run` set up
    loop = build(settings)
    install_signal_handlers(loop.stop, loop.reload_requested)
    loop.serve_ops(settings)
    loop.run()


if __name__ == "__main__":
    main()
