"""Zone rules on tracks (no video): one incident per episode, directions, crowds, schedules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from detectors.schemas import Phase, Severity
from detectors.zones.config import CameraDetectorsConfig, DetectorCameraConfig, Schedule
from detectors.zones.rules import LineCrossingRule, SceneFrame, TrackView, build_zone_rules

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

ISSUE_EXAMPLE = """
cameras:
  - id: plaza
    source: path/or/rtsp-or-http-url
    fps: 5
    location: {lat: -7.98, lon: 112.63, district: Klojen}
    masks: [[[0.0, 0.0], [0.2, 0.0], [0.2, 0.1], [0.0, 0.1]]]
    zones:
      - name: lawn
        polygon: [[0.0, 0.55], [0.5, 0.68], [1.0, 0.93], [1.0, 1.0], [0.0, 1.0]]
        rules: [intrusion, {loitering: {min_s: 60}}]
        criticality: high
        schedule: "always"
"""


@pytest.fixture
def camera_factory() -> Callable[..., DetectorCameraConfig]:
    def make(zones: list[dict[str, Any]]) -> DetectorCameraConfig:
        return DetectorCameraConfig.model_validate(
            {
                "id": "plaza",
                "source": "x.mp4",
                "zones": zones,
                "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"},
            }
        )

    return make


def track(
    track_id: int, x: float, y: float, confirmed: bool = True, static_s: float = 0.0, area_frac: float = 0.003
) -> TrackView:
    return TrackView(track_id, (x - 0.01, y - 0.05, x + 0.01, y), (x, y), confirmed, None, None, static_s, area_frac)


def run(camera: DetectorCameraConfig, frames: list[list[TrackView]], fps: float = 5, armed: bool = True) -> list[Any]:
    rules = build_zone_rules(camera)
    out = []
    for index, tracks in enumerate(frames):
        scene = SceneFrame(camera, index, T0 + timedelta(seconds=index / fps), tuple(tracks), armed)
        for rule in rules:
            out.extend(rule.process(scene))
    return out


SQUARE = [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]]


def test_issue_example_config_parses() -> None:
    config = CameraDetectorsConfig.model_validate(yaml.safe_load(ISSUE_EXAMPLE))
    zone = config.cameras[0].zones[0]
    assert [r.name for r in zone.rules] == ["intrusion", "loitering"]
    assert zone.severity is Severity.high and zone.rules[1].params.min_s == 60  # type: ignore[attr-defined]


def test_intrusion_is_one_incident_per_entry(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = camera_factory([{"name": "yard", "polygon": SQUARE, "rules": ["intrusion"]}])
    walk_in = [[track(1, 0.3 + 0.02 * i, 0.5)] for i in range(15)]  # enters at x=0.4, leaves at 0.6
    away: list[list[TrackView]] = [[] for _ in range(6)]  # 1.2 s: longer than grace_s
    back = [[track(1, 0.5, 0.5)] for _ in range(4)]
    incidents = run(camera, walk_in + away + back)
    assert [i.type for i in incidents] == ["intrusion", "intrusion"]
    first = incidents[0]
    assert first.zone == "yard" and first.source == "plaza" and first.source_kind == "camera"
    assert first.evidence["track_id"] == 1 and first.location is not None
    # Feet at x=0.40 (frame 5) are on the edge, at 0.42 (frame 6) inside: reported on the second
    # frame inside (min_frames 2), 0.2 s after entering at 5 fps.
    assert first.evidence["frame"] == 7
    assert run(camera, walk_in + away + back)[0].id == first.id  # a replay gives the same ids


def test_a_stay_does_not_pass_to_someone_else_while_its_person_is_still_in_the_picture(
    camera_factory: Callable[..., DetectorCameraConfig],
) -> None:
    """One person walks out of the zone as another steps in where she left it (vtest.avi, 75 s):
    her stay is hers while her track is in the picture, under any of the ids it had (a track that
    broke inside the zone), so the newcomer is a stay and an incident of their own. A track that is
    gone still hands its stay on to the next one where its person would be."""
    camera = camera_factory([{"name": "yard", "polygon": SQUARE, "rules": ["intrusion"]}])
    walk_in = [[track(1, 0.50, 0.5 - 0.01 * i)] for i in range(5)]  # inside, walking up
    broke = [[track(2, 0.50, 0.45 - 0.01 * i)] for i in range(4)]  # the same person, a new track id
    out_and_in = [[track(2, 0.50, 0.39 - 0.01 * i), track(3, 0.53, 0.47)] for i in range(5)]
    incidents = run(camera, walk_in + broke + out_and_in)
    assert [i.evidence["track_id"] for i in incidents] == [1, 3]
    gone_then_back = walk_in + [[] for _ in range(2)] + [[track(4, 0.50, 0.44)] for _ in range(4)]
    assert [i.evidence["track_id"] for i in run(camera, gone_then_back)] == [1]


def test_feet_the_picture_cuts_off_are_inside_a_zone_drawn_to_the_border(
    camera_factory: Callable[..., DetectorCameraConfig],
) -> None:
    """Someone walking along the bottom of the picture has a box clipped at its edge (feet at
    y = 1.0, vtest.avi 585-615): a zone drawn to the border holds them, their stay lasts, and they
    are one incident, not one each time the box leaves the edge."""
    lawn = [[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]
    camera = camera_factory([{"name": "lawn", "polygon": lawn, "rules": ["intrusion"]}])
    on_edge = [[track(1, 0.3 + 0.01 * i, 1.0)] for i in range(20)]  # 4 s along the edge
    off_edge = [[track(1, 0.5, 0.98)] for _ in range(3)]
    incidents = run(camera, on_edge + off_edge + on_edge)
    assert [i.evidence["frame"] for i in incidents] == [1]


def test_unconfirmed_tracks_and_tracks_outside_never_fire(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = camera_factory([{"name": "yard", "polygon": SQUARE, "rules": ["intrusion"]}])
    frames = [[track(1, 0.5, 0.5, confirmed=False), track(2, 0.9, 0.9)] for _ in range(20)]
    assert run(camera, frames) == []


def test_loitering_fires_once_after_min_s(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = camera_factory([{"name": "gate", "polygon": SQUARE, "rules": [{"loitering": {"min_s": 10}}]}])
    incidents = run(camera, [[track(7, 0.5, 0.5)] for _ in range(100)])  # 20 s at 5 fps
    assert len(incidents) == 1 and incidents[0].type == "loitering"
    assert incidents[0].evidence["frame"] == 50


def test_line_crossing_counts_directions(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    line = {"line_crossing": {"line": [[0.0, 0.5], [1.0, 0.5]], "direction": "in"}}
    camera = camera_factory([{"name": "door", "polygon": [[0, 0], [1, 0], [1, 1]], "rules": [line]}])
    down = [[track(1, 0.5, 0.3 + 0.1 * i)] for i in range(5)]  # crosses y=0.5 going down
    up = [[track(2, 0.5, 0.7 - 0.1 * i)] for i in range(5)]  # crosses going up
    rule = build_zone_rules(camera)[0]
    assert isinstance(rule, LineCrossingRule)
    incidents = []
    for index, tracks in enumerate([*down, [], *up]):
        incidents += rule.process(SceneFrame(camera, index, T0 + timedelta(seconds=index / 5), tuple(tracks)))
    assert len(incidents) == 1  # only "in" is reported
    assert incidents[0].evidence["direction"] == "in"
    # ... but both crossings are counted, for the planners.
    crossings = rule.take_crossings()
    assert [(c.direction, c.line, c.camera, c.object_id, c.object_class) for c in crossings] == [
        ("in", "door", "plaza", 1, None),
        ("out", "door", "plaza", 2, None),
    ]
    # Counted once the feet are firmly past the line (frame 3; frame 2 is on it).
    assert crossings[0].ts == T0 + timedelta(seconds=3 / 5) and rule.take_crossings() == []
    camera_both = camera_factory(
        [
            {
                "name": "door",
                "polygon": [[0, 0], [1, 0], [1, 1]],
                "rules": [{"line_crossing": {"line": [[0.0, 0.5], [1.0, 0.5]]}}],
            }
        ]
    )
    both = run(camera_both, [*down, [], *up])
    assert [i.evidence["direction"] for i in both] == ["in", "out"]


def crowd_camera(camera_factory: Callable[..., DetectorCameraConfig], **params: Any) -> DetectorCameraConfig:
    return camera_factory(
        [{"name": "square", "polygon": SQUARE, "rules": [{"crowd": params}], "criticality": "critical"}]
    )


def test_crowd_raises_after_min_s_and_clears_after_clear_s(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = crowd_camera(camera_factory, max_people=3, min_s=1, clear_s=1)
    crowd = [[track(i, 0.42 + 0.03 * i, 0.5) for i in range(5)] for _ in range(10)]
    calm = [[track(1, 0.5, 0.5)] for _ in range(20)]
    incidents = run(camera, crowd + calm)
    assert [(i.type, i.phase) for i in incidents] == [("crowd", Phase.raised), ("crowd", Phase.cleared)]
    assert incidents[0].severity is Severity.critical and incidents[0].evidence["people"] == 5
    assert incidents[0].evidence["frame"] == 5  # held 1 s at 5 fps
    # The 2 s median needs 6 calm frames to drop, then clear_s (5 frames) must pass.
    assert incidents[1].evidence["frame"] == 10 + 5 + 5


def test_a_short_dip_under_the_limit_does_not_clear_the_crowd(
    camera_factory: Callable[..., DetectorCameraConfig],
) -> None:
    camera = crowd_camera(camera_factory, max_people=3, min_s=1, clear_s=3)
    crowd = [[track(i, 0.42 + 0.03 * i, 0.5) for i in range(5)] for _ in range(20)]
    dip = [[track(1, 0.5, 0.5)] for _ in range(12)]  # under for ~1.2 s once the median follows
    assert [i.phase for i in run(camera, crowd + dip + crowd)] == [Phase.raised]


def test_a_dense_crowd_merged_into_one_blob_counts_by_area(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = crowd_camera(camera_factory, max_people=8, min_s=1)
    blob = [[TrackView(1, (0.41, 0.42, 0.59, 0.58), (0.5, 0.58), True, None, None, 0.0, 0.003 * 12)] for _ in range(10)]
    incidents = run(camera, blob)
    assert len(incidents) == 1 and incidents[0].evidence["people"] == 12


def test_jitter_never_makes_a_crowd_but_people_standing_together_do(
    camera_factory: Callable[..., DetectorCameraConfig],
) -> None:
    camera = crowd_camera(camera_factory, max_people=3, min_s=1)
    leaves = [[track(i, 0.42 + 0.03 * i, 0.5, confirmed=False) for i in range(6)] for _ in range(20)]
    assert run(camera, leaves) == []
    group = [[track(1, 0.5, 0.55, confirmed=False, area_frac=0.003 * 5)] for _ in range(10)]
    assert [i.evidence["people"] for i in run(camera, group)] == [5]


def test_crowd_by_occupancy(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = crowd_camera(camera_factory, max_people=None, max_occupancy=0.3, min_s=0)
    four = [[track(i, 0.42 + 0.04 * i, 0.5) for i in range(4)] for _ in range(5)]  # 0.012 of 0.04: 30 %
    assert run(camera, four) == []
    five = [[track(i, 0.42 + 0.03 * i, 0.5) for i in range(5)] for _ in range(5)]
    incidents = run(camera, five)
    assert len(incidents) == 1 and incidents[0].evidence["occupancy"] == 0.375


def test_crowd_learns_the_size_of_a_person_in_its_zone(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = crowd_camera(camera_factory, max_people=8, min_s=0)
    near = [[track(1, 0.5, 0.5, area_frac=0.0055)] for _ in range(150)]  # people are bigger near the camera
    blob = [[TrackView(2, (0.41, 0.42, 0.59, 0.58), (0.5, 0.58), True, None, None, 0.0, 0.0055 * 6)] for _ in range(15)]
    assert run(camera, near + blob) == []  # 6 people, not 11
    assert run(camera, blob) != []  # without having learned, the same blob looks like 11


def test_a_crowd_rule_needs_a_limit(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    with pytest.raises(ValidationError, match="needs max_people or max_occupancy"):
        crowd_camera(camera_factory, max_people=None)


def test_abandoned_object_needs_min_s_still(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = camera_factory([{"name": "hall", "polygon": SQUARE, "rules": [{"abandoned_object": {"min_s": 30}}]}])
    frames = [[track(9, 0.5, 0.5, confirmed=False, static_s=i / 5)] for i in range(200)]
    incidents = run(camera, frames)
    assert len(incidents) == 1 and incidents[0].evidence["frame"] == 150


def test_disarmed_zone_stays_quiet(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = camera_factory([{"name": "yard", "polygon": SQUARE, "rules": ["intrusion"], "schedule": "18:00-06:00"}])
    assert run(camera, [[track(1, 0.5, 0.5)] for _ in range(10)], armed=False) == []
    schedule = camera.zones[0].schedule
    assert schedule.armed_at(time(23, 0)) and schedule.armed_at(time(5, 59)) and not schedule.armed_at(time(12, 0))
    assert Schedule.parse("always").armed_at(time(12, 0))


def test_config_errors_name_the_problem(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    with pytest.raises(ValidationError, match="unknown zone rule 'teleport'; valid rules: abandoned_object, crowd"):
        camera_factory([{"name": "z", "polygon": SQUARE, "rules": ["teleport"]}])
    with pytest.raises(ValidationError, match="max_peple"):
        camera_factory([{"name": "z", "polygon": SQUARE, "rules": [{"crowd": {"max_peple": 3}}]}])
    with pytest.raises(ValidationError, match="schedule must be"):
        camera_factory([{"name": "z", "polygon": SQUARE, "rules": ["intrusion"], "schedule": "nights"}])
    with pytest.raises(ValidationError, match="duplicate zone names z"):
        camera_factory([{"name": "z", "polygon": SQUARE, "rules": ["intrusion"]}] * 2)
    with pytest.raises(ValidationError):
        camera_factory([{"name": "z", "polygon": [[0, 0], [1.5, 0], [1, 1]], "rules": ["intrusion"]}])


# -- with object confirmation ------------------------------------------------------------------------


def seen(track_id: int, x: float, y: float, cls: str | None, score: float | None, confirmed: bool = False) -> TrackView:
    """An object the detector named (or not): its motion need not be confirmed to count."""
    return TrackView(track_id, (x - 0.01, y - 0.05, x + 0.01, y), (x, y), confirmed, cls, score, 0.0, 0.003)


def run_checked(camera: DetectorCameraConfig, frames: list[list[TrackView]], min_score: float = 0.5) -> list[Any]:
    rules = build_zone_rules(camera)
    out = []
    for index, tracks in enumerate(frames):
        scene = SceneFrame(
            camera, index, T0 + timedelta(seconds=index / 5), tuple(tracks), True, "yolov3-tiny", min_score
        )
        for rule in rules:
            out.extend(rule.process(scene))
    return out


def test_with_objects_checked_a_rule_counts_only_its_classes_over_the_score(
    camera_factory: Callable[..., DetectorCameraConfig],
) -> None:
    camera = camera_factory([{"name": "yard", "polygon": SQUARE, "rules": ["intrusion"]}])
    # Motion-confirmed blobs the detector found nothing in (a shadow), or saw as a car, or as a
    # person below the score: nothing. A person the detector is sure of: one intrusion.
    assert run_checked(camera, [[seen(1, 0.5, 0.5, None, None, confirmed=True)] for _ in range(5)]) == []
    assert run_checked(camera, [[seen(2, 0.5, 0.5, "car", 0.9, confirmed=True)] for _ in range(5)]) == []
    assert run_checked(camera, [[seen(3, 0.5, 0.5, "person", 0.45, confirmed=True)] for _ in range(5)]) == []
    found = run_checked(camera, [[seen(4, 0.5, 0.5, "person", 0.83)] for _ in range(5)])
    assert len(found) == 1
    incident = found[0]
    assert (incident.confidence, incident.object_class) == (0.83, "person")
    assert incident.evidence["object"] == {"class": "person", "score": 0.83, "model": "yolov3-tiny"}
    assert incident.title.startswith("Intrusion: person in yard")
    # A rule's own classes and score.
    cars = camera_factory(
        [{"name": "yard", "polygon": SQUARE, "rules": [{"intrusion": {"classes": ["car", "truck"], "min_score": 0.8}}]}]
    )
    assert len(run_checked(cars, [[seen(2, 0.5, 0.5, "car", 0.9)] for _ in range(5)])) == 1
    assert run_checked(cars, [[seen(2, 0.5, 0.5, "car", 0.7)] for _ in range(5)]) == []
    assert run_checked(cars, [[seen(4, 0.5, 0.5, "person", 0.95)] for _ in range(5)]) == []


def test_without_object_check_incidents_say_they_are_not_verified(
    camera_factory: Callable[..., DetectorCameraConfig],
) -> None:
    camera = camera_factory([{"name": "yard", "polygon": SQUARE, "rules": ["intrusion"]}])
    found = run(camera, [[track(1, 0.5, 0.5)] for _ in range(5)])
    assert len(found) == 1 and found[0].confidence is None and found[0].object_class is None
    assert found[0].evidence["verification"] == "motion only"


def test_abandoned_object_is_not_a_person_standing_still(camera_factory: Callable[..., DetectorCameraConfig]) -> None:
    camera = camera_factory([{"name": "hall", "polygon": SQUARE, "rules": [{"abandoned_object": {"min_s": 10}}]}])

    def still(cls: str | None, score: float | None) -> list[list[TrackView]]:
        return [[TrackView(9, (0.49, 0.45, 0.51, 0.5), (0.5, 0.5), False, cls, score, i / 5, 0.0)] for i in range(80)]

    assert run_checked(camera, still("person", 0.7)) == []
    bag = run_checked(camera, still("suitcase", 0.6))
    assert len(bag) == 1 and bag[0].object_class == "suitcase" and bag[0].confidence == 0.6
    unnamed = run_checked(camera, still(None, None))  # too small for the detector to name: still reported
    assert len(unnamed) == 1 and unnamed[0].confidence is None
    assert unnamed[0].evidence["verification"] == "not identified"


def test_counting_line_counts_vehicles_by_class_and_alerts_on_nothing(
    camera_factory: Callable[..., DetectorCameraConfig],
) -> None:
    line = {"line_crossing": {"line": [[0.0, 0.5], [1.0, 0.5]], "alert": False}}
    camera = camera_factory([{"name": "jalan", "polygon": [[0, 0], [1, 0], [1, 1]], "rules": [line]}])
    rule = build_zone_rules(camera)[0]
    assert isinstance(rule, LineCrossingRule)
    frames = [
        [seen(1, 0.3, 0.3 + 0.1 * i, "car", 0.8), seen(2, 0.7, 0.7 - 0.1 * i, "motorcycle", 0.6)] for i in range(5)
    ]
    frames += [[seen(3, 0.5, 0.3 + 0.1 * i, "person", 0.3)] for i in range(5)]  # under the score: not counted
    for index, tracks in enumerate(frames):
        scene = SceneFrame(camera, index, T0 + timedelta(seconds=index / 5), tuple(tracks), True, "yolov3-tiny", 0.5)
        assert rule.process(scene) == []
    assert sorted((c.object_class, c.direction, c.score) for c in rule.take_crossings()) == [
        ("car", "in", 0.8),
        ("motorcycle", "out", 0.6),
    ]


def test_rule_classes_are_checked_against_the_known_ones() -> None:
    with pytest.raises(ValidationError, match="unknown object classes dog; classes: person, bicycle"):
        DetectorCameraConfig.model_validate(
            {
                "id": "c",
                "source": "x",
                "zones": [{"name": "z", "polygon": SQUARE, "rules": [{"intrusion": {"classes": ["dog"]}}]}],
            }
        )


def test_the_hog_person_check_names_its_replacement() -> None:
    with pytest.raises(ValidationError, match=r"person_check .* was replaced by object_check"):
        DetectorCameraConfig.model_validate({"id": "c", "source": "x", "person_check": {"mode": "require"}})


def test_depth_ignores_a_zone_edge_on_the_picture_border() -> None:
    from detectors.zones.geometry import depth_in_polygon

    lawn = [(0.0, 0.5), (1.0, 0.8), (1.0, 1.0), (0.0, 1.0)]
    # Feet at the bottom of the picture are deep in a zone drawn to the border (people walk in
    # from beyond it), however near the border itself.
    assert depth_in_polygon((0.5, 0.999), lawn) > 0.2
    assert depth_in_polygon((0.5, 0.66), lawn) == pytest.approx(0.01 * 0.957826, abs=2e-3)
    assert depth_in_polygon((0.5, 0.6), lawn) == 0.0  # outside
