"""The zone editor's API: a camera's zones and masks, and its latest still to draw them on.

- ``GET /api/v1/cameras/{id}/zones`` (operators, admins): ``{"camera", "zones", "masks"}`` as they
  are in the configuration file — raw, coordinates normalised to 0..1, a line-crossing line inside
  its zone's ``line_crossing`` rule — with an ``ETag`` of that version.
- ``GET /api/v1/cameras/{id}/still`` (operators, admins): the camera's latest frame as a JPEG,
  written by camera-detectors every few seconds (:mod:`detectors.stills`).
- ``PUT /api/v1/cameras/{id}/zones`` (admins): ``{"zones", "masks"}`` replaces the camera's; the
  whole new file must pass the full configuration check (422 with the reason, nothing written),
  then it is written atomically with a ``.bak`` of the previous one (:mod:`console.configfile`).
  camera-detectors notice the change within seconds and rebuild that camera's zones without a
  restart. ``If-Match`` with the ``ETag`` from the GET refuses (412) an edit based on zones someone
  else has changed since. Every save is logged with the user and handed to the console's audit
  hook (``app.state.audit``) when there is one.

409 when the console was started without a configuration file (``PANTAU_CONFIG``).
"""

from __future__ import annotations

import logging
import threading
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from console import queries
from console.configfile import ConfigFile, ConfigUnreadable, UnknownCamera, VersionConflict, zones_version
from console.deps import Store
from console.routers.evidence import blurred, face_blur_for
from detectors.stills import still_path
from ingest.schemas import SENSOR_ID_PATTERN
from pantau.auth import Principal, Role
from pantau.exceptions import ConfigError
from pantau.webauth import require_roles

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/cameras", tags=["zones"])
Viewer = Annotated[Principal, Depends(require_roles(Role.admin, Role.operator))]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
CameraId = Annotated[str, PathParam(min_length=1, max_length=128, pattern=SENSOR_ID_PATTERN)]
_config_file_lock = threading.Lock()


class CameraZones(BaseModel):
    """A camera's zones and masks as stored in the configuration file."""

    camera: str
    zones: list[dict[str, Any]] = Field(description="zones as in the config: name, polygon, rules, ...")
    masks: list[Any] = Field(description="ignored areas: polygons of normalised [x, y] points")


class ZonesEdit(BaseModel):
    """The new zones and masks of a camera; both are required, so that nothing is dropped by omission."""

    model_config = ConfigDict(extra="forbid")

    zones: list[dict[str, Any]]
    masks: list[Any]


def config_file(request: Request) -> ConfigFile:
    """The app's :class:`ConfigFile` (one per app, so that its lock serialises every save)."""
    state = request.app.state
    found: ConfigFile | None = getattr(state, "config_file", None)
    if found is not None:
        return found
    path: Path | None = state.settings.config
    if path is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "the console was started without a configuration file (PANTAU_CONFIG): zones cannot be read or saved",
        )
    with _config_file_lock:
        found = getattr(state, "config_file", None)
        if found is None:
            found = state.config_file = ConfigFile(path)
    return found


Config = Annotated[ConfigFile, Depends(config_file)]


def _etag(zones: list[Any], masks: list[Any]) -> str:
    return f'"{zones_version(zones, masks)}"'


def _unreadable(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"configuration file unreadable: {exc}")


@router.get("/{camera_id}/zones", response_model=CameraZones)
def get_zones(camera_id: CameraId, _principal: Viewer, config: Config, response: Response) -> CameraZones:
    """The camera's zones and masks as they are in the configuration file."""
    try:
        zones, masks = config.zones(camera_id)
    except UnknownCamera as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ConfigError as exc:
        raise _unreadable(exc) from exc
    response.headers["ETag"] = _etag(zones, masks)
    return CameraZones(camera=camera_id, zones=zones, masks=masks)


@router.get(
    "/{camera_id}/still",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "unknown camera, or no still yet"}},
)
def get_still(camera_id: CameraId, principal: Viewer, request: Request, store: Store) -> Response:
    """The camera's latest frame (JPEG), to draw its zones on."""
    settings = request.app.state.settings
    if settings.config is not None:
        try:
            known = camera_id in config_file(request).camera_ids()
        except ConfigError:
            known = True  # the still does not depend on the file; an unreadable one must not hide it
        if not known:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r} in the configuration")
    path = still_path(Path(settings.evidence_dir), camera_id)
    try:
        # Read whole (tens of kB): the file is replaced every few seconds, so it is never streamed.
        jpeg = path.read_bytes()
        modified = path.stat().st_mtime
    except FileNotFoundError as exc:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no still of camera {camera_id} yet: camera-detectors write one every few seconds while its frames "
            "arrive (is the camera streaming, and camera-detectors running with the same evidence folder?)",
        ) from exc
    except OSError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"still unreadable: {exc.strerror}") from exc
    jpeg = blurred(face_blur_for(request, exported=False), jpeg)  # PANTAU_EVIDENCE_BLUR_FACES=always
    # It shows people (UU 27/2022): recorded like any evidence view, never kept by a browser or a proxy.
    params = {"user": principal.user, "role": principal.role.value, "incident": f"still:{camera_id}",
              "kind": "still", "source": camera_id}  # fmt: skip
    store.run(lambda conn: conn.execute(queries.RECORD_EVIDENCE_ACCESS, params), "the evidence access record")
    headers = {"Cache-Control": "private, no-store", "Last-Modified": formatdate(modified, usegmt=True)}
    return Response(jpeg, media_type="image/jpeg", headers=headers)


def _parse_if_match(value: str | None) -> str | None:
    if value is None or value.strip() == "*":
        return None
    tag = value.strip()
    tag = tag.removeprefix("W/")
    return tag.strip('"')


@router.put(
    "/{camera_id}/zones",
    response_model=CameraZones,
    responses={
        404: {"description": "unknown camera"},
        409: {"description": "no configuration file"},
        503: {"description": "the configuration file as it is cannot be read, or cannot be written"},
        412: {"description": "the zones changed since the If-Match version"},
        422: {"description": "the new configuration is invalid (the reason names the key)"},
    },
)
def put_zones(
    camera_id: CameraId,
    principal: Admin,  # first: who may not edit learns nothing else, not even whether there is a file
    config: Config,
    edit: ZonesEdit,
    request: Request,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> CameraZones:
    """Replace the camera's zones and masks; applied by camera-detectors within seconds, no restart."""
    try:
        zones, masks = config.save_zones(camera_id, edit.zones, edit.masks, _parse_if_match(if_match))
    except UnknownCamera as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except VersionConflict as exc:
        raise HTTPException(
            status.HTTP_412_PRECONDITION_FAILED, f"{exc}: someone saved them meanwhile; load them again"
        ) from exc
    except ConfigUnreadable as exc:
        raise _unreadable(exc) from exc
    except ConfigError as exc:
        log.info("zones of camera %s from %s refused: %s", camera_id, principal.user, exc)
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
    except OSError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"configuration file cannot be written: {exc}"
        ) from exc
    log.info(
        "zones of camera %s saved by %s (%s): %d zones, %d masks, in %s",
        camera_id,
        principal.user,
        principal.role.value,
        len(zones),
        len(masks),
        config.path,
    )
    audit = getattr(request.app.state, "audit", None)
    if audit is not None:
        try:
            audit(principal, "zones.saved", {"camera": camera_id})
        except Exception:
            # The file is saved and in use by now: answering an error would tell the admin otherwise.
            log.exception("zones of camera %s saved by %s, but the audit record failed", camera_id, principal.user)
    response.headers["ETag"] = _etag(zones, masks)
    return CameraZones(camera=camera_id, zones=zones, masks=masks)
