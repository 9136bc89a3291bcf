"""One camera's detection path: frame → motion → tracks → zone rules → incidents with evidence.

Shared by the Kafka worker (``detectors.camera_worker``) and the offline analyzer
(``pantau analyze``), so what operators tune on recorded footage is what runs live.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from detectors.schemas import Incident, Phase, Severity, incident_id
from detectors.video.evidence import snapshot_b64
from detectors.video.motion import MotionConfig, MotionDetector, polygon_mask
from detectors.video.person import PersonVerifier, person_confidence
from detectors.video.static_objects import StaticObject, StaticObjectConfig, StaticObjectDetector
from detectors.video.tamper import TamperConfig, TamperDetector, TamperKind
from detectors.video.tracking import Track, Tracker, TrackerConfig
from detectors.zones.config import DetectorCameraConfig
from detectors.zones.rules import SceneFrame, TrackView, ZoneRule, build_zone_rules

MAX_FUTURE_S = 60.0  # a frame further ahead of the detector's clock than this is refused
STATIC_ID_BASE = 1_000_000  # static objects get ids apart from moving tracks
# Tamper needs seconds, not frames: checking every 3rd frame (with a hold of 4 checks, about 2.4 s at
# 5 fps) keeps it to a third of its cost on the per-frame budget.
TAMPER_EVERY_N_FRAMES = 3
# Objects left behind matter after tens of seconds: once a second (every 5th frame at 5 fps) is
# plenty, with the model rates scaled to match.
STATIC_EVERY_N_FRAMES = 5
STATIC_CONFIG = StaticObjectConfig(short_rate=0.4, long_rate=0.005, warmup_frames=3)
TAMPER_CONFIG = TamperConfig(reference_frames=5, hold_frames=4, clear_frames=3, adopt_frames=10)


def foreground_area_frac(foreground: npt.NDArray[np.uint8], xyxy: tuple[float, float, float, float]) -> float:
    """How much of the frame is moving foreground inside the normalized box ``xyxy``."""
    height, width = int(foreground.shape[0]), int(foreground.shape[1])
    x0, y0 = max(int(xyxy[0] * width), 0), max(int(xyxy[1] * height), 0)
    x1, y1 = min(int(np.ceil(xyxy[2] * width)), width), min(int(np.ceil(xyxy[3] * height)), height)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return int(np.count_nonzero(foreground[y0:y1, x0:x1])) / (width * height)


class FrameRejected(ValueError):
    """A frame this camera's pipeline will not process (the reason goes to the dead-letter queue)."""


class CameraPipeline:
    """Per-camera state: background model, tracks, rule episodes, and the last frame's time."""

    def __init__(
        self,
        camera: DetectorCameraConfig,
        tz: ZoneInfo,
        motion: MotionConfig | None = None,
        tracking: TrackerConfig | None = None,
    ) -> None:
        self.camera = camera
        self.tz = tz
        self.motion = MotionDetector(motion)
        self.tracker = Tracker(tracking)
        self.rules: list[ZoneRule[Any]] = build_zone_rules(camera)
        self.static_objects: StaticObjectDetector | None = None
        self._still: list[StaticObject] = []
        self._measure_areas = False
        self._rules_changed()
        self.last_ts: datetime | None = None
        self.frames = 0
        self._mask: npt.NDArray[np.uint8] | None = None
        self._mask_shape: tuple[int, ...] = ()
        self.tracks: list[Track] = []
        self.tamper = TamperDetector(TAMPER_CONFIG)
        self.persons = PersonVerifier(camera.person_check) if camera.person_check is not None else None
        self.tamper_kind: TamperKind | None = None
        self._tamper_since: datetime | None = None

    def _rules_changed(self) -> None:
        # Only cameras with an abandoned_object rule pay for the static-object models.
        if not any(rule.name == "abandoned_object" for rule in self.rules):
            self.static_objects, self._still = None, []
        elif self.static_objects is None:
            self.static_objects = StaticObjectDetector(STATIC_CONFIG)
        # Crowd estimates need each object's moving area, measured on the motion mask.
        self._measure_areas = any(rule.name == "crowd" for rule in self.rules)

    def reconfigure(self, camera: DetectorCameraConfig, tz: ZoneInfo | None = None) -> list[str]:
        """Take a new config of the same camera (a hot reload); returns what changed, for the log.

        Only the zone layer is rebuilt: the background model, the tracks, the tamper reference and
        the last frame's time stay, so a reload neither restarts the warm-up nor lets a tamper
        episode go unfinished. A rule whose zone and parameters are unchanged keeps its episodes
        (someone already reported in an unchanged zone is not reported again); new or changed rules
        start afresh, so someone already standing in a zone that was just drawn around them is
        reported at once.
        """
        if camera.id != self.camera.id:
            raise ValueError(f"pipeline of camera {self.camera.id} cannot take the config of {camera.id}")
        old, changed = self.camera, []
        self.camera = camera
        if tz is not None:
            self.tz = tz
        if camera.zones != old.zones:
            changed.append("zones")
            kept = list(self.rules)
            rules: list[ZoneRule[Any]] = []
            for fresh in build_zone_rules(camera):
                same = next(
                    (r for r in kept if r.name == fresh.name and r.zone == fresh.zone and r.params == fresh.params),
                    None,
                )
                if same is not None:
                    kept.remove(same)
                rules.append(same or fresh)
            self.rules = rules
            self._rules_changed()
        if camera.masks != old.masks:
            changed.append("masks")
            self._mask, self._mask_shape = None, ()  # redrawn on the next frame
        if camera.person_check != old.person_check:
            changed.append("person_check")
            self.persons = PersonVerifier(camera.person_check) if camera.person_check is not None else None
        return changed

    def _mask_for(self, gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
        if not self.camera.masks:
            return None
        if self._mask is None or self._mask_shape != gray.shape:
            self._mask = polygon_mask(self.camera.masks, gray.shape[1], gray.shape[0])
            self._mask_shape = gray.shape
        return self._mask

    def check(self, ts: datetime, now: datetime) -> None:
        """Refuse frames out of order or from the far future, before any state changes."""
        if self.last_ts is not None and ts <= self.last_ts:
            raise FrameRejected(f"frame at {ts.isoformat()} is not after the last one ({self.last_ts.isoformat()})")
        if ts - now > timedelta(seconds=MAX_FUTURE_S):
            raise FrameRejected(f"frame at {ts.isoformat()} is more than {MAX_FUTURE_S:.0f} s in the future")

    def process(self, gray: npt.NDArray[np.uint8], ts: datetime, frame_index: int) -> list[Incident]:
        """Run the whole path on one grayscale frame taken at ``ts``."""
        self.last_ts = ts
        self.frames += 1
        incidents = self._tamper(gray, ts, frame_index) if self.frames % TAMPER_EVERY_N_FRAMES == 1 else []
        result = self.motion.process(gray, self._mask_for(gray))
        self.tracks = self.tracker.update(result.blobs, ts.timestamp())
        fg = result.foreground if self._measure_areas else None
        views = tuple(
            self._view(gray, t, ts.timestamp(), foreground_area_frac(fg, t.xyxy) if fg is not None else 0.0)
            for t in self.tracks
            if t.missed_frames == 0
        )
        if self.persons is not None:
            self.persons.forget({t.track_id for t in self.tracks})
        if self.static_objects is not None:
            if self.frames % STATIC_EVERY_N_FRAMES == 1:
                self._still = self.static_objects.process(gray, ts.timestamp())
            still = self._still
            views += tuple(
                TrackView(STATIC_ID_BASE + o.object_id, o.xyxy, o.bottom_centre, False, 0.8, o.static_s) for o in still
            )
        local = ts.astimezone(self.tz).time()
        for rule in self.rules:
            # While the view is tampered with, what motion sees is not the scene: zones stand down.
            armed = self.tamper_kind is None and rule.zone.schedule.armed_at(local)
            incidents.extend(rule.process(SceneFrame(self.camera, frame_index, ts, views, armed)))
        return [self._with_snapshot(gray, incident) for incident in incidents]

    def _view(self, gray: npt.NDArray[np.uint8], track: Track, ts_s: float, area_frac: float) -> TrackView:
        """What the zone rules see of a track; with a person check, whether it is a person decides."""
        confirmed, score, confidence = track.confirmed, None, 0.9
        if self.persons is not None and track.confirmed:
            passed, score = self.persons.verify(gray, track.track_id, track.xyxy, ts_s)
            confidence = person_confidence(score)
            if self.persons.config.mode == "require":
                confirmed = passed
        return TrackView(
            track.track_id,
            track.xyxy,
            track.bottom_centre,
            confirmed,
            confidence,
            area_frac=area_frac,
            person_score=score,
        )

    def _tamper(self, gray: npt.NDArray[np.uint8], ts: datetime, frame_index: int) -> list[Incident]:
        result = self.tamper.process(gray)
        out = []
        if result.cleared is not None and self._tamper_since is not None:
            out.append(self._tamper_incident(result.cleared, Phase.cleared, self._tamper_since, ts, frame_index))
            self._tamper_since = None
        if result.raised is not None:
            self._tamper_since = ts
            out.append(self._tamper_incident(result.raised, Phase.raised, ts, ts, frame_index))
        self.tamper_kind = result.kind
        return out

    def _tamper_incident(
        self, kind: TamperKind, phase: Phase, episode_ts: datetime, ts: datetime, frame_index: int
    ) -> Incident:
        camera = self.camera
        words = {"covered": "Lens covered", "defocused": "Camera out of focus", "moved": "Camera moved"}[kind]
        return Incident(
            id=incident_id(f"tamper:{kind}", camera.id, phase, episode_ts),
            type="tamper",
            source=camera.id,
            source_kind="camera",
            rule=f"tamper:{kind}",
            phase=phase,
            ts=ts,
            detected_at=ts,
            severity=Severity.high,
            location=camera.location,
            title=f"{'Cleared: ' if phase is Phase.cleared else ''}{words} ({camera.name or camera.id})",
            evidence={"tamper_kind": kind, "frame": frame_index, "camera": camera.id},
        )

    @staticmethod
    def _with_snapshot(gray: npt.NDArray[np.uint8], incident: Incident) -> Incident:
        box = incident.evidence.get("bbox_xyxy")
        xyxy = (box[0], box[1], box[2], box[3]) if isinstance(box, list) and len(box) == 4 else None
        evidence = {**incident.evidence, "snapshot_jpeg_b64": snapshot_b64(gray, xyxy)}
        return incident.model_copy(update={"evidence": evidence})
