"""Object confirmation: which moving objects the CNN looks at, how often, and what it found in them.

Motion tracks (:mod:`detectors.video.tracking`) are where things move; the object detector
(:mod:`detectors.video.objects`) says what they are. Running the detector on every frame would cost
~60 ms a frame per camera on a CPU; this module runs it on a crop around a track, and only when the
answer can change:

* a **new track** is looked at once it has ``min_hits`` frames (a single-frame flicker costs
  nothing), if a rule could care about it (``wanted``: its feet in or near a zone, near a counting
  line; nothing else is looked at);
* a track in which **nothing** was found is looked at again after ``recheck_s``, doubling up to
  ``max_recheck_s`` while it keeps being nothing (a swaying branch is looked at a few times, not
  every frame), except while its feet are inside a zone: then every ``recheck_s`` (someone half out
  of the picture, or blurred by a low bitrate, is found a moment later, not seconds later);
* a track holding **several objects** (passers-by walking together merge into one blob) is looked
  at every ``merged_recheck_s`` while one of them is where a rule could care, and any track whose
  box doubled since the last look (someone joined it) at once;
* a track holding **one object** is looked at again every ``verify_s``, every ``merged_recheck_s``
  while its feet are inside a zone (someone walking close behind it, hidden in its box, is found as
  they part), or every ``recheck_s`` when its blob is much wider than the object (someone beside or
  behind it, hidden at the last look);
* at most ``max_checks_per_frame`` crops a frame, never-seen tracks first; due tracks whose crops
  overlap share one crop;
* with ``max_looks_per_s``, at most that many crops a second of video on average (a bucket of
  ``_BURST_S`` seconds' worth): a camera's share of a core is bounded, whatever its scene; what is
  due and not looked at waits, in the same order (new tracks first).

Each object found gets an id of its own, kept across looks (matched with where it should be by now,
by overlap or by the distance of its feet against its size, its own blob's objects first) and when
its blob merges with or splits from others, so each passer-by in a merged blob is an object of its
own, with its own box and feet, for the zone rules and the counting lines. Detections that count
(``min_score``) choose their objects before weak ones; a weak box mostly inside a strong one is its
echo and dropped; colours keep one person from taking another's id, except where a person's own
blob carried them onto half their last box (colours fail with the picture: a low bitrate, a light).
An object not found again in its blob, its feet inside a zone and nobody else there, stays for up to
``_HIDDEN_KEEP_S`` (hidden behind someone walking close in front: one box to the detector).
Between looks an object moves with its blob; an object no blob holds any more stays findable for a
moment, moving at its own velocity. An object's score is the best the detector gave it.

Pure logic over boxes: the detector is passed in, so the policy is tested without a network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from detectors.video.appearance import Signature, blend, different
from detectors.video.boxes import (
    XYXY,
    area,
    bottom_centre,
    clipped,
    covered_by,
    expanded,
    intersection,
    iou,
    shifted,
    union_box,
)
from detectors.video.objects import Detection, Region
from detectors.video.tracking import Track
from detectors.zones.config import ObjectCheckConfig

# Objects get ids apart from motion tracks (1...) and static objects (1,000,000...).
OBJECT_ID_BASE = 2_000_000
_DETECTION_FLOOR = 0.25  # weaker detections are not kept at all
_MATCH_IOU = 0.25  # a detection this much like an object's predicted box is that object
_MATCH_GATE = 0.75  # ... or whose feet are nearer than this many times its height
_SIZE_CHANGE = 2.0  # a track's box this much larger or smaller than at the last look: look again
_SIZE_CHANGE_MIN_S = 0.5
_GROUP_SLACK = 1.3  # crops share a look when their union is at most this much larger than both
_MAX_HEIGHT_RATIO = 1.8  # a detection taller than this many times its blob is not of it
_OWN_BLOB_BONUS = 0.15  # between two as alike, the object of the blob looked at is the one
_SOLE_WIDTH_RATIO = 1.5  # a blob this much wider than its one object may hold someone else
_LOST_KEEP_S = 1.5  # an object no longer in any track can be recognised again this long
_SAME_BLOB_IOU = 0.5  # ... or this much like where its own blob carried an object: that object
_ECHO_COVER = 0.6  # a weak detection this much inside a strong one of its class is an echo of it
_HIDDEN_KEEP_S = 3.0  # an object not found again in its blob stays in it this long since last seen
_BURST_S = 2.0  # the look budget may be spent this many seconds' worth at once


@dataclass(frozen=True, slots=True)
class SeenObject:
    """What the confirmation layer tells the zone rules about one thing in the frame.

    ``object_class`` and ``score`` are None for a track the detector has not identified (not yet
    looked at, or nothing found in it).
    """

    object_id: int
    xyxy: XYXY
    track: Track
    object_class: str | None = None
    score: float | None = None
    signature: Signature | None = None

    @property
    def bottom_centre(self) -> tuple[float, float]:
        return bottom_centre(self.xyxy)


@dataclass
class _Member:
    object_id: int
    object_class: str
    score: float  # best so far
    xyxy: XYXY  # where it was at the last look
    seen_s: float  # the time of xyxy
    found_s: float  # when the detector last found it (hidden in its blob since, when earlier)
    signature: Signature | None = None  # what it looks like (colour histogram)
    vx: float = 0.0  # bottom-centre velocity, normalized units per second (from successive looks)
    vy: float = 0.0

    def predicted(self, now_s: float) -> XYXY:
        dt = now_s - self.seen_s
        return shifted(self.xyxy, self.vx * dt, self.vy * dt)


@dataclass
class _Look:
    """What the last look at one motion track found."""

    checked_s: float
    track_box: XYXY  # the track's box then
    failures: int = 0  # looks in a row that found nothing
    members: list[_Member] = field(default_factory=list)
    stale: bool = False  # an object no longer fits the blob it was found in: look again now


DetectFn = Callable[[Region], list[Detection]]
LookFn = Callable[[XYXY], Signature | None]  # what the object in a box looks like (colour signature)
WantedFn = Callable[[XYXY], bool]  # whether anything at this box could matter to a rule


class ObjectConfirmer:
    """Per camera: looks at moving objects sparingly and keeps what was found in them."""

    def __init__(self, config: ObjectCheckConfig, aspect: float = 16 / 9) -> None:
        self.config = config
        self.aspect = aspect  # frame width / height, for margins that are square in pixels
        self._looks: dict[int, _Look] = {}  # motion track id -> last look
        self._lost: list[_Member] = []
        self._next_id = OBJECT_ID_BASE
        self.checks = 0
        self.regions = 0
        rate = config.max_looks_per_s
        self._burst = max(1.0, rate * _BURST_S) if rate is not None else 0.0
        self._tokens = self._burst  # looks left in the budget (with max_looks_per_s)
        self._budget_s: float | None = None  # when the budget was last topped up

    # -- one frame ---------------------------------------------------------------------------------
    def update(
        self,
        tracks: Sequence[Track],
        now_s: float,
        detect: DetectFn,
        wanted: WantedFn = lambda _box: True,
        look: LookFn = lambda _box: None,
        inside: WantedFn = lambda _box: False,
    ) -> list[SeenObject]:
        """Look at what is due in this frame (through ``detect``) and say what each visible track
        holds; ``inside`` says whether a box's feet are inside a zone."""
        alive = {t.track_id for t in tracks}
        for track_id in [t for t in self._looks if t not in alive]:
            self._lost.extend(self._looks.pop(track_id).members)
        self._lost = [m for m in self._lost if now_s - m.seen_s <= _LOST_KEEP_S]
        due = self._due(tracks, now_s, wanted, inside)
        rate = self.config.max_looks_per_s
        if rate is not None:
            # The budget fills at the rate over the video's own time, up to the burst.
            last_s = now_s if self._budget_s is None else self._budget_s
            self._tokens = min(self._burst, self._tokens + max(now_s - last_s, 0.0) * rate)
            self._budget_s = max(last_s, now_s)
            due = due[: int(self._tokens)]
        if due:
            self._look(due, now_s, detect, {t.track_id: t for t in tracks}, look, inside)
        out: list[SeenObject] = []
        shown: set[int] = set()
        for track in tracks:
            if track.missed_frames:
                continue
            for obj in self._seen(track):
                # One object seen in two blobs (a body split in two by a low-contrast band) is one.
                if obj.object_id not in shown:
                    shown.add(obj.object_id)
                    out.append(obj)
        return out

    def _due(self, tracks: Sequence[Track], now_s: float, wanted: WantedFn, inside: WantedFn) -> list[Track]:
        cfg = self.config
        ranked: list[tuple[int, float, Track]] = []
        for track in tracks:
            if track.missed_frames or track.hits < cfg.min_hits:
                continue
            rank = self._rank(track, now_s, inside)
            if rank is None:
                continue
            look = self._looks.get(track.track_id)
            if look is not None and len(look.members) > 1 and not look.stale:
                # A group is looked at again only where one of its people could matter (a group
                # walking along a path beside a lawn is not, until one of them heads onto it). Its
                # people are where the blob took them (a stale look's are no longer in it: the
                # blob itself is what could matter).
                if any(wanted(_where_now(m, look, track, now_s)) for m in look.members):
                    ranked.append((rank[0], rank[1], track))
            elif wanted(track.xyxy):
                ranked.append((rank[0], rank[1], track))
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [t for _, _, t in ranked[: cfg.max_checks_per_frame]]

    def _rank(self, track: Track, now_s: float, inside: WantedFn) -> tuple[int, float] | None:
        """(priority, order within it) if the track is due for a look, else None; lower goes first."""
        cfg = self.config
        look = self._looks.get(track.track_id)
        if look is None:
            return (0, -track.age_frames)
        since_s = now_s - look.checked_s
        if look.stale:
            return (1, -since_s)
        # A blob that doubled may have taken someone in (a blob that halved lost someone, who is a
        # new track of their own and looked at as such).
        grown = area(track.xyxy) > _SIZE_CHANGE * max(area(look.track_box), 1e-12)
        if grown and since_s >= _SIZE_CHANGE_MIN_S:
            return (1, -since_s)
        if not look.members:
            # Something moving inside a zone is looked at every recheck_s until it is known (a
            # person half out of the picture, or blurred by a low bitrate, is found a moment later);
            # elsewhere the wait doubles while nothing is found.
            backoff = 0 if inside(track.xyxy) else max(look.failures - 1, 0)
            wait_s = min(cfg.recheck_s * 2**backoff, cfg.max_recheck_s)
            return (2, -since_s) if since_s >= wait_s else None
        if len(look.members) > 1 or inside(track.xyxy):
            # Inside a zone, two people walking close (one behind the other) are one box to the
            # detector until they part: looked at as often as a group, the second is found then.
            return (1, -since_s) if since_s >= cfg.merged_recheck_s else None
        # One object in a blob much wider than it: someone walking beside or behind it may not
        # have been seen yet (hidden at the last look): look as often as at a group.
        member_w = look.members[0].xyxy[2] - look.members[0].xyxy[0]
        if track.xyxy[2] - track.xyxy[0] > _SOLE_WIDTH_RATIO * max(member_w, 1e-6):
            return (1, -since_s) if since_s >= cfg.recheck_s else None
        return (3, -since_s) if since_s >= cfg.verify_s else None

    def _look(
        self,
        due: list[Track],
        now_s: float,
        detect: DetectFn,
        live: dict[int, Track],
        look: LookFn,
        inside: WantedFn,
    ) -> None:
        cfg = self.config
        # Tracks whose crops overlap share one: one network call sees both.
        groups: list[tuple[XYXY, float, list[Track]]] = []
        for track in due:
            crop = expanded(track.xyxy, cfg.margin_frac, self.aspect)
            height = track.xyxy[3] - track.xyxy[1]
            for i, (box, object_h, members) in enumerate(groups):
                joined = union_box(box, crop)
                if intersection(box, crop) > 0 and area(joined) <= _GROUP_SLACK * (area(box) + area(crop)):
                    groups[i] = (union_box(box, crop), max(object_h, height), [*members, track])
                    break
            else:
                groups.append((crop, height, [track]))
        for box, object_h, members in groups:
            found = _without_echoes(
                [d for d in detect(Region(box, object_h)) if d.score >= _DETECTION_FLOOR], cfg.min_score
            )
            self.regions += 1
            if cfg.max_looks_per_s is not None:
                self._tokens -= 1
            for track in members:
                mine = [d for d in found if self._owner(d, members) is track]
                self._record(track, mine, now_s, live, [look(d.xyxy) for d in mine], inside)
                self.checks += 1

    @staticmethod
    def _owner(detection: Detection, tracks: list[Track]) -> Track | None:
        """The track a detection belongs to: the one that holds most of it (at least half), or that
        it holds (a blob of legs only is a fragment of the person the detector sees), unless the
        detection is far taller than the blob: the moving part of a person is most of their height,
        so a box twice as tall spans people (or things) that are not moving there."""
        best, best_cover = None, 0.5
        det_h = detection.xyxy[3] - detection.xyxy[1]
        for track in tracks:
            if det_h > _MAX_HEIGHT_RATIO * max(track.xyxy[3] - track.xyxy[1], 1e-6):
                continue
            cover = max(covered_by(detection.xyxy, expanded(track.xyxy, 0.15)), covered_by(track.xyxy, detection.xyxy))
            if cover >= best_cover:
                best, best_cover = track, cover
        return best

    def _record(
        self,
        track: Track,
        detections: list[Detection],
        now_s: float,
        tracks: dict[int, Track],
        signatures: list[Signature | None],
        inside: WantedFn,
    ) -> None:
        """Keep what the look at ``track`` found, each detection the object it was before if any;
        ``inside`` says whether a box's feet are inside a zone."""
        old = self._looks.get(track.track_id)
        # Where every known object is now: in its blob (moved with it since the look that found
        # it), or, lost or in a blob that someone joined or left since, where its own velocity has
        # taken it.
        candidates: list[tuple[_Member, XYXY, int | None]] = []
        for track_id, look in self._looks.items():
            blob = tracks.get(track_id)
            for m in look.members:
                candidates.append((m, _where_now(m, look, blob, now_s), track_id))
        candidates += [(m, m.predicted(now_s), None) for m in self._lost]
        pairs = sorted(
            (
                # Where it should be now, or where it was last seen: a blob someone joined moves its
                # objects' estimate towards the newcomer.
                (
                    max(_similarity(d.xyxy, here), _similarity(d.xyxy, m.xyxy)),
                    1 if holder == track.track_id else 0,
                    di,
                    mi,
                )
                for di, d in enumerate(detections)
                for mi, (m, here, holder) in enumerate(candidates)
                # Someone else: another class, or other colours (one took the other's place).
                if m.object_class == d.object_class and not different(m.signature, signatures[di])
            ),
            # The likest first, the detections that count (a score of min_score) before the weak:
            # a weak second guess beside someone does not take their identity from them.
            key=lambda p: (
                detections[p[2]].score >= self.config.min_score,
                p[0] + (_OWN_BLOB_BONUS if p[0] > 0 and p[1] else 0.0),
            ),
            reverse=True,
        )
        matched: dict[int, int] = {}
        used: set[int] = set()
        for score, _own, di, mi in pairs:
            if score <= 0 or di in matched or mi in used:
                continue
            matched[di] = mi
            used.add(mi)
        # Colours fail where the picture does (a low bitrate's blocky chroma, a sweeping light): a
        # detection still unmatched that lies over an unmatched object of its own blob, where the
        # blob carried it (half their boxes in common), is that object whatever its colours say;
        # someone taking another's place comes from elsewhere, not from inside the same blob.
        for di, d in enumerate(detections):
            if di in matched:
                continue
            best, best_iou = None, _SAME_BLOB_IOU
            for mi, (m, here, holder) in enumerate(candidates):
                if mi in used or holder != track.track_id or m.object_class != d.object_class:
                    continue
                overlap = iou(d.xyxy, here)
                if overlap >= best_iou:
                    best, best_iou = mi, overlap
            if best is not None:
                matched[di] = best
                used.add(best)
        members: list[_Member] = []
        for di, d in enumerate(detections):
            if di not in matched:
                members.append(_Member(self._next_id, d.object_class, d.score, d.xyxy, now_s, now_s, signatures[di]))
                self._next_id += 1
                continue
            member, _here, holder = candidates[matched[di]]
            if holder is not None and holder != track.track_id:
                # Found in this blob now (two blobs merged, or a body in two pieces): it leaves the other.
                self._looks[holder].members.remove(member)
            dt = now_s - member.seen_s
            if dt > 0:
                (ox, oy), (nx, ny) = bottom_centre(member.xyxy), bottom_centre(d.xyxy)
                member.vx, member.vy = (nx - ox) / dt, (ny - oy) / dt
            member.xyxy, member.seen_s, member.found_s = d.xyxy, now_s, now_s
            member.score = max(member.score, d.score)
            member.signature = blend(member.signature, signatures[di])
            members.append(member)
        # Objects of this blob not found again, their feet inside a zone: hidden behind someone else (the
        # detector sees one box for two people walking close), while the blob still holds where it
        # carried them, nobody else stands there and they were seen not long ago, they stay its
        # members, so their stays go on (outside zones they would be carried across counting lines
        # with someone else's blob); otherwise they may be in another blob by now: keep them findable.
        found_again = {id(m) for m in members}
        if old is not None:
            for m in old.members:
                if id(m) in found_again:
                    continue
                carried = _moved_with(m, old, track)
                if (
                    inside(carried)
                    and now_s - m.found_s <= _HIDDEN_KEEP_S
                    and _holds(track.xyxy, carried)
                    and all(iou(carried, d.xyxy) < _MATCH_IOU for d in detections)
                ):
                    m.xyxy, m.seen_s = carried, now_s  # where the blob has taken them, as of this look
                    members.append(m)
        kept = {id(m) for m in members}
        self._lost = [m for m in self._lost if id(m) not in kept]
        if old is not None:
            self._lost.extend(m for m in old.members if id(m) not in kept)
        failures = 0 if detections else (old.failures + 1 if old is not None else 1)
        self._looks[track.track_id] = _Look(now_s, track.xyxy, failures, members)

    def _seen(self, track: Track) -> list[SeenObject]:
        look = self._looks.get(track.track_id)
        if look is None or not look.members:
            return [SeenObject(track.track_id, track.xyxy, track)]
        # Its objects move with the blob, which is updated every frame (people walking together
        # move together; a group that parts is looked at again as its blob changes). An object the
        # blob no longer holds (the blob changed shape as someone joined or left it) is not shown
        # where it is no longer, and the blob is looked at again.
        out = []
        for m in look.members:
            box = _moved_with(m, look, track)
            if _holds(track.xyxy, box):
                out.append(SeenObject(m.object_id, box, track, m.object_class, m.score, m.signature))
            else:
                look.stale = True
        return out

    def forget(self) -> None:
        """Drop everything (the camera's view changed: what was found no longer applies)."""
        self._looks.clear()
        self._lost.clear()


def _without_echoes(found: list[Detection], min_score: float) -> list[Detection]:
    """The detections less the weak echoes of strong ones: a box under ``min_score`` lying mostly
    inside a box of the same class that reaches it (the detector's second guess at one person, beside
    the NMS's overlap limit) is that person, not someone else; kept, it would take over their identity
    (and their best score) while the person themself got a new one."""
    strong = [d for d in found if d.score >= min_score]
    return [
        d
        for d in found
        if d.score >= min_score
        or not any(s.object_class == d.object_class and covered_by(d.xyxy, s.xyxy) >= _ECHO_COVER for s in strong)
    ]


def _moved_with(member: _Member, look: _Look, track: Track) -> XYXY:
    """The member's box, moved as its blob's feet moved since the look that found it."""
    (ox, oy), (nx, ny) = bottom_centre(look.track_box), bottom_centre(track.xyxy)
    return clipped(shifted(member.xyxy, nx - ox, ny - oy))


def _where_now(member: _Member, look: _Look, blob: Track | None, now_s: float) -> XYXY:
    """Where a known object should be now: moved with its blob, unless the blob has changed size
    since the look (someone joined it or left it: its feet moved towards them, not with the object),
    or is gone; then where the object's own velocity has taken it."""
    if blob is None:
        return member.predicted(now_s)
    ratio = area(blob.xyxy) / max(area(look.track_box), 1e-12)
    if ratio > _SIZE_CHANGE or ratio < 1 / _SIZE_CHANGE:
        return member.predicted(now_s)
    return _moved_with(member, look, blob)


def _holds(blob: XYXY, box: XYXY) -> bool:
    """Whether a blob still holds an object's box: most of the box in it, or it in the box (a blob
    of legs only)."""
    return max(covered_by(box, expanded(blob, 0.15)), covered_by(blob, box)) >= 0.5


def _similarity(detection: XYXY, known: XYXY) -> float:
    """How alike a detection and a known object's box are: 1 + IoU when they overlap well, else by
    the distance of their feet against the objects' size (0: not the same object)."""
    overlap = iou(detection, known)
    if overlap >= _MATCH_IOU:
        return 1.0 + overlap
    gate = _MATCH_GATE * max(detection[3] - detection[1], known[3] - known[1], 1e-6)
    (dx, dy), (kx, ky) = bottom_centre(detection), bottom_centre(known)
    far = ((dx - kx) ** 2 + (dy - ky) ** 2) ** 0.5 / gate
    return 1.0 - far if far < 1.0 else 0.0
