"""Reading and rewriting a camera's zones and masks in the YAML configuration file (the zone editor).

A save builds the whole new file, writes it to a temporary file beside the real one, runs it
through the same full validation as ``pantau config check`` (:func:`pantau.fullconfig.check_config`)
and only then copies the previous file to ``<name>.bak`` and renames the new one over it
(``os.replace``): a reader — the camera detectors watching the file, the console's
:class:`~console.configview.ConfigView` — sees the old file or the new one, never a mix, and never
an invalid one written by the console.

The rest of the file (other cameras, sensors, rules, alerting, the order of keys) is kept as data,
but the file is re-emitted by PyYAML: comments, blank lines, quoting and anchors of the original
are lost (the ``.bak`` keeps the previous text as it was). Keep notes about zones in the zones'
names, not in comments.

Saves are serialised by a lock inside this process. Two console replicas, or a person editing the
file by hand at the same moment, can still overwrite each other's change (the last rename wins);
the version tags (:func:`zones_version`) let a client notice that the zones it loaded have changed.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml

from pantau.config import load_config_file
from pantau.exceptions import ConfigError
from pantau.fullconfig import check_config


class ConfigUnreadable(ConfigError):
    """The file as it is cannot be read or parsed, so it cannot be edited either."""


class UnknownCamera(LookupError):
    """The configuration has no camera with that id."""


class VersionConflict(Exception):
    """The zones changed since the version the caller based its edit on."""


def zones_version(zones: list[Any], masks: list[Any]) -> str:
    """A short tag of a camera's zones and masks as stored (an HTTP ETag, without the quotes)."""
    canonical = orjson.dumps({"zones": zones, "masks": masks}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


_SCALARS = (str, int, float, bool, type(None))


class _Dumper(yaml.SafeDumper):
    """Block style for structure, flow style for the small things people write on one line:
    points and polygons (``[[0.1, 0.5], [0.9, 0.5]]``), short lists of names, and small mappings of
    scalars (``{lat: -7.98, lon: 112.63, district: Klojen}``)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = all(
        isinstance(v, _SCALARS) or (isinstance(v, list) and all(isinstance(w, _SCALARS) for w in v)) for v in data
    )
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.Node:
    small = len(data) <= 4 and all(isinstance(v, _SCALARS) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=small)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dict, _represent_dict)


def dump_config(data: dict[str, Any]) -> str:
    """The configuration as YAML text, keys in their order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def _write_temporary(path: Path, data: bytes, mode_from: Path | None) -> Path:
    """``data`` in a new temporary file beside ``path`` (permissions of ``mode_from``), to be renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("xb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())  # the rename must not land before the bytes after a power cut
    if mode_from is not None and mode_from.exists():
        shutil.copymode(mode_from, tmp)
    return tmp


class ConfigFile:
    """The configuration file at ``path``, with the zones and masks of each camera read and saved whole.

    A symlinked file is written through the link (the link stays, its target is replaced).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @property
    def backup_path(self) -> Path:
        return self._target().with_name(self._target().name + ".bak")

    def _target(self) -> Path:
        return self.path.resolve()

    def read(self) -> dict[str, Any]:
        """The parsed file (:class:`ConfigUnreadable` when unreadable or not valid YAML)."""
        try:
            return load_config_file(self.path)
        except ConfigUnreadable:
            raise
        except ConfigError as exc:
            raise ConfigUnreadable(str(exc)) from exc

    def camera_ids(self) -> list[str]:
        return [str(camera.get("id")) for camera in _cameras(self.read())]

    def zones(self, camera_id: str) -> tuple[list[Any], list[Any]]:
        """The camera's ``zones`` and ``masks`` as they are in the file (:class:`UnknownCamera` if none)."""
        camera = _camera(self.read(), camera_id)
        return list(camera.get("zones") or []), list(camera.get("masks") or [])

    def save_zones(
        self, camera_id: str, zones: list[Any], masks: list[Any], expected_version: str | None = None
    ) -> tuple[list[Any], list[Any]]:
        """Replace the camera's zones and masks, if the whole new file validates; returns what was saved.

        Raises :class:`UnknownCamera`, :class:`VersionConflict` (``expected_version`` given and the
        stored zones differ from it), :class:`ConfigUnreadable` (the file as it is cannot be parsed)
        or :class:`ConfigError` (the new file is invalid: the message names the key and why; nothing
        was written).
        """
        with self._lock:
            data = self.read()
            camera = _camera(data, camera_id)
            current = list(camera.get("zones") or []), list(camera.get("masks") or [])
            if expected_version is not None and zones_version(*current) != expected_version:
                raise VersionConflict(f"the zones of camera {camera_id} changed since version {expected_version}")
            updated = copy.deepcopy(data)
            entry = _camera(updated, camera_id)
            # Keys the camera did not have stay absent when emptied, so an untouched file stays tidy.
            for key, value in (("zones", zones), ("masks", masks)):
                if value or key in entry:
                    entry[key] = copy.deepcopy(value)
            self._replace(updated)
            return self.zones(camera_id)

    def _replace(self, data: dict[str, Any]) -> None:
        target = self._target()
        text = dump_config(data)
        tmp = _write_temporary(target, text.encode("utf-8"), target)
        backup: Path | None = None
        try:
            try:
                check_config(tmp)
            except ConfigError as exc:
                # The temporary file's name means nothing to the caller: name the real one.
                raise ConfigError(str(exc).replace(str(tmp), str(self.path))) from exc
            if target.exists():
                backup = _write_temporary(target, target.read_bytes(), target)
                backup.replace(self.backup_path)
            tmp.replace(target)
        finally:
            # Both are gone once renamed; what is left here is a failed attempt's.
            tmp.unlink(missing_ok=True)
            if backup is not None:
                backup.unlink(missing_ok=True)


def _cameras(data: dict[str, Any]) -> list[dict[str, Any]]:
    cameras = data.get("cameras") or []
    if not isinstance(cameras, list):
        raise ConfigUnreadable("cameras: must be a list of cameras")
    return [camera for camera in cameras if isinstance(camera, dict)]


def _camera(data: dict[str, Any], camera_id: str) -> dict[str, Any]:
    for camera in _cameras(data):
        if camera.get("id") == camera_id:
            return camera
    raise UnknownCamera(f"no camera {camera_id!r} in the configuration")
