"""Object confirmation's policy on tracks and detections (no network: ``detect`` is given the
answers a detector would give), so what is looked at, how often, and what comes out is pinned."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from detectors.video.boxes import XYXY, covered_by
from detectors.video.confirm import OBJECT_ID_BASE, ObjectConfirmer, SeenObject
from detectors.video.objects import Detection, Region
from detectors.video.tracking import Track
from detectors.zones.config import ObjectCheckConfig

pytestmark = pytest.mark.unit
FPS = 10


def track(track_id: int, xyxy: XYXY, hits: int = 5, missed: int = 0, confirmed: bool = True) -> Track:
    return Track(track_id, xyxy, 0.0, 0.0, hits, hits, missed, 0.1, 0.1, confirmed)


class World:
    """What is really there: people's boxes; ``detect`` answers those inside the region asked about."""

    def __init__(self, people: Sequence[XYXY] = (), score: float = 0.8) -> None:
        self.people = list(people)
        self.score = score
        self.regions: list[Region] = []

    def detect(self, region: Region) -> list[Detection]:
        self.regions.append(region)
        return [Detection("person", self.score, p) for p in self.people if covered_by(p, region.xyxy) > 0.9]


def step(confirmer: ObjectConfirmer, world: World, tracks: Sequence[Track], frame: int) -> list[SeenObject]:
    return confirmer.update(tracks, frame / FPS, world.detect)


def test_a_new_track_is_looked_at_once_it_has_its_hits_and_then_not_again_for_a_while() -> None:
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=3, verify_s=5.0))
    person = (0.40, 0.40, 0.46, 0.60)
    world = World([person])
    assert step(confirmer, world, [track(1, person, hits=2)], 0)[0].object_class is None
    assert world.regions == []  # two hits: not yet
    for frame in range(1, 40):  # 4 s
        (obj,) = step(confirmer, world, [track(1, person, hits=2 + frame)], frame)
        assert (obj.object_class, obj.score, obj.object_id) == ("person", 0.8, OBJECT_ID_BASE)
    assert len(world.regions) == 1  # one person: looked at once until verify_s
    for frame in range(40, 52):
        step(confirmer, world, [track(1, person, hits=2 + frame)], frame)
    assert len(world.regions) == 2  # again after 5 s


def test_nothing_found_is_looked_at_again_less_and_less_often() -> None:
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1, recheck_s=1.0, max_recheck_s=4.0))
    branch = (0.1, 0.1, 0.2, 0.3)
    world = World([])  # a swaying branch: the detector never finds anything in it
    looked_at = []
    for frame in range(0, 120):  # 12 s
        before = len(world.regions)
        (obj,) = step(confirmer, world, [track(1, branch, hits=1 + frame, confirmed=False)], frame)
        assert obj.object_class is None and obj.object_id == 1  # the motion track as it is
        if len(world.regions) > before:
            looked_at.append(frame / FPS)
    assert looked_at == [0.0, 1.0, 3.0, 7.0, 11.0]  # 1 s, 2 s, then every 4 s


def test_nothing_found_inside_a_zone_is_looked_at_every_recheck_s() -> None:
    """Something moving inside a zone in which the detector found nothing (a person half out of the
    picture, blurred by a low bitrate) is looked at again every second, without the branch's backoff."""
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1, recheck_s=1.0, max_recheck_s=4.0))
    blob = (0.1, 0.6, 0.2, 0.9)
    world = World([])
    looked_at = []
    for frame in range(0, 60):  # 6 s
        before = len(world.regions)
        confirmer.update([track(1, blob, hits=1 + frame, confirmed=False)], frame / FPS, world.detect,
                         inside=lambda _box: True)  # fmt: skip
        if len(world.regions) > before:
            looked_at.append(frame / FPS)
    assert looked_at == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_passers_by_merged_into_one_blob_are_objects_of_their_own() -> None:
    """Three people walking close together are one motion blob; the detector's boxes inside it
    become three objects with their own feet, and the blob itself is not an object."""
    people = [(0.20, 0.30, 0.25, 0.50), (0.30, 0.32, 0.35, 0.52), (0.40, 0.31, 0.45, 0.51)]
    blob = (0.20, 0.30, 0.45, 0.52)
    world = World(people)
    seen = step(ObjectConfirmer(ObjectCheckConfig(min_hits=1)), world, [track(7, blob)], 0)
    assert sorted(o.bottom_centre for o in seen) == [pytest.approx((0.225, 0.50)), pytest.approx((0.325, 0.52)),
                                                      pytest.approx((0.425, 0.51))]  # fmt: skip
    assert len({o.object_id for o in seen}) == 3 and all(o.track.track_id == 7 for o in seen)


def test_objects_keep_their_ids_when_their_blob_splits() -> None:
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1))
    left, right = (0.20, 0.30, 0.25, 0.50), (0.28, 0.30, 0.33, 0.50)
    world = World([left, right])
    merged = step(confirmer, world, [track(1, (0.20, 0.30, 0.33, 0.50))], 0)
    ids = {o.bottom_centre[0]: o.object_id for o in merged}
    # Next frame the blob splits in two tracks (the merged one ends): each is looked at, and the
    # person in it is the one seen before, not a new object.
    split = step(confirmer, world, [track(2, left, hits=1), track(3, right, hits=1)], 1)
    assert {o.bottom_centre[0]: o.object_id for o in split} == pytest.approx(ids)


def test_one_object_follows_its_track_between_looks() -> None:
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1))
    world = World([(0.40, 0.40, 0.46, 0.60)])
    step(confirmer, world, [track(1, (0.41, 0.45, 0.45, 0.60))], 0)  # a blob of legs and body
    (obj,) = step(confirmer, world, [track(1, (0.44, 0.47, 0.48, 0.62))], 1)  # it walked
    assert obj.xyxy == pytest.approx((0.43, 0.42, 0.49, 0.62))  # the person's box, moved with the blob
    assert len(world.regions) == 1


def test_only_wanted_tracks_are_looked_at_and_at_most_so_many_per_frame() -> None:
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1, max_checks_per_frame=2))
    tracks = [track(i, (0.1 * i, 0.1, 0.1 * i + 0.03, 0.2)) for i in range(1, 8)]
    world = World([t.xyxy for t in tracks])
    confirmer.update(tracks, 0.0, world.detect, wanted=lambda box: box != tracks[2].xyxy)
    assert len(world.regions) == 2
    for frame in range(1, 10):
        confirmer.update(tracks, frame / FPS, world.detect, wanted=lambda box: box != tracks[2].xyxy)
    looked = {t.track_id for t in tracks for r in world.regions if covered_by(t.xyxy, r.xyxy) > 0.9}
    assert looked == {1, 2, 4, 5, 6, 7}  # all but the unwanted one, two a frame
    assert len(world.regions) == 6


def test_a_look_budget_bounds_the_detector_calls_per_second_new_tracks_first() -> None:
    """With ``max_looks_per_s`` a busy scene costs at most that many crops a second (after a burst
    of two seconds' worth); what waits is re-looks, not people never looked at."""
    config = ObjectCheckConfig(min_hits=1, max_checks_per_frame=2, recheck_s=0.5, max_recheck_s=0.5,
                               max_looks_per_s=1.0)  # fmt: skip
    confirmer = ObjectConfirmer(config)
    world = World([])  # nothing found: every track is due again every 0.5 s
    branches = [track(i, (0.1 * i, 0.1, 0.1 * i + 0.03, 0.2), confirmed=False) for i in range(1, 5)]
    per_second = []
    for frame in range(0, 100):  # 10 s
        before = len(world.regions)
        confirmer.update(branches, frame / FPS, world.detect)
        if frame % FPS == 0:
            per_second.append(0)
        per_second[-1] += len(world.regions) - before
    assert per_second[0] == 2  # the burst: two seconds' worth, and no more than two a frame
    assert sum(per_second) <= 2 + 10 and max(per_second[2:]) <= 1
    unlimited = ObjectConfirmer(config.model_copy(update={"max_looks_per_s": None}))
    world_unlimited = World([])
    for frame in range(0, 100):
        unlimited.update(branches, frame / FPS, world_unlimited.detect)
    assert len(world_unlimited.regions) == 4 * 20  # each branch every 0.5 s

    # A new track is looked at before the waiting re-looks, as soon as the budget has a look.
    newcomer = track(9, (0.8, 0.5, 0.84, 0.7))
    person_world = World([newcomer.xyxy])
    for frame in range(100, 120):
        seen = confirmer.update([*branches, newcomer], frame / FPS, person_world.detect)
        if any(o.object_class == "person" for o in seen):
            break
    else:
        raise AssertionError("the new track was never looked at")
    assert frame - 100 <= FPS  # within a second (one look a second)
    assert covered_by(newcomer.xyxy, person_world.regions[0].xyxy) > 0.9  # its look was the first


def test_a_coasting_track_shows_nothing() -> None:
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1))
    world = World([(0.4, 0.4, 0.46, 0.6)])
    step(confirmer, world, [track(1, (0.4, 0.4, 0.46, 0.6))], 0)
    assert step(confirmer, world, [track(1, (0.4, 0.4, 0.46, 0.6), missed=1)], 1) == []


def test_one_object_inside_a_zone_is_looked_at_as_often_as_a_group() -> None:
    """Two people walking close, one hidden behind the other, are one box to the detector until
    they part: inside a zone the box is looked at every ``merged_recheck_s``, not ``verify_s``, so
    the second is found soon after they part; outside, at ``verify_s``."""
    config = ObjectCheckConfig(min_hits=1, merged_recheck_s=1.5, verify_s=5.0)
    person = (0.40, 0.40, 0.46, 0.60)
    for inside, expected in ((True, [0.0, 1.5, 3.0, 4.5]), (False, [0.0])):
        confirmer, world, looked = ObjectConfirmer(config), World([person]), []
        in_zone = (lambda _box: True) if inside else (lambda _box: False)
        for frame in range(0, 50):
            before = len(world.regions)
            confirmer.update([track(1, person, hits=1 + frame)], frame / FPS, world.detect, inside=in_zone)
            if len(world.regions) > before:
                looked.append(frame / FPS)
        assert looked == expected


def test_a_blob_someone_joined_does_not_carry_its_object_onto_the_newcomer() -> None:
    """A woman's blob takes in a man who walks up beside her from the group he was in (vtest.avi,
    75 s): the blob's feet move towards him, so moving her with the blob would put her on him.
    Where she should be is where her own pace takes her: the detection that is her keeps her id,
    and the man keeps his."""
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1, merged_recheck_s=5.0, verify_s=5.0))
    woman, man, other = (0.20, 0.35, 0.24, 0.50), (0.31, 0.36, 0.36, 0.51), (0.45, 0.36, 0.50, 0.52)
    world = World([woman, man, other])
    first = step(confirmer, world, [track(1, woman), track(2, (0.31, 0.36, 0.50, 0.52))], 0)
    ids = {round(o.xyxy[0], 2): o.object_id for o in first}
    assert len(ids) == 3
    # Half a second later she has moved a little; he has walked into her blob, now four times its
    # area, whose feet moved towards him; his old blob holds only the other man.
    woman_now, man_now = (0.22, 0.35, 0.26, 0.50), (0.27, 0.37, 0.32, 0.53)
    world.people = [woman_now, man_now, other]
    later = step(confirmer, world, [track(1, (0.22, 0.35, 0.36, 0.53), hits=10), track(2, other, hits=10)], 5)
    by_place = {round(o.xyxy[0], 2): o.object_id for o in later}
    assert by_place[0.22] == ids[0.2] and by_place[0.27] == ids[0.31]


def _answers(*per_look: list[Detection]) -> tuple[list[Region], Callable[[Region], list[Detection]]]:
    """A detector that gives these detections on its first, second, ... look (the last ever after)."""
    regions: list[Region] = []

    def detect(region: Region) -> list[Detection]:
        regions.append(region)
        return list(per_look[min(len(regions), len(per_look)) - 1])

    return regions, detect


def test_a_weak_echo_inside_a_strong_detection_is_not_someone_else() -> None:
    person = (0.40, 0.40, 0.46, 0.60)
    echo = (0.41, 0.42, 0.45, 0.55)  # the network's second, weaker guess at the same person
    _regions, detect = _answers([Detection("person", 0.9, person), Detection("person", 0.35, echo)])
    seen = ObjectConfirmer(ObjectCheckConfig(min_hits=1)).update([track(1, person)], 0.0, detect)
    assert [(o.object_class, o.score) for o in seen] == [("person", 0.9)]


def test_a_weak_detection_does_not_take_the_identity_of_a_person_found_again() -> None:
    """The person is found again a little aside, and a weak box lies nearer where they were: the
    detection that counts keeps the person's id (and a weak guess gets a new one, if any)."""
    first = (0.40, 0.40, 0.46, 0.60)
    strong = (0.42, 0.40, 0.48, 0.60)  # IoU 0.5 with where the person was
    weak = (0.39, 0.41, 0.45, 0.61)  # IoU 0.68, half inside the strong box: not its echo
    _regions, detect = _answers(
        [Detection("person", 0.9, first)], [Detection("person", 0.9, strong), Detection("person", 0.3, weak)]
    )
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1, verify_s=0.1))
    (found,) = confirmer.update([track(1, first)], 0.0, detect)
    again = confirmer.update([track(1, first)], 0.2, detect)
    assert {o.object_id: o.xyxy for o in again}[found.object_id] == pytest.approx(strong)


def test_colours_that_changed_do_not_split_a_person_still_in_their_blob() -> None:
    """A low bitrate or a sweeping light changes someone's colours between looks; where their own blob
    carried them, half their boxes in common, they are the same person."""
    from detectors.video.appearance import signature

    red = np.zeros((100, 100, 3), np.uint8)
    red[:, :] = (30, 30, 200)
    blue = np.zeros((100, 100, 3), np.uint8)
    blue[:, :] = (200, 60, 20)
    person = (0.40, 0.40, 0.46, 0.60)
    moved = (0.41, 0.40, 0.47, 0.60)
    _regions, detect = _answers([Detection("person", 0.9, person)], [Detection("person", 0.9, moved)])
    looks = iter([red, blue])
    confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1, verify_s=0.1))
    image = next(looks)
    (found,) = confirmer.update([track(1, person)], 0.0, detect, look=lambda box: signature(image, box))
    image = next(looks)
    (again,) = confirmer.update([track(1, person)], 0.2, detect, look=lambda box: signature(image, box))
    assert again.object_id == found.object_id and again.xyxy == pytest.approx(moved)


def test_someone_hidden_behind_another_inside_a_zone_stays_in_their_blob_for_a_while() -> None:
    """Two people walking close on the lawn: a look finds only the front one; the one behind stays
    an object of the blob (their stay goes on) for up to three seconds, and is found again later.
    Outside zones the hidden one is not carried (it would cross counting lines with someone else)."""
    front, behind = (0.40, 0.40, 0.46, 0.62), (0.45, 0.38, 0.50, 0.60)
    blob = (0.40, 0.38, 0.50, 0.62)
    both = [Detection("person", 0.9, front), Detection("person", 0.8, behind)]
    for in_zone, shown in ((True, True), (False, False)):
        _regions, detect = _answers(both, [both[0]], [both[0]], [both[0]])
        confirmer = ObjectConfirmer(ObjectCheckConfig(min_hits=1, merged_recheck_s=1.0))

        def zone(_box: XYXY, answer: bool = in_zone) -> bool:
            return answer

        first = confirmer.update([track(1, blob)], 0.0, detect, inside=zone)
        hidden_id = next(o.object_id for o in first if o.xyxy == behind)
        later = confirmer.update([track(1, blob)], 1.0, detect, inside=zone)
        assert (hidden_id in {o.object_id for o in later}) is shown
        if in_zone:
            assert confirmer.update([track(1, blob)], 2.0, detect, inside=lambda _box: True)  # still there
            assert hidden_id in {o.object_id for o in confirmer.update([track(1, blob)], 2.5, detect,
                                                                        inside=lambda _box: True)}  # fmt: skip
            confirmer.update([track(1, blob)], 3.0, detect, inside=lambda _box: True)
            gone = confirmer.update([track(1, blob)], 4.0, detect, inside=lambda _box: True)
            assert hidden_id not in {o.object_id for o in gone}  # over three seconds unseen: no longer
