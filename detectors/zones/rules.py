"""Zone rules: small classes that turn tracks in a zone into incidents, one per episode.

Each rule has one verb, ``process(frame) -> list[Incident]``, a pydantic config
(:mod:`detectors.zones.config`), and is registered by name in :data:`ZONE_RULES`. Rules see tracks,
not pixels: the video pipeline (motion, tracking, object confirmation) produces :class:`TrackView`
objects, so the rules are tested without video. On a camera with ``object_check`` a rule counts only
objects of its ``classes`` with at least its ``min_score`` (:meth:`ZoneRule.counts`); on a camera
without, every moving object that motion confirmed, and its incidents say they were not verified.
An *episode* (a person entering a zone, a crowd forming) gives one
incident, not one per frame; its id derives from camera, zone, rule and the episode's start, so a
replay gives the same id.
"""

from __future__ import annotations

import math
import statistics
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel

from detectors.schemas import Incident, LineCrossing, Phase, Severity, crossing_id, incident_id
from detectors.video.appearance import different
from detectors.zones.config import (
    AbandonedObjectConfig,
    CrowdConfig,
    DetectorCameraConfig,
    IntrusionConfig,
    LineCrossingConfig,
    LoiteringConfig,
    ZoneConfig,
)
from detectors.zones.geometry import Point, depth_in_polygon, point_in_polygon, segments_intersect, side_of_line


@dataclass(frozen=True)
class TrackView:
    """What a zone rule knows of a tracked object in one frame.

    ``confirmed``: motion confirmed it (it travelled); ``object_class`` and ``score``: what the object
    detector saw in it (None: not identified, or a camera without object confirmation).
    """

    track_id: int
    xyxy: tuple[float, float, float, float]
    bottom_centre: Point
    confirmed: bool
    object_class: str | None = None
    score: float | None = None
    static_s: float = 0.0  # how long the object has not moved (abandoned objects)
    area_frac: float = 0.0  # its moving (foreground) area, fraction of the frame; 0: not measured
    signature: Any = None  # what it looks like (detectors.video.appearance), when looked at


@dataclass(frozen=True)
class SceneFrame:
    """One analysed frame of a camera: when, which frame, and the tracks in it.

    ``object_model`` names the object detector of a camera with object confirmation (None: motion
    only), whose objects count with ``min_score`` unless a rule sets its own.
    """

    camera: DetectorCameraConfig
    frame_index: int
    ts: datetime
    tracks: tuple[TrackView, ...]
    armed: bool = True  # the zone's schedule, evaluated by the caller in the config's timezone
    object_model: str | None = None
    min_score: float = 0.5


C = TypeVar("C", bound=BaseModel)


class ZoneRule(ABC, Generic[C]):
    """A rule watching one zone of one camera."""

    name: ClassVar[str]

    def __init__(self, zone: ZoneConfig, params: C) -> None:
        self.zone = zone
        self.params = params

    @abstractmethod
    def process(self, frame: SceneFrame) -> list[Incident]:
        """The incidents this frame starts (or ends)."""

    def inside(self, track: TrackView) -> bool:
        return point_in_polygon(track.bottom_centre, self.zone.polygon)

    def depth(self, track: TrackView) -> float:
        """How far inside the zone the object's feet are (0 outside or on the edge)."""
        return depth_in_polygon(track.bottom_centre, self.zone.polygon)

    def counts(self, track: TrackView, frame: SceneFrame) -> bool:
        """Whether the rule counts this object: of its classes and score when objects are checked,
        confirmed by its travel when the camera has motion only."""
        if frame.object_model is None:
            return track.confirmed
        if track.object_class is None or track.score is None:
            return False
        classes: tuple[str, ...] = getattr(self.params, "classes", ())
        own: float | None = getattr(self.params, "min_score", None)
        return track.object_class in classes and track.score >= (own if own is not None else frame.min_score)

    def incident(
        self,
        frame: SceneFrame,
        *,
        episode_ts: datetime,
        title: str,
        track: TrackView | None = None,
        phase: Phase = Phase.raised,
        evidence: dict[str, Any] | None = None,
        severity: Severity | None = None,
    ) -> Incident:
        camera = frame.camera
        rule_key = f"{self.zone.name}:{self.name}"
        details: dict[str, Any] = {"frame": frame.frame_index, "camera": camera.id}
        confidence: float | None = 1.0  # a zone-wide measure (a crowd's count) is what was measured
        object_class = None
        if track is not None:
            details.update(track_id=track.track_id, bbox_xyxy=list(track.xyxy))
            if frame.object_model is not None and track.score is not None:
                confidence, object_class = round(track.score, 3), track.object_class
                details.update(object={"class": track.object_class, "score": confidence, "model": frame.object_model})
            else:
                # Nobody computed a confidence: say so rather than invent one.
                confidence = None
                details.update(verification="motion only" if frame.object_model is None else "not identified")
        elif frame.object_model is None:
            confidence = None
            details.update(verification="motion only")
        details.update(evidence or {})
        what = f": {object_class}" if object_class else ""
        return Incident(
            id=incident_id(rule_key, camera.id, phase, episode_ts),
            type=self.name,
            source=camera.id,
            source_kind="camera",
            rule=rule_key,
            phase=phase,
            ts=frame.ts,
            detected_at=frame.ts,
            severity=severity or self.zone.severity,
            confidence=confidence,
            object_class=object_class,
            zone=self.zone.name,
            location=camera.location,
            title=f"{title}{what} in {self.zone.name} ({camera.name or camera.id})",
            evidence=details,
        )


@dataclass
class _Stay:
    """One person's (or object's) time in the zone, which may pass from track to track."""

    start_ts: datetime
    last_seen_ts: datetime
    last_point: Point
    frames_inside: int = 0
    reported: bool = False
    velocity: Point = (0.0, 0.0)  # of the bottom-centre, normalized units per second
    signature: Any = None  # what its person looked like last (colour histogram), when known

    def seen(self, ts: datetime, point: Point, signature: Any = None) -> None:
        if signature is not None:
            self.signature = signature
        dt_s = (ts - self.last_seen_ts).total_seconds()
        if dt_s > 0:
            vx, vy = (point[0] - self.last_point[0]) / dt_s, (point[1] - self.last_point[1]) / dt_s
            self.velocity = (0.5 * self.velocity[0] + 0.5 * vx, 0.5 * self.velocity[1] + 0.5 * vy)
        self.last_seen_ts, self.last_point = ts, point
        self.frames_inside += 1

    def predicted(self, ts: datetime) -> Point:
        # A second ahead at most: people stop and turn, a longer extrapolation only goes astray.
        dt_s = min((ts - self.last_seen_ts).total_seconds(), 1.0)
        return (self.last_point[0] + self.velocity[0] * dt_s, self.last_point[1] + self.velocity[1] * dt_s)


class _PerTrackRule(ZoneRule[C]):
    """Shared bookkeeping for rules about one track inside the zone: one incident per *stay*.

    A stay survives short absences (``grace_s``: occlusions, a step outside) and changes of track:
    when a track is lost (gone from the picture, not only from the zone) and a new one appears
    within ``reacquire_frac`` of where its person would
    be by now (last point plus last velocity), the new one carries the stay on, so a person whose
    track broke is not reported twice; a new track standing where another's stay is now (within
    ``same_place_frac``: one person seen twice, in two pieces of a blob) joins that stay. A stay
    starts only with feet at least ``ENTRY_DEPTH_FRAC`` inside the zone: feet on its edge, give or
    take a detector's box, enter nothing (once inside, any depth keeps the stay).
    """

    grace_s: float = 1.0
    reacquire_frac: float = 0.1
    same_place_frac: float = 0.03

    def __init__(self, zone: ZoneConfig, params: C) -> None:
        super().__init__(zone, params)
        self.stays: dict[int, _Stay] = {}

    def candidates(self, frame: SceneFrame) -> list[TrackView]:
        return [t for t in frame.tracks if self.counts(t, frame) and self.inside(t)]

    def process(self, frame: SceneFrame) -> list[Incident]:
        if not frame.armed:
            self.stays.clear()
            return []
        out: list[Incident] = []
        inside = self.candidates(frame)
        # A stay passes only from a track that is gone: one still in the picture (outside the zone
        # now) is its person walking away, not someone else's track that broke.
        seen = {t.track_id for t in frame.tracks}
        for track in inside:
            stay = self.stays.get(track.track_id)
            if stay is None:
                if self.depth(track) < ENTRY_DEPTH_FRAC:
                    continue
                stay = self._reacquire(track, seen, frame.ts)
            elif stay.last_seen_ts == frame.ts:
                continue  # a stay two tracks share is counted once a frame
            stay.seen(frame.ts, track.bottom_centre, track.signature)
            if not stay.reported and self.due(stay, frame):
                stay.reported = True
                out.append(self.report(frame, track, stay))
        for track_id, stay in list(self.stays.items()):
            if (frame.ts - stay.last_seen_ts).total_seconds() > self.grace_s:
                del self.stays[track_id]
        return out

    def _reacquire(self, track: TrackView, seen: set[int], ts: datetime) -> _Stay:
        """The nearest stay whose track is absent, if its person would be close by now; else a new stay."""
        x, y = track.bottom_centre
        for stay in self.stays.values():
            if different(stay.signature, track.signature):
                continue  # someone else, dressed otherwise, where the stay's person was
            if math.hypot(stay.last_point[0] - x, stay.last_point[1] - y) <= self.same_place_frac:
                self.stays[track.track_id] = stay  # the same person, seen twice
                return stay
        best_id, best_d = None, self.reacquire_frac
        # A stay can be under several track ids (a track that broke, one person in two pieces):
        # it is held while any of them is in the picture.
        held = {id(stay) for track_id, stay in self.stays.items() if track_id in seen}
        for track_id, stay in self.stays.items():
            if id(stay) in held or different(stay.signature, track.signature):
                continue
            px, py = stay.predicted(ts)
            d = math.hypot(px - x, py - y)
            if d <= best_d:
                best_id, best_d = track_id, d
        stay = self.stays.pop(best_id) if best_id is not None else _Stay(ts, ts, track.bottom_centre)
        self.stays[track.track_id] = stay
        return stay

    @abstractmethod
    def due(self, stay: _Stay, frame: SceneFrame) -> bool: ...

    @abstractmethod
    def report(self, frame: SceneFrame, track: TrackView, stay: _Stay) -> Incident: ...


class IntrusionRule(_PerTrackRule[IntrusionConfig]):
    """Someone is inside the zone (for ``min_frames`` frames); one incident per person's stay."""

    name = "intrusion"

    def __init__(self, zone: ZoneConfig, params: IntrusionConfig) -> None:
        super().__init__(zone, params)
        self.grace_s = params.grace_s

    def due(self, stay: _Stay, frame: SceneFrame) -> bool:
        return stay.frames_inside >= self.params.min_frames

    def report(self, frame: SceneFrame, track: TrackView, stay: _Stay) -> Incident:
        return self.incident(frame, episode_ts=stay.start_ts, track=track, title="Intrusion")


class LoiteringRule(_PerTrackRule[LoiteringConfig]):
    """Someone has stayed inside the zone for ``min_s`` seconds (one incident per stay).

    People who stay get occluded by passers-by and lose their track now and then, hence the longer
    ``grace_s`` (default 5 s) than intrusion's.
    """

    name = "loitering"

    def __init__(self, zone: ZoneConfig, params: LoiteringConfig) -> None:
        super().__init__(zone, params)
        self.grace_s, self.reacquire_frac = params.grace_s, params.reacquire_frac

    def due(self, stay: _Stay, frame: SceneFrame) -> bool:
        return (frame.ts - stay.start_ts).total_seconds() >= self.params.min_s

    def report(self, frame: SceneFrame, track: TrackView, stay: _Stay) -> Incident:
        stayed_s = (frame.ts - stay.start_ts).total_seconds()
        return self.incident(
            frame,
            episode_ts=stay.start_ts,
            track=track,
            title=f"Loitering {stayed_s:.0f} s",
            evidence={"stayed_s": round(stayed_s, 1)},
        )


class AbandonedObjectRule(_PerTrackRule[AbandonedObjectConfig]):
    """An object that has not moved inside the zone for ``min_s`` seconds."""

    name = "abandoned_object"
    grace_s = 2.0  # static objects are looked for once a second

    def candidates(self, frame: SceneFrame) -> list[TrackView]:
        # Abandoned objects are still by definition: they need no displacement to count; what the
        # detector sees as a person standing still is not one.
        return [
            t
            for t in frame.tracks
            if t.static_s >= self.params.min_s and self.inside(t) and not self._excluded(t, frame)
        ]

    def _excluded(self, track: TrackView, frame: SceneFrame) -> bool:
        if frame.object_model is None or track.object_class is None or track.score is None:
            return False
        min_score = self.params.min_score if self.params.min_score is not None else frame.min_score
        return track.object_class in self.params.not_classes and track.score >= min_score

    def due(self, stay: _Stay, frame: SceneFrame) -> bool:
        return True

    def report(self, frame: SceneFrame, track: TrackView, stay: _Stay) -> Incident:
        return self.incident(
            frame,
            episode_ts=stay.start_ts,
            track=track,
            title="Abandoned object",
            evidence={"static_s": round(track.static_s, 1)},
        )


class LineCrossingRule(ZoneRule[LineCrossingConfig]):
    """A track's bottom-centre crossing the line; ``in`` is from the line's left side to its right, as seen
    on the image walking from the line's first point to its second (for a line drawn left to right:
    top to bottom)."""

    name = "line_crossing"

    def __init__(self, zone: ZoneConfig, params: LineCrossingConfig) -> None:
        super().__init__(zone, params)
        (ax, ay), (bx, by) = params.line
        self.line_length = max(math.hypot(bx - ax, by - ay), 1e-9)
        # Per object: the side of the line it was last firmly on, where and on which frame, and the
        # frame it was last seen on (an object can miss a few frames, its blob merged with another).
        self.sides: dict[int, tuple[int, Point, int, int]] = {}
        self.crossings: list[LineCrossing] = []  # every crossing since the last take_crossings()

    def process(self, frame: SceneFrame) -> list[Incident]:
        out: list[Incident] = []
        line, band = self.params.line, self.params.hysteresis_frac
        for track in frame.tracks:
            if not self.counts(track, frame):
                continue
            point = track.bottom_centre
            distance = side_of_line(point, line) / self.line_length
            state = self.sides.get(track.track_id)
            if abs(distance) < band:
                # On the line, give or take its band: feet jittering on it cross nothing yet.
                if state is not None:
                    self.sides[track.track_id] = (*state[:3], frame.frame_index)
                continue
            side = 1 if distance > 0 else -1
            self.sides[track.track_id] = (side, point, frame.frame_index, frame.frame_index)
            if state is None or state[0] == side:
                continue
            before, frames = state[1], min(max(frame.frame_index - state[2], 1), 3)
            # A crossing is a walk through the drawn segment from firmly one side to firmly the
            # other; a jump longer than a step is an object's id moving to someone else.
            too_far = math.dist(before, point) > self.params.max_step_frac * frames
            if too_far or not segments_intersect(before, point, line):
                continue
            direction: Literal["in", "out"] = "in" if state[0] < 0 else "out"
            self.crossings.append(
                LineCrossing(
                    id=crossing_id(frame.camera.id, self.zone.name, track.track_id, frame.ts),
                    camera=frame.camera.id,
                    line=self.zone.name,
                    direction=direction,
                    object_class=track.object_class if frame.object_model is not None else None,
                    score=round(track.score, 3) if frame.object_model is not None and track.score is not None else None,
                    object_id=track.track_id,
                    ts=frame.ts,
                    location=frame.camera.location,
                )
            )
            if self.params.alert and frame.armed and self.params.direction in (direction, "both"):
                out.append(
                    self.incident(
                        frame,
                        episode_ts=frame.ts,
                        track=track,
                        title=f"Line crossed ({direction})",
                        evidence={"direction": direction},
                    )
                )
        for track_id, (_, _, _, last) in list(self.sides.items()):
            if frame.frame_index - last > _LINE_MEMORY_FRAMES:
                del self.sides[track_id]
        return out

    def take_crossings(self) -> list[LineCrossing]:
        """The crossings counted since the last call (the caller publishes them)."""
        crossings, self.crossings = self.crossings, []
        return crossings


# Feet must be this far inside a zone (normalized) to start a stay: a detector's box bottom is a few
# pixels off the real feet, and people walk along a zone's edge.
ENTRY_DEPTH_FRAC = 0.014
_LINE_MEMORY_FRAMES = 10  # an object unseen this many frames starts afresh at the line
_SMOOTH_S = 2.0  # crowd estimates are the median over this window: blobs split and merge frame to frame
# A person's area is a low percentile of the last lone-person observations, taken only while the
# zone holds at most a few objects.
_LEARN_MAX_OBJECTS = 3
_LEARN_MIN_SAMPLES = 20
_LEARN_PERCENTILE = 0.4
_LEARN_WINDOW = 300


def polygon_area(polygon: Sequence[Point]) -> float:
    """Area of a simple polygon (shoelace), in the units of its points squared."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass
class _CrowdState:
    over_since: datetime | None = None
    under_since: datetime | None = None
    raised_ts: datetime | None = None
    window: deque[tuple[datetime, int, float]] = field(default_factory=deque)


class CrowdRule(ZoneRule[CrowdConfig]):
    """Too many people in the zone (``max_people``) or too much of it covered (``max_occupancy``).

    In a dense crowd people merge into few blobs, so tracks are not counted one each: a moving
    object inside counts as its foreground area over one person's (at least one, if confirmed), and
    the person's area is learned from confirmed tracks seen alone in the zone. Unconfirmed objects
    count only when they are several people large (people who stood still together); jitter
    (foliage, noise) never confirms and is never that large. Estimates are smoothed over 2 s; a crowd
    is raised after ``min_s`` over the limit and cleared after ``clear_s`` back under.
    """

    name = "crowd"

    def __init__(self, zone: ZoneConfig, params: CrowdConfig) -> None:
        super().__init__(zone, params)
        self.state = _CrowdState()
        self.person_area_frac = params.person_area_frac
        self._lone_areas: deque[float] = deque(maxlen=_LEARN_WINDOW)
        self._learned_from: float | None = None
        self.zone_area_frac = max(polygon_area(zone.polygon), 1e-9)

    def estimate(self, tracks: Sequence[TrackView], frame: SceneFrame | None = None) -> tuple[int, float]:
        """People inside and the fraction of the zone their moving area covers, for one frame.

        With object confirmation each person the detector found counts one (it tells passers-by in
        one blob apart); a blob it found nothing in counts by its area only when several people
        large (a dense crowd, where a detector on a crop fails).
        """
        checked = frame is not None and frame.object_model is not None
        inside = [t for t in tracks if t.area_frac > 0 and self.inside(t)]
        self._learn(inside, tracks, frame)
        people, area = 0, 0.0
        for track in inside:
            persons = track.area_frac / self.person_area_frac
            if checked and frame is not None:
                if self.counts(track, frame):
                    people += 1
                    area += track.area_frac
                elif track.object_class is None and persons >= 2.5:
                    people += round(persons)
                    area += track.area_frac
            elif track.confirmed:
                people += max(1, round(persons))
                area += track.area_frac
            elif persons >= 2.5:
                people += round(persons)
                area += track.area_frac
        return people, area / self.zone_area_frac

    def _is_person(self, track: TrackView, frame: SceneFrame | None) -> bool:
        if frame is not None and frame.object_model is not None:
            return self.counts(track, frame)
        return track.confirmed

    def _learn(self, inside: Sequence[TrackView], tracks: Sequence[TrackView], frame: SceneFrame | None) -> None:
        """Learn a person's area from confirmed tracks alone in a near-empty zone.

        Only while at most a few objects, covering no more than a few people's area, are inside (a
        dense crowd is a few large tracks; two people walking together are one track and would
        teach a double size), and as a low percentile of recent observations, so that the pairs
        that slip through do not drag it up.
        """
        crowded_area = (_LEARN_MAX_OBJECTS + 1) * self.person_area_frac
        if len(inside) > _LEARN_MAX_OBJECTS or sum(t.area_frac for t in inside) > crowded_area:
            return
        for track in inside:
            if self._is_person(track, frame) and not any(
                o is not track and _overlaps(o.xyxy, track.xyxy) for o in tracks
            ):
                self._lone_areas.append(track.area_frac)
        if len(self._lone_areas) >= _LEARN_MIN_SAMPLES and self._lone_areas[-1] != self._learned_from:
            self._learned_from = self._lone_areas[-1]
            ordered = sorted(self._lone_areas)
            learned = ordered[int(len(ordered) * _LEARN_PERCENTILE)]
            base = self.params.person_area_frac
            self.person_area_frac = min(max(learned, base / 4), base * 4)

    def process(self, frame: SceneFrame) -> list[Incident]:
        state = self.state
        people_now, occupancy_now = self.estimate(frame.tracks, frame)
        state.window.append((frame.ts, people_now, occupancy_now))
        while (frame.ts - state.window[0][0]).total_seconds() > _SMOOTH_S:
            state.window.popleft()
        people = int(statistics.median_low(p for _, p, _ in state.window))
        occupancy = statistics.median(o for _, _, o in state.window)
        limits = self.params
        over = frame.armed and (
            (limits.max_people is not None and people > limits.max_people)
            or (limits.max_occupancy is not None and occupancy > limits.max_occupancy)
        )
        evidence = {
            "people": people,
            "occupancy": round(occupancy, 3),
            "max_people": limits.max_people,
            "max_occupancy": limits.max_occupancy,
        }
        if over:
            state.under_since = None
            state.over_since = state.over_since or frame.ts
            held_s = (frame.ts - state.over_since).total_seconds()
            if state.raised_ts is None and held_s >= limits.min_s:
                state.raised_ts = state.over_since
                return [
                    self.incident(
                        frame,
                        episode_ts=state.over_since,
                        title=f"Crowd of about {people} ({occupancy:.0%} of the zone)",
                        evidence=evidence,
                    )
                ]
            return []
        state.over_since = None
        if state.raised_ts is None:
            return []
        state.under_since = state.under_since or frame.ts
        if frame.armed and (frame.ts - state.under_since).total_seconds() < limits.clear_s:
            return []
        raised_ts, state.raised_ts, state.under_since = state.raised_ts, None, None
        return [
            self.incident(
                frame,
                episode_ts=raised_ts,
                title=f"Crowd dispersed (about {people})",
                phase=Phase.cleared,
                evidence=evidence,
            )
        ]


ZONE_RULES: dict[str, type[ZoneRule[Any]]] = {
    rule.name: rule for rule in (IntrusionRule, LoiteringRule, LineCrossingRule, CrowdRule, AbandonedObjectRule)
}


def build_zone_rules(camera: DetectorCameraConfig) -> list[ZoneRule[Any]]:
    """Every rule of every zone of a camera, ready to process frames."""
    rules: list[ZoneRule[Any]] = []
    for zone in camera.zones:
        for spec in zone.rules:
            rules.append(ZONE_RULES[spec.name](zone, spec.params))
    return rules
