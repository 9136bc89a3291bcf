"""Validation of a whole configuration file, section by section, by the models of the stages that own them."""

from __future__ import annotations

from pathlib import Path

from pantau.config import load_config_file, parse_section


def check_config(path: Path) -> None:
    """Raise :class:`~pantau.exceptions.ConfigError` naming the first invalid key, if any."""
    from alerting.config import AlertingFile
    from archive.service import ArchiveConfig
    from console.configview import ReportsSection
    from detectors.config import DetectorsConfig
    from detectors.zones.config import CameraDetectorsConfig
    from ingest.mqtt.config import MqttSection

    data = load_config_file(path)
    # CameraDetectorsConfig is ingest's camera model plus the zones and rules, so it checks both.
    for model in (DetectorsConfig, ArchiveConfig, CameraDetectorsConfig, AlertingFile, ReportsSection, MqttSection):
        parse_section(model, data, str(path))
