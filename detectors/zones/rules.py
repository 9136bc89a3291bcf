"""Zone rules: small classes that turn tracks in a zone into incidents, one per episode.

Each rule has one verb, ``process(frame) -> list[Incident]``, a pydantic config
(:mod:`detectors.zones.config`), and is registered by name in :data:`ZONE_RULES`. Rules see tracks,
not pixels: the video pipeline (motion, tracking) produces :class:`TrackView` objects, so the rules
are tested without video. An *episode* (a person entering a zone, a crowd forming) gives one
incident, not one per frame; its id derives from camera, zone, rule and the episode's start, so a
replay gives the same id.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from detectors.schemas import Incident, Phase, Severity, incident_id
from detectors.zones.config import (
    AbandonedObjectConfig,
    CrowdConfig,
    DetectorCameraConfig,
    IntrusionConfig,
    LineCrossingConfig,
    LoiteringConfig,
    ZoneConfig,
)
from detectors.zones.geometry import Point, point_in_polygon, segments_intersect, side_of_line


@dataclass(frozen=True)
class TrackView:
    """What a zone rule knows of a tracked object in one frame."""

    track_id: int
    xyxy: tuple[float, float, float, float]
    bottom_centre: Point
    confirmed: bool
    confidence: float = 0.9
    static_s: float = 0.0  # how long the object has not moved (abandoned objects)


@dataclass(frozen=True)
class SceneFrame:
    """One analysed frame of a camera: when, which frame, and the tracks in it."""

    camera: DetectorCameraConfig
    frame_index: int
    ts: datetime
    tracks: tuple[TrackView, ...]
    armed: bool = True  # the zone's schedule, evaluated by the caller in the config's timezone


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
        if track is not None:
            details.update(track_id=track.track_id, bbox_xyxy=list(track.xyxy))
        details.update(evidence or {})
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
            confidence=track.confidence if track is not None else 1.0,
            zone=self.zone.name,
            location=camera.location,
            title=f"{title} in {self.zone.name} ({camera.name or camera.id})",
            evidence=details,
        )


@dataclass
class _Episode:
    start_ts: datetime
    frames_inside: int = 0
    reported: bool = False
    frames_missing: int = 0


_GRACE_FRAMES = 3  # a track unseen or outside this long ends its episode (brief occlusions do not)


class _PerTrackRule(ZoneRule[C]):
    """Shared episode bookkeeping for rules about one track inside the zone."""

    def __init__(self, zone: ZoneConfig, params: C) -> None:
        super().__init__(zone, params)
        self.episodes: dict[int, _Episode] = {}

    def process(self, frame: SceneFrame) -> list[Incident]:
        if not frame.armed:
            self.episodes.clear()
            return []
        out: list[Incident] = []
        seen: set[int] = set()
        for track in frame.tracks:
            if not track.confirmed or not self.inside(track):
                continue
            seen.add(track.track_id)
            episode = self.episodes.setdefault(track.track_id, _Episode(start_ts=frame.ts))
            episode.frames_inside += 1
            episode.frames_missing = 0
            if not episode.reported and self.due(episode, frame):
                episode.reported = True
                out.append(self.report(frame, track, episode))
        for track_id in list(self.episodes):
            if track_id not in seen:
                episode = self.episodes[track_id]
                episode.frames_missing += 1
                if episode.frames_missing > _GRACE_FRAMES:
                    del self.episodes[track_id]
        return out

    @abstractmethod
    def due(self, episode: _Episode, frame: SceneFrame) -> bool: ...

    @abstractmethod
    def report(self, frame: SceneFrame, track: TrackView, episode: _Episode) -> Incident: ...


class IntrusionRule(_PerTrackRule[IntrusionConfig]):
    """Someone is inside the zone (for ``min_frames`` frames)."""

    name = "intrusion"

    def due(self, episode: _Episode, frame: SceneFrame) -> bool:
        return episode.frames_inside >= self.params.min_frames

    def report(self, frame: SceneFrame, track: TrackView, episode: _Episode) -> Incident:
        return self.incident(frame, episode_ts=episode.start_ts, track=track, title="Intrusion")


@dataclass
class _Stay:
    start_ts: datetime
    last_seen_ts: datetime
    last_point: Point
    reported: bool = False


class LoiteringRule(ZoneRule[LoiteringConfig]):
    """Someone has stayed inside the zone for ``min_s`` seconds (one incident per stay).

    A stay survives short absences (``grace_s``) and changes of track: when a track is lost in an
    occlusion and a new one appears where it was, the new one inherits the stay's start.
    """

    name = "loitering"

    def __init__(self, zone: ZoneConfig, params: LoiteringConfig) -> None:
        super().__init__(zone, params)
        self.stays: dict[int, _Stay] = {}

    def process(self, frame: SceneFrame) -> list[Incident]:
        if not frame.armed:
            self.stays.clear()
            return []
        out: list[Incident] = []
        inside = [t for t in frame.tracks if t.confirmed and self.inside(t)]
        seen = {t.track_id for t in inside}
        for track in inside:
            stay = self.stays.get(track.track_id) or self._reacquire(track, seen, frame.ts)
            stay.last_seen_ts, stay.last_point = frame.ts, track.bottom_centre
            stayed_s = (frame.ts - stay.start_ts).total_seconds()
            if not stay.reported and stayed_s >= self.params.min_s:
                stay.reported = True
                out.append(
                    self.incident(
                        frame,
                        episode_ts=stay.start_ts,
                        track=track,
                        title=f"Loitering {stayed_s:.0f} s",
                        evidence={"stayed_s": round(stayed_s, 1)},
                    )
                )
        for track_id, stay in list(self.stays.items()):
            if (frame.ts - stay.last_seen_ts).total_seconds() > self.params.grace_s:
                del self.stays[track_id]
        return out

    def _reacquire(self, track: TrackView, seen: set[int], ts: datetime) -> _Stay:
        """The nearest stay whose track is absent, if it was last seen close by; else a new stay."""
        x, y = track.bottom_centre
        best_id, best_d = None, self.params.reacquire_frac
        for track_id, stay in self.stays.items():
            if track_id in seen:
                continue
            d = math.hypot(stay.last_point[0] - x, stay.last_point[1] - y)
            if d <= best_d:
                best_id, best_d = track_id, d
        stay = self.stays.pop(best_id) if best_id is not None else _Stay(ts, ts, track.bottom_centre)
        self.stays[track.track_id] = stay
        return stay


class AbandonedObjectRule(_PerTrackRule[AbandonedObjectConfig]):
    """An object that has not moved inside the zone for ``min_s`` seconds."""

    name = "abandoned_object"

    def process(self, frame: SceneFrame) -> list[Incident]:
        # Abandoned objects are still by definition: they need no displacement to count.
        still = tuple(
            TrackView(t.track_id, t.xyxy, t.bottom_centre, True, t.confidence, t.static_s)
            for t in frame.tracks
            if t.static_s > 0
        )
        return super().process(SceneFrame(frame.camera, frame.frame_index, frame.ts, still, frame.armed))

    def due(self, episode: _Episode, frame: SceneFrame) -> bool:
        return True

    def report(self, frame: SceneFrame, track: TrackView, episode: _Episode) -> Incident:
        return self.incident(
            frame,
            episode_ts=episode.start_ts,
            track=track,
            title="Abandoned object",
            evidence={"static_s": round(track.static_s, 1)},
        )

    def inside(self, track: TrackView) -> bool:
        return track.static_s >= self.params.min_s and super().inside(track)


class LineCrossingRule(ZoneRule[LineCrossingConfig]):
    """A track's bottom-centre crossing the line; ``in`` is from the line's left side to its right, as seen
    on the image walking from the line's first point to its second (for a line drawn left to right:
    top to bottom)."""

    name = "line_crossing"

    def __init__(self, zone: ZoneConfig, params: LineCrossingConfig) -> None:
        super().__init__(zone, params)
        self.last_point: dict[int, Point] = {}
        self.counts = {"in": 0, "out": 0}

    def process(self, frame: SceneFrame) -> list[Incident]:
        out: list[Incident] = []
        line = self.params.line
        current: dict[int, Point] = {}
        for track in frame.tracks:
            if not track.confirmed:
                continue
            current[track.track_id] = track.bottom_centre
            before = self.last_point.get(track.track_id)
            if before is None or not segments_intersect(before, track.bottom_centre, line):
                continue
            direction = "in" if side_of_line(before, line) < 0 else "out"
            self.counts[direction] += 1
            if frame.armed and self.params.direction in (direction, "both"):
                out.append(
                    self.incident(
                        frame,
                        episode_ts=frame.ts,
                        track=track,
                        title=f"Line crossed ({direction})",
                        evidence={
                            "direction": direction,
                            "count_in": self.counts["in"],
                            "count_out": self.counts["out"],
                        },
                    )
                )
        self.last_point = current
        return out


@dataclass
class _CrowdState:
    over_since: datetime | None = None
    raised_ts: datetime | None = None
    history: list[int] = field(default_factory=list)


class CrowdRule(ZoneRule[CrowdConfig]):
    """More than ``max_people`` tracks inside the zone for ``min_s``; cleared when it drops back."""

    name = "crowd"

    def __init__(self, zone: ZoneConfig, params: CrowdConfig) -> None:
        super().__init__(zone, params)
        self.state = _CrowdState()

    def process(self, frame: SceneFrame) -> list[Incident]:
        count = sum(1 for t in frame.tracks if self.inside(t))
        state = self.state
        if count > self.params.max_people and frame.armed:
            state.over_since = state.over_since or frame.ts
            held_s = (frame.ts - state.over_since).total_seconds()
            if state.raised_ts is None and held_s >= self.params.min_s:
                state.raised_ts = state.over_since
                return [
                    self.incident(
                        frame,
                        episode_ts=state.over_since,
                        title=f"Crowd of {count}",
                        evidence={"people": count, "max_people": self.params.max_people},
                    )
                ]
            return []
        state.over_since = None
        if state.raised_ts is not None:
            raised_ts, state.raised_ts = state.raised_ts, None
            return [
                self.incident(
                    frame,
                    episode_ts=raised_ts,
                    title=f"Crowd dispersed ({count})",
                    phase=Phase.cleared,
                    evidence={"people": count},
                )
            ]
        return []


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
