"""Zones, masks and zone rules of a camera, as the camera detectors validate them.

Camera ingest reads a camera's source and sampling (``ingest.cameras.config``); the detectors read
the same ``cameras:`` entries with this stricter model, which knows the zone rules. A rule is a
name or an object with its parameters: ``intrusion``, ``{loitering: {min_s: 60}}``,
``{crowd: {max_people: 25}}``, ``{line_crossing: {line: [[0.2, 0.5], [0.8, 0.5]], direction: in}}``.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from detectors.schemas import Severity
from detectors.video.classes import CITY_CLASSES, PERSON, check_classes
from ingest.cameras.config import CameraConfig

NormalizedPoint = Annotated[tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]], ...]
_SCHEDULE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class ObjectCheckConfig(BaseModel):
    """``object_check`` of a camera: moving objects are looked at by a CNN object detector, and the
    zone rules count only the objects of their classes (how often: :mod:`detectors.video.confirm`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    model: Literal["ssd-mobilenet-v2", "yolov3-tiny"] = Field("ssd-mobilenet-v2", description="the object detector")
    min_score: float = Field(
        0.5, gt=0, lt=1, description="least detector score for an object to count (a rule may set its own)"
    )
    min_hits: int = Field(2, ge=1, description="frames a track needs before it is looked at")
    recheck_s: float = Field(1.0, gt=0, description="a track with nothing found is looked at again after this")
    max_recheck_s: float = Field(4.0, gt=0, description="... doubling while nothing is found, up to this")
    merged_recheck_s: float = Field(
        1.5, gt=0, description="a track holding several objects, or one inside a zone: looked at this often"
    )
    verify_s: float = Field(5.0, gt=0, description="a track holding one object is looked at again after this")
    max_checks_per_frame: int = Field(2, ge=1, le=16, description="crops given to the detector per frame at most")
    max_looks_per_s: float | None = Field(
        None,
        gt=0,
        le=100,
        description="crops given to the detector per second of video at most, over a 2 s burst (unset: no "
        "limit); new tracks first, re-looks wait",
    )
    margin_frac: float = Field(0.3, ge=0, le=2, description="context around a track's box in its crop")
    area_margin_frac: float = Field(
        0.05, ge=0, le=1, description="tracks farther than this from every zone and line are not looked at"
    )


class ObjectRuleConfig(BaseModel):
    """What a zone rule counts on a camera with ``object_check``: objects of ``classes`` (COCO names)
    with a detector score of at least ``min_score`` (unset: the camera's ``object_check.min_score``).
    On a camera without ``object_check`` every confirmed moving object counts, as motion alone sees
    them, and the incidents say they were not verified."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    classes: tuple[str, ...] = (PERSON,)
    min_score: float | None = Field(None, gt=0, lt=1, description="least detector score (unset: the camera's)")

    @field_validator("classes", mode="before")
    @classmethod
    def _known_classes(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("classes must be a non-empty list of object classes")
        return check_classes([str(v) for v in value])


class IntrusionConfig(ObjectRuleConfig):
    """A confirmed track's bottom-centre inside the zone for ``min_frames`` frames; one incident per
    stay, which survives absences shorter than ``grace_s`` (and a new track where the old was lost)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    min_frames: int = Field(2, ge=1)
    grace_s: float = Field(1.0, ge=0, description="absences shorter than this do not start a new incident")


class LoiteringConfig(ObjectRuleConfig):
    """Someone inside the zone for at least ``min_s`` seconds.

    People who stay somewhere get occluded by passers-by and lose their track now and then: an
    absence shorter than ``grace_s`` does not restart the count, and a new track that appears within
    ``reacquire_frac`` (normalized distance) of where a lost one was last seen carries its time on.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    min_s: float = Field(60.0, gt=0)
    grace_s: float = Field(5.0, ge=0, description="absences shorter than this do not restart the count")
    reacquire_frac: float = Field(
        0.08, ge=0, le=1, description="a new track this close to a lost one's last point continues its episode"
    )


class CrowdConfig(ObjectRuleConfig):
    """More than ``max_people`` people, or moving people covering more than ``max_occupancy`` of the
    zone, held for ``min_s`` seconds; cleared after ``clear_s`` back under.

    People merge into one blob in a dense crowd, so each moving object counts as its foreground area
    over one person's; a person's area starts at ``person_area_frac`` (of the frame) and is learned
    from people seen alone in the zone.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_people: int | None = Field(25, ge=1, description="more people than this is a crowd (null: count off)")
    max_occupancy: float | None = Field(
        None, gt=0, le=1, description="moving people covering more of the zone than this is a crowd (null: off)"
    )
    min_s: float = Field(5.0, ge=0, description="how long the crowd must hold before it is reported")
    clear_s: float = Field(5.0, ge=0, description="how long back under the limit before it is cleared")
    person_area_frac: float = Field(
        0.003, gt=0, lt=1, description="one person's foreground area as a fraction of the frame, until learned"
    )

    @model_validator(mode="after")
    def _some_limit(self) -> CrowdConfig:
        if self.max_people is None and self.max_occupancy is None:
            raise ValueError("a crowd rule needs max_people or max_occupancy")
        return self


class LineCrossingConfig(ObjectRuleConfig):
    """An object's bottom-centre crossing ``line``; ``in`` is from its left to its right side, as seen
    on the image from the line's first point towards its second. Every crossing is counted (the
    planners' counts, ``pantau.line-crossings.v1``); incidents are raised for ``direction``, unless
    ``alert`` is false (a counting line only). Counts people and vehicles by default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    line: tuple[NormalizedPoint, NormalizedPoint]
    direction: Literal["in", "out", "both"] = "both"
    alert: bool = Field(True, description="raise an incident per crossing in `direction` (false: count only)")
    hysteresis_frac: float = Field(
        0.004, ge=0, le=0.2, description="feet this near the line (normalized) are on it: jitter there crosses nothing"
    )
    max_step_frac: float = Field(
        0.12, gt=0, le=1, description="a move longer than this per frame (normalized) is an id jump, not a crossing"
    )
    classes: tuple[str, ...] = CITY_CLASSES


class AbandonedObjectConfig(BaseModel):
    """A new object that stays still inside the zone for at least ``min_s`` seconds; on a camera with
    ``object_check``, not one the detector sees as a person (of ``not_classes``) with at least
    ``min_score`` (a bag is often too small for the detector to name: an object it cannot name still
    counts, and says so)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    min_s: float = Field(30.0, gt=0)
    not_classes: tuple[str, ...] = (PERSON,)
    min_score: float | None = Field(None, gt=0, lt=1, description="least detector score (unset: the camera's)")

    @field_validator("not_classes", mode="before")
    @classmethod
    def _known_classes(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ValueError("not_classes must be a list of object classes")
        return check_classes([str(v) for v in value])


RULE_CONFIGS: dict[str, type[BaseModel]] = {
    "intrusion": IntrusionConfig,
    "loitering": LoiteringConfig,
    "crowd": CrowdConfig,
    "line_crossing": LineCrossingConfig,
    "abandoned_object": AbandonedObjectConfig,
}


class RuleSpec(BaseModel):
    """One rule of a zone: its registered name and validated parameters."""

    model_config = ConfigDict(frozen=True)
    name: str
    params: BaseModel


def parse_rule(raw: Any) -> RuleSpec:
    """``"intrusion"`` or ``{"loitering": {"min_s": 60}}`` → a :class:`RuleSpec`; unknown names list the valid ones."""
    params: Any
    if isinstance(raw, str):
        name, params = raw, {}
    elif isinstance(raw, dict) and len(raw) == 1:
        name, params = next(iter(raw.items()))
        params = params or {}
    else:
        raise ValueError(f"a rule is a name or a one-key mapping {{name: {{params}}}}, got {raw!r}")
    config_type = RULE_CONFIGS.get(str(name))
    if config_type is None:
        raise ValueError(f"unknown zone rule {name!r}; valid rules: {', '.join(sorted(RULE_CONFIGS))}")
    if not isinstance(params, dict):
        raise ValueError(f"parameters of rule {name!r} must be a mapping")
    return RuleSpec(name=str(name), params=config_type.model_validate(params))


class Schedule(BaseModel):
    """When a zone is armed: always, or a daily window in the config's timezone (may wrap midnight)."""

    model_config = ConfigDict(frozen=True)
    start: time | None = None
    end: time | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        if text.strip().lower() == "always":
            return cls()
        match = _SCHEDULE.match(text.strip())
        if match is None:
            raise ValueError(f"schedule must be 'always' or 'HH:MM-HH:MM', got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"schedule has an invalid time: {text!r}")
        return cls(start=time(h1, m1), end=time(h2, m2))

    def armed_at(self, local: time) -> bool:
        if self.start is None or self.end is None:
            return True
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # wraps midnight, e.g. 18:00-06:00


_CRITICALITY = {"critical": Severity.critical, "high": Severity.high, "medium": Severity.medium, "low": Severity.low}


class ZoneConfig(BaseModel):
    """A named polygon of a camera with the rules that watch it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
    polygon: list[NormalizedPoint] = Field(min_length=3)
    rules: list[RuleSpec] = Field(min_length=1)
    criticality: Literal["critical", "high", "medium", "low"] = "medium"
    schedule: Schedule = Field(default_factory=Schedule)

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> list[RuleSpec]:
        if not isinstance(value, list):
            raise ValueError("rules must be a list")
        return [v if isinstance(v, RuleSpec) else parse_rule(v) for v in value]

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Schedule:
        return value if isinstance(value, Schedule) else Schedule.parse(str(value))

    @property
    def severity(self) -> Severity:
        return _CRITICALITY[self.criticality]


class DetectorCameraConfig(CameraConfig):
    """A camera as the detectors see it: ingest's fields plus validated masks and zones."""

    masks: list[list[NormalizedPoint]] = Field(default_factory=list)
    zones: list[ZoneConfig] = Field(default_factory=list)
    object_check: ObjectCheckConfig | None = Field(
        default_factory=ObjectCheckConfig,
        description="moving objects confirmed by a CNN object detector (null: motion only, incidents unverified)",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_person_check(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("person_check") is not None:
            raise ValueError(
                "person_check (the HOG person check) was replaced by object_check: a CNN object detector; "
                "write `object_check: {min_score: 0.5}` (or `object_check: null` for motion only)"
            )
        return data

    @model_validator(mode="after")
    def _unique_zones(self) -> DetectorCameraConfig:
        names = [z.name for z in self.zones]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"camera {self.id}: duplicate zone names {', '.join(duplicates)}")
        for mask in self.masks:
            if len(mask) < 3:
                raise ValueError(f"camera {self.id}: a mask needs at least 3 points")
        return self


class CameraDetectorsConfig(BaseModel):
    """The parts of the configuration file the camera detectors read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Asia/Jakarta"
    cameras: list[DetectorCameraConfig] = Field(default_factory=list)
