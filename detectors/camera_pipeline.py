"""One camera's detection path: frame → motion → tracks → objects → zone rules → incidents with evidence.

Shared by the Kafka worker (``detectors.camera_worker``) and the offline analyzer
(``pantau analyze``), so what operators tune on recorded footage is what runs live.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from detectors.schemas import Incident, LineCrossing, Phase, Severity, incident_id
from detectors.video.appearance import signature
from detectors.video.boxes import XYXY, expanded
from detectors.video.confirm import ObjectConfirmer, SeenObject
from detectors.video.evidence import snapshot_b64
from detectors.video.frames import CameraFrame
from detectors.video.models import default_models_dir
from detectors.video.motion import MotionConfig, MotionDetector, polygon_mask
from detectors.video.objects import ObjectDetector, Region, load_detector
from detectors.video.static_objects import StaticObject, StaticObjectConfig, StaticObjectDetector
from detectors.video.tamper import FreezeWatch, TamperConfig, TamperDetector, TamperKind
from detectors.video.tracking import Track, Tracker, TrackerConfig
from detectors.zones.config import DetectorCameraConfig, LineCrossingConfig
from detectors.zones.geometry import NearPolygon, distance_to_segment, point_in_polygon
from detectors.zones.rules import LineCrossingRule, SceneFrame, TrackView, ZoneRule, build_zone_rules
from pantau.timeutil import ahead_of_clock

STATIC_ID_BASE = 1_000_000  # static objects get ids apart from moving tracks
# Tamper needs seconds, not frames: checking every 3rd frame (with a hold of 4 checks, about 2.4 s at
# 5 fps) keeps it to a third of its cost on the per-frame budget.
TAMPER_EVERY_N_FRAMES = 3
# Objects left behind matter after tens of seconds: once a second (every 5th frame at 5 fps) is
# plenty, with the model rates scaled to match.
STATIC_EVERY_N_FRAMES = 5
STATIC_CONFIG = StaticObjectConfig(short_rate=0.4, long_rate=0.005, warmup_frames=3)
TAMPER_CONFIG = TamperConfig(reference_frames=5, hold_frames=4, clear_frames=3)
STATIC_RECHECK_S = 10.0  # a still object is looked at by the object detector again after this
SUDDEN_CHANGE_FRAC = 0.08  # this much of the picture moving at once: tamper is checked on this frame
_FAULT_WORDS = {
    "covered": "Lens covered",
    "defocused": "Camera out of focus",
    "moved": "Camera moved",
    "frozen": "Picture frozen",
}


@cache
def shared_detector(model: str, models_dir: Path) -> ObjectDetector:
    """One loaded network per model and process: every camera of a worker shares it (a network
    holds tens of MB and takes ~100 ms to load)."""
    return load_detector(model, models_dir)


def foreground_area_frac(foreground: npt.NDArray[np.uint8], xyxy: tuple[float, float, float, float]) -> float:
    """How much of the frame is moving foreground inside the normalized box ``xyxy``."""
    height, width = int(foreground.shape[0]), int(foreground.shape[1])
    x0, y0 = max(int(xyxy[0] * width), 0), max(int(xyxy[1] * height), 0)
    x1, y1 = min(int(np.ceil(xyxy[2] * width)), width), min(int(np.ceil(xyxy[3] * height)), height)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return int(np.count_nonzero(foreground[y0:y1, x0:x1])) / (width * height)


# Objects must be named before they reach a counting line (a crossing needs the point before it):
# tracks this near a line are looked at, farther out than near a zone.
LINE_MARGIN_FRAC = 0.15


class Interest:
    """Which tracks a camera's rules could care about: feet in or near a zone (``margin``), or near
    a counting line. The object detector looks at nothing else."""

    def __init__(self, camera: DetectorCameraConfig, margin: float) -> None:
        self.polygons: list[list[tuple[float, float]]] = []
        self.near: list[NearPolygon] = []
        self.boxes: list[XYXY] = []  # each polygon's bounding box, grown by the margin: a quick no
        self.lines: list[tuple[tuple[float, float], tuple[float, float]]] = []
        self.margin = margin
        for zone in camera.zones:
            for spec in zone.rules:
                if isinstance(spec.params, LineCrossingConfig):
                    self.lines.append(spec.params.line)
                elif zone.polygon not in self.polygons:
                    self.polygons.append(list(zone.polygon))
                    self.near.append(NearPolygon(list(zone.polygon), margin))
                    xs, ys = [p[0] for p in zone.polygon], [p[1] for p in zone.polygon]
                    self.boxes.append((min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin))

    def __call__(self, box: XYXY) -> bool:
        x0, _y0, x1, y1 = box
        centre = ((x0 + x1) / 2, y1)
        feet = ((x0, y1), centre, (x1, y1))  # a merged blob's corners may stand where its centre does not
        for near, (bx0, by0, bx1, by1) in zip(self.near, self.boxes, strict=True):
            if not (y1 >= by0 and y1 <= by1 and x1 >= bx0 and x0 <= bx1):
                continue
            if any(near(p) for p in feet):
                return True
        return any(distance_to_segment(centre, a, b) <= LINE_MARGIN_FRAC for a, b in self.lines)

    def inside(self, box: XYXY) -> bool:
        """Whether the box's feet are inside a zone (not only near it)."""
        x0, _y0, x1, y1 = box
        return any(point_in_polygon(((x0 + x1) / 2, y1), polygon) for polygon in self.polygons)


class FrameRejected(ValueError):
    """A frame this camera's pipeline will not process (the reason goes to the dead-letter queue)."""


class CameraPipeline:
    """Per-camera state: background model, tracks, objects, rule episodes, and the last frame's time.

    With ``object_check`` on the camera (the default) the object detector is loaded at once:
    a missing model fails here, with the install command, rather than running on motion alone.
    """

    def __init__(
        self,
        camera: DetectorCameraConfig,
        tz: ZoneInfo,
        motion: MotionConfig | None = None,
        tracking: TrackerConfig | None = None,
        models_dir: Path | None = None,
        detector: ObjectDetector | None = None,
    ) -> None:
        self.camera = camera
        self.tz = tz
        self.models_dir = models_dir or default_models_dir()
        self.motion = MotionDetector(motion)
        self.tracker = Tracker(tracking)
        self.rules: list[ZoneRule[Any]] = build_zone_rules(camera)
        self.static_objects: StaticObjectDetector | None = None
        self._still: list[StaticObject] = []
        self._static_classes: dict[int, tuple[str | None, float | None, float]] = {}
        self._measure_areas = False
        self._interest = Interest(camera, 0.05)
        self._rules_changed()
        self.last_ts: datetime | None = None
        self.frames = 0
        self._mask: npt.NDArray[np.uint8] | None = None
        self._mask_shape: tuple[int, ...] = ()
        self.tracks: list[Track] = []
        self.objects: list[SeenObject] = []
        self.tamper = TamperDetector(TAMPER_CONFIG)
        self.freeze = FreezeWatch()
        self.detector: ObjectDetector | None = None
        self.confirmer: ObjectConfirmer | None = None
        self._object_check_changed(detector)
        self.tamper_kind: TamperKind | None = None
        self.tamper_candidate: TamperKind | None = None
        self._tamper_since: datetime | None = None
        self._frozen_since: datetime | None = None
        self.crossings: list[LineCrossing] = []

    def _object_check_changed(self, detector: ObjectDetector | None = None) -> None:
        check = self.camera.object_check
        if check is None:
            self.detector, self.confirmer = None, None
            return
        self.detector = detector or shared_detector(check.model, self.models_dir)
        self.confirmer = ObjectConfirmer(check)
        self._static_classes.clear()

    def _rules_changed(self) -> None:
        # Only cameras with an abandoned_object rule pay for the static-object models.
        if not any(rule.name == "abandoned_object" for rule in self.rules):
            self.static_objects, self._still = None, []
        elif self.static_objects is None:
            self.static_objects = StaticObjectDetector(STATIC_CONFIG)
        # Crowd estimates need each object's moving area, measured on the motion mask.
        self._measure_areas = any(rule.name == "crowd" for rule in self.rules)
        margin = self.camera.object_check.area_margin_frac if self.camera.object_check is not None else 0.05
        self._interest = Interest(self.camera, margin)

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
            if self.tamper_kind == "moved":
                # Zones redrawn on a moved camera's view: that view is the one to watch now.
                self.tamper.rehome()
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
        if camera.object_check != old.object_check:
            changed.append("object_check")
            self._object_check_changed()
        return changed

    def _mask_for(self, gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
        if not self.camera.masks:
            return None
        if self._mask is None or self._mask_shape != gray.shape:
            self._mask = polygon_mask(self.camera.masks, gray.shape[1], gray.shape[0])
            self._mask_shape = gray.shape
        return self._mask

    def check(self, ts: datetime, now: datetime, max_skew_s: float) -> None:
        """Refuse frames out of order or from the future (more than ``max_skew_s`` ahead of ``now``),
        before any state changes."""
        if self.last_ts is not None and ts <= self.last_ts:
            raise FrameRejected(f"frame at {ts.isoformat()} is not after the last one ({self.last_ts.isoformat()})")
        ahead = ahead_of_clock(ts, now, max_skew_s)
        if ahead is not None:
            raise FrameRejected(f"frame from the future: {ahead}")

    def process(self, frame: CameraFrame, ts: datetime, frame_index: int) -> list[Incident]:
        """Run the whole path on one frame taken at ``ts``; counting-line crossings go to :attr:`crossings`."""
        gray = frame.gray
        self.last_ts = ts
        self.frames += 1
        ts_s = ts.timestamp()
        incidents = self._frozen(gray, ts, frame_index)
        result = self.motion.process(gray, self._mask_for(gray))
        # Tamper is looked at every few frames, and at once when much of the picture changed at once
        # (a camera knocked aside, a hand over the lens): the zones must stand down before motion in
        # a view that is no longer the one they were drawn on raises anything.
        sudden = result.foreground_frac >= SUDDEN_CHANGE_FRAC or result.lighting_change
        if self.frames % TAMPER_EVERY_N_FRAMES == 1 or sudden:
            incidents += self._tamper(gray, ts, frame_index)
        self.tracks = self.tracker.update(result.blobs, ts.timestamp())
        if self.confirmer is not None and self.detector is not None:
            detector = self.detector
            self.objects = self.confirmer.update(
                self.tracks,
                ts_s,
                lambda region: detector.detect(frame.colour, region),
                self._interest,
                lambda box: signature(frame.colour, box),
                self._interest.inside,
            )
        else:
            self.objects = [SeenObject(t.track_id, t.xyxy, t) for t in self.tracks if t.missed_frames == 0]
        fg = result.foreground if self._measure_areas else None
        members: dict[int, int] = {}
        for obj in self.objects:
            members[obj.track.track_id] = members.get(obj.track.track_id, 0) + 1
        views = tuple(
            TrackView(
                obj.object_id,
                obj.xyxy,
                obj.bottom_centre,
                obj.track.confirmed,
                obj.object_class,
                obj.score,
                signature=obj.signature,
                area_frac=foreground_area_frac(fg, obj.track.xyxy) / members[obj.track.track_id]
                if fg is not None
                else 0.0,
            )
            for obj in self.objects
        )
        if self.static_objects is not None:
            if self.frames % STATIC_EVERY_N_FRAMES == 1:
                self._still = self.static_objects.process(gray, ts.timestamp())
            views += tuple(self._static_view(frame, o, ts_s) for o in self._still)
        local = ts.astimezone(self.tz).time()
        check = self.camera.object_check
        for rule in self.rules:
            # While the view is tampered with, what motion sees is not the scene: zones stand down.
            armed = self._view_ok() and rule.zone.schedule.armed_at(local)
            scene = SceneFrame(
                self.camera,
                frame_index,
                ts,
                views,
                armed,
                object_model=check.model if check is not None else None,
                min_score=check.min_score if check is not None else 0.5,
            )
            incidents.extend(rule.process(scene))
            if isinstance(rule, LineCrossingRule):
                self.crossings.extend(rule.take_crossings())
        return [self._with_snapshot(frame, incident) for incident in incidents]

    def take_crossings(self) -> list[LineCrossing]:
        """The counting-line crossings since the last call (the worker publishes them)."""
        crossings, self.crossings = self.crossings, []
        return crossings

    def _static_view(self, frame: CameraFrame, obj: StaticObject, ts_s: float) -> TrackView:
        """A still object, with what the object detector sees in it (looked at once in a while)."""
        object_id = STATIC_ID_BASE + obj.object_id
        cls: str | None
        score: float | None
        cls, score, checked_s = self._static_classes.get(object_id, (None, None, -1e18))
        if self.detector is not None and ts_s - checked_s >= STATIC_RECHECK_S:
            height = obj.xyxy[3] - obj.xyxy[1]
            region = Region(expanded(obj.xyxy, 0.5), max(height, 0.05))
            found = [d for d in self.detector.detect(frame.colour, region) if _covers(obj.xyxy, d.xyxy)]
            best = max(found, key=lambda d: d.score, default=None)
            cls, score = (best.object_class, best.score) if best is not None else (None, None)
            self._static_classes[object_id] = (cls, score, ts_s)
        live = {STATIC_ID_BASE + o.object_id for o in self._still}
        for stale in [k for k in self._static_classes if k not in live]:
            del self._static_classes[stale]
        return TrackView(object_id, obj.xyxy, obj.bottom_centre, False, cls, score, obj.static_s)

    def _frozen(self, gray: npt.NDArray[np.uint8], ts: datetime, frame_index: int) -> list[Incident]:
        result = self.freeze.process(gray, ts.timestamp())
        if result.raised:
            self._frozen_since = ts
            return [
                self._tamper_incident("frozen", Phase.raised, ts, ts, frame_index, {"same_s": round(result.same_s, 1)})
            ]
        if result.cleared and self._frozen_since is not None:
            since, self._frozen_since = self._frozen_since, None
            return [self._tamper_incident("frozen", Phase.cleared, since, ts, frame_index)]
        return []

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
        self.tamper_candidate = result.candidate
        return out

    def _view_ok(self) -> bool:
        """Whether the picture is the scene the zones were drawn on: not tampered with (reported, or
        seen on the last check and not yet held long enough to report) and not frozen."""
        return self.tamper_kind is None and self.tamper_candidate is None and self._frozen_since is None

    def _tamper_incident(
        self,
        kind: TamperKind,
        phase: Phase,
        episode_ts: datetime,
        ts: datetime,
        frame_index: int,
        measured: dict[str, Any] | None = None,
    ) -> Incident:
        camera = self.camera
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
            title=f"{'Cleared: ' if phase is Phase.cleared else ''}{_FAULT_WORDS[kind]} ({camera.name or camera.id})",
            evidence={"tamper_kind": kind, "frame": frame_index, "camera": camera.id, **(measured or {})},
        )

    @staticmethod
    def _with_snapshot(frame: CameraFrame, incident: Incident) -> Incident:
        box = incident.evidence.get("bbox_xyxy")
        xyxy = (box[0], box[1], box[2], box[3]) if isinstance(box, list) and len(box) == 4 else None
        label = None
        if incident.object_class is not None and incident.confidence is not None:
            label = f"{incident.object_class} {incident.confidence:.2f}"
        # The colour picture at the frame's own size: what an operator needs to see who or what it is.
        evidence = {**incident.evidence, "snapshot_jpeg_b64": snapshot_b64(frame.colour, xyxy, label, width_px=None)}
        return incident.model_copy(update={"evidence": evidence})


def _covers(still: XYXY, detection: XYXY) -> bool:
    """Whether a detection is of the still object: their boxes overlap by half the smaller one."""
    from detectors.video.boxes import overlap_of_smaller

    return overlap_of_smaller(still, detection) >= 0.5
