"""Evidence: ``GET /api/v1/incidents/{id}/snapshot`` (JPEG), ``/clip`` (Motion-JPEG AVI download),
``/clip/frames`` and ``/clip/frames/{n}`` (the clip frame by frame, for the alert detail's player),
and ``GET /api/v1/evidence-access``, the record of who looked at which evidence and when.

Evidence shows people, so it is personal data (Indonesia's UU 27/2022): operators, admins and
responders may view it (a responder only that of the alerts that are theirs), planners may not, and
every view or download is recorded before the bytes go out; admins read the record. A clip
watched in the browser is one viewing: opening it (``/clip/frames``) is recorded and answers a
view token, signed for that person and incident and valid for :data:`VIEW_TTL_S`; its frames are
served only with that token, so no frame goes out without a recorded viewing, and a viewing is one
record rather than one per frame.

Faces: with ``PANTAU_EVIDENCE_BLUR_FACES`` ``export`` what leaves the console as a file (clip
downloads, ``?download=1`` snapshots) has its faces blurred (:mod:`detectors.video.faces`); with
``always`` everything served is. The face detector is loaded at start-up (a missing model stops
the console there), so a setting that asks for blurring never serves an unblurred picture.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field

from console import queries
from console.deps import Pool
from console.responders import responder_scope
from console.settings import Settings
from detectors.video.avi import ClipFormatError, jpeg_size, mjpeg_avi, read_mjpeg_avi
from detectors.video.clips import FrameTimes, frame_times_path
from detectors.video.faces import FaceBlur, FaceBlurConfig
from pantau.auth import Principal, Role
from pantau.webauth import require_roles

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["evidence"])
Viewer = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin, Role.responder))]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
IncidentId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
VIEW_TTL_S = 1800  # how long one recorded viewing of a clip may fetch its frames
_NO_STORE = {"Cache-Control": "private, no-store"}


class EvidenceAccess(BaseModel):
    """One view or download of evidence."""

    at: datetime
    user: str
    role: str
    incident_id: str
    kind: str
    source: str | None


class ClipFrames(BaseModel):
    """A clip's frames for the browser's player: how many, when each was taken, and the viewing's token."""

    fps: float = Field(description="frames per second the clip was recorded at")
    count: int
    width: int
    height: int
    offsets_s: list[float] = Field(description="each frame's time after the first, in seconds")
    frame_ts: list[datetime] | None = Field(description="each frame's capture time (none for clips kept without)")
    incident_frame: int | None = Field(description="index of the frame of the incident's moment")
    incident_ts: datetime | None
    blurred: bool = Field(description="whether the frames served have their faces blurred")
    view: str = Field(description="token for GET .../clip/frames/{n}?view=")
    expires_at: datetime


def load_face_blur(settings: Settings) -> FaceBlur | None:
    """The face detector the settings ask for (None: ``off``); ``ModelMissing``, naming the install
    command, when the model is not installed: the console must not start and serve unblurred."""
    if settings.evidence_blur_faces == "off":
        return None
    config = FaceBlurConfig(min_score=settings.evidence_blur_min_score, upscale=settings.evidence_blur_upscale)
    return FaceBlur.load(settings.models_dir, config)


@dataclass(frozen=True)
class _Evidence:
    snapshot_b64: str | None
    clip: str | None
    source: str
    snapshot_file: str | None
    photo_id: str | None  # a manual report's photo, in alerting's alert_photos


def _evidence(request: Request, pool: Pool, principal: Principal, incident_id: str) -> _Evidence:
    """The incident's evidence; 404 for an unknown incident, and for a responder one of an alert
    that is not theirs (as the alert detail and scene photos answer them)."""
    responder, groups = responder_scope(request, principal)
    try:
        with pool.connection() as conn:
            row = conn.execute(queries.EVIDENCE_OF_INCIDENT, {"id": incident_id}).fetchone()
            if row is not None and responder is not None:
                params = {"incident": incident_id, "user": responder, "groups": sorted(groups)}
                row = row if conn.execute(queries.INCIDENT_ROUTED, params).fetchone() is not None else None
    except psycopg.errors.UndefinedTable:
        row = None
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"evidence unavailable: {exc}") from exc
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id!r}")
    return _Evidence(row[0], row[1], row[2], row[3], row[4])


def _report_photo(pool: Pool, photo_id: str) -> bytes | None:
    try:
        with pool.connection() as conn:
            row = conn.execute(queries.REPORT_PHOTO, {"photo": photo_id}).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"evidence unavailable: {exc}") from exc
    return bytes(row[0]) if row is not None else None


def _inside(request: Request, relative: str | None) -> Path | None:
    """The stored relative path in the evidence folder, or None: a path that leads outside it (``..``,
    an absolute path, a symbolic link out) is never followed."""
    if not relative:
        return None
    root = Path(request.app.state.settings.evidence_dir).resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None


def _record(request: Request, pool: Pool, principal: Principal, incident_id: str, kind: str, source: str) -> None:
    """Write the access record first: evidence that cannot be recorded is not shown."""
    state = request.app.state
    create = not getattr(state, "evidence_log_ready", False)  # the table, once per console process
    try:
        with pool.connection() as conn:
            if create:
                conn.execute(queries.EVIDENCE_ACCESS_SCHEMA)
                conn.execute(queries.EVIDENCE_ACCESS_INDEX)
            conn.execute(
                queries.RECORD_EVIDENCE_ACCESS,
                {"user": principal.user, "role": principal.role.value, "incident": incident_id, "kind": kind,
                 "source": source},
            )  # fmt: skip
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"cannot record the access: {exc}") from exc
    state.evidence_log_ready = True  # only once committed: a rolled-back creation is tried again


def face_blur_for(request: Request, exported: bool) -> FaceBlur | None:
    """The face detector when what is served must be blurred: exports under ``export``, all under
    ``always`` (also the zone editor's stills and the scene photos of notes)."""
    mode = request.app.state.settings.evidence_blur_faces
    if mode == "always" or (mode == "export" and exported):
        blur: FaceBlur | None = getattr(request.app.state, "face_blur", None)
        if blur is None:  # loaded by create_app; never serve unblurred what the setting says to blur
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "face blurring is required but not loaded")
        return blur
    return None


def blurred(blur: FaceBlur | None, jpeg: bytes) -> bytes:
    """``jpeg`` with its faces blurred by ``blur`` (as it is when None); 500 when it is not a JPEG."""
    if blur is None:
        return jpeg
    try:
        return blur.blur_jpeg(jpeg)
    except ValueError as exc:  # nothing could be checked for faces, so nothing is shown
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"the stored picture is corrupt: {exc}") from exc


@router.get(
    "/incidents/{incident_id}/snapshot", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
)
def snapshot(
    incident_id: IncidentId,
    pool: Pool,
    principal: Viewer,
    request: Request,
    download: Annotated[bool, Query(description="as an attachment (an export: blurred under `export`)")] = False,
) -> Response:
    """The incident's snapshot with the detected box drawn: the full-size file camera-detectors keep,
    else the picture inside the incident (older incidents, callers' photos)."""
    evidence = _evidence(request, pool, principal, incident_id)
    jpeg: bytes | None = None
    # The archiver strips the inline picture once the camera's retention is over: from then on the
    # file is not served either, though the hourly sweep may not have deleted it yet.
    path = _inside(request, evidence.snapshot_file) if evidence.snapshot_b64 else None
    if path is not None:
        try:
            jpeg = path.read_bytes()
        except OSError:  # swept or not readable: the thumbnail inside the incident is still evidence
            jpeg = None
    if jpeg is None and evidence.snapshot_b64:
        try:
            jpeg = base64.b64decode(evidence.snapshot_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "the stored snapshot is corrupt") from exc
    if jpeg is None and evidence.photo_id:
        jpeg = _report_photo(pool, evidence.photo_id)
    if jpeg is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} has no snapshot")
    jpeg = blurred(face_blur_for(request, exported=download), jpeg)
    _record(request, pool, principal, incident_id, "snapshot_download" if download else "snapshot", evidence.source)
    headers = dict(_NO_STORE)
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{incident_id}.jpg"'
    return Response(jpeg, media_type="image/jpeg", headers=headers)


def _clip_file(request: Request, evidence: _Evidence, incident_id: str) -> Path:
    if not evidence.clip:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} has no clip")
    path = _inside(request, evidence.clip)
    if path is None:  # a stored path must never lead outside the evidence folder
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} has no clip")
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the clip of incident {incident_id} is not written yet")
    return path


def _read_clip(path: Path, incident_id: str) -> tuple[float, list[bytes]]:
    try:
        fps, frames = read_mjpeg_avi(path.read_bytes())
    except OSError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the clip of incident {incident_id} is gone") from exc
    except ClipFormatError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"the stored clip is corrupt: {exc}") from exc
    if not frames:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "the stored clip has no frames")
    return fps, frames


@router.get("/incidents/{incident_id}/clip", responses={200: {"content": {"video/x-msvideo": {}}}})
def clip(incident_id: IncidentId, pool: Pool, principal: Viewer, request: Request) -> Response:
    """The incident's evidence clip (seconds before to seconds after) to download, once it has been
    written; under ``export`` or ``always`` every frame has its faces blurred."""
    evidence = _evidence(request, pool, principal, incident_id)
    path = _clip_file(request, evidence, incident_id)
    blur = face_blur_for(request, exported=True)
    if blur is None:
        _record(request, pool, principal, incident_id, "clip", evidence.source)
        return FileResponse(path, media_type="video/x-msvideo", filename=f"{incident_id}.avi", headers=_NO_STORE)
    fps, frames = _read_clip(path, incident_id)
    started_s = time.monotonic()
    data = mjpeg_avi([blurred(blur, frame) for frame in frames], fps)
    log.info("clip of incident %s: %d frames blurred in %.1f s", incident_id, len(frames), time.monotonic() - started_s)
    _record(request, pool, principal, incident_id, "clip", evidence.source)
    headers = {**_NO_STORE, "Content-Disposition": f'attachment; filename="{incident_id}.avi"'}
    return Response(data, media_type="video/x-msvideo", headers=headers)


def _view_mac(secret: str, user: str, incident_id: str, expires_s: int) -> str:
    # Its own domain ("clip-view"): a view token is never mistaken for anything else signed with the secret.
    message = f"pantau-clip-view\n{user}\n{incident_id}\n{expires_s}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _view_token(request: Request, user: str, incident_id: str, expires_s: int) -> str:
    return f"{expires_s}.{_view_mac(request.app.state.token_secret, user, incident_id, expires_s)}"


def _view_valid(request: Request, user: str, incident_id: str, token: str | None) -> bool:
    if not token or "." not in token:
        return False
    expires, _, mac = token.partition(".")
    if not expires.isdigit() or int(expires) < time.time():
        return False
    expected = _view_mac(request.app.state.token_secret, user, incident_id, int(expires))
    return hmac.compare_digest(mac, expected)


@router.get("/incidents/{incident_id}/clip/frames", response_model=ClipFrames)
def clip_frames(incident_id: IncidentId, pool: Pool, principal: Viewer, request: Request) -> ClipFrames:
    """Open the clip for viewing in the browser: recorded once as a viewing (``clip_view``); answers
    the frames' count and times and the token that fetches them."""
    evidence = _evidence(request, pool, principal, incident_id)
    path = _clip_file(request, evidence, incident_id)
    fps, frames = _read_clip(path, incident_id)
    try:
        width, height = jpeg_size(frames[0])
    except ClipFormatError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"the stored clip is corrupt: {exc}") from exc
    times = FrameTimes.read(frame_times_path(path))
    if times is not None and len(times.frame_ts) != len(frames):
        times = None  # not this clip's times: show the frames at the clip's rate instead
    if times is not None:
        offsets = [(ts - times.frame_ts[0]).total_seconds() for ts in times.frame_ts]
    else:
        offsets = [index / fps if fps > 0 else 0.0 for index in range(len(frames))]
    is_blurred = face_blur_for(request, exported=False) is not None
    _record(request, pool, principal, incident_id, "clip_view", evidence.source)
    expires_s = int(time.time()) + VIEW_TTL_S
    return ClipFrames(
        fps=fps,
        count=len(frames),
        width=width,
        height=height,
        offsets_s=offsets,
        frame_ts=times.frame_ts if times is not None else None,
        incident_frame=times.incident_frame if times is not None else None,
        incident_ts=times.incident_ts if times is not None else None,
        blurred=is_blurred,
        view=_view_token(request, principal.user, incident_id, expires_s),
        expires_at=datetime.fromtimestamp(expires_s, UTC),
    )


@router.get(
    "/incidents/{incident_id}/clip/frames/{frame}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def clip_frame(
    incident_id: IncidentId,
    frame: Annotated[int, PathParam(ge=0, le=100_000)],
    pool: Pool,
    principal: Viewer,
    request: Request,
    view: Annotated[str | None, Query(max_length=200, description="the token from .../clip/frames")] = None,
) -> Response:
    """One frame of the clip (JPEG), within a viewing opened by ``GET .../clip/frames`` (403 without one)."""
    evidence = _evidence(request, pool, principal, incident_id)
    path = _clip_file(request, evidence, incident_id)
    if not _view_valid(request, principal.user, incident_id, view):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "no open viewing of this clip: open it with GET .../clip/frames (it is recorded)"
        )
    _fps, frames = _read_clip(path, incident_id)
    if frame >= len(frames):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the clip has {len(frames)} frames")
    jpeg = blurred(face_blur_for(request, exported=False), frames[frame])
    return Response(jpeg, media_type="image/jpeg", headers=_NO_STORE)


@router.get("/evidence-access", response_model=list[EvidenceAccess])
def evidence_access(
    pool: Pool,
    _principal: Admin,
    user: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[EvidenceAccess]:
    """Who viewed or downloaded which evidence, newest first (admins only)."""
    params: dict[str, Any] = {"user": user, "limit": limit}
    try:
        with pool.connection() as conn:
            rows = conn.execute(queries.EVIDENCE_ACCESS_LOG, params).fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    except (psycopg.Error, PoolTimeout) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"access log unavailable: {exc}") from exc
    return [EvidenceAccess(at=r[0], user=r[1], role=r[2], incident_id=r[3], kind=r[4], source=r[5]) for r in rows]
