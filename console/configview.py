"""The parts of the configuration file the console shows: the city's cameras and sensors (for the
map and the health page), the procedures per alert type, the types raised by hand, and the
timezone. Read again whenever the file changes, so an edit shows without a restart."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alerting.config import AlertingFile
from console.reports.scheduler import ReportsConfig
from ingest.cameras.config import CameraConfig
from pantau.config import load_config_file, parse_section
from pantau.exceptions import ConfigError


class CamerasSection(BaseModel):
    model_config = ConfigDict(frozen=True)

    cameras: list[CameraConfig] = Field(default_factory=list)


class ReportsSection(BaseModel):
    model_config = ConfigDict(frozen=True)

    reports: ReportsConfig = Field(default_factory=ReportsConfig)


class ConsoleView(BaseModel):
    """What the console reads from the configuration file."""

    model_config = ConfigDict(frozen=True)

    alerting: AlertingFile
    cameras: list[CameraConfig]
    reports: ReportsConfig = Field(default_factory=ReportsConfig)


class ConfigView:
    """The configuration as last read, re-read when the file's modification time changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime_ns: int | None = None
        self._view: ConsoleView | None = None

    def current(self) -> ConsoleView:
        """The configuration; the last valid one while an edit in progress does not validate."""
        mtime_ns = self.path.stat().st_mtime_ns if self.path is not None and self.path.exists() else None
        with self._lock:
            if self._view is not None and mtime_ns == self._mtime_ns:
                return self._view
            try:
                data: dict[str, Any] = load_config_file(self.path)
                source = str(self.path or "<none>")
                view = ConsoleView(
                    alerting=parse_section(AlertingFile, data, source),
                    cameras=parse_section(CamerasSection, data, source).cameras,
                    reports=parse_section(ReportsSection, data, source).reports,
                )
            except (ConfigError, OSError):
                if self._view is None:
                    raise
                return self._view
            self._view, self._mtime_ns = view, mtime_ns
            return view
