"""JSON schemas of the wire contracts, written to ``docs/schemas/`` (``pantau schemas``)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel


def contract_models() -> dict[str, type[BaseModel]]:
    from alerting.schemas import TOPIC_ALERTS, Alert
    from detectors.schemas import TOPIC_INCIDENTS, TOPIC_LINE_CROSSINGS, Incident, LineCrossing
    from ingest.cameras.schemas import TOPIC_CAMERA_STATUS, CameraStatus
    from ingest.schemas import TOPIC_SENSOR_READINGS, SensorReading
    from pantau.dlq import TOPIC_DLQ, DeadLetter

    return {
        TOPIC_SENSOR_READINGS: SensorReading,
        TOPIC_CAMERA_STATUS: CameraStatus,
        TOPIC_INCIDENTS: Incident,
        TOPIC_LINE_CROSSINGS: LineCrossing,
        TOPIC_ALERTS: Alert,
        TOPIC_DLQ: DeadLetter,
    }


def render_schemas() -> dict[str, str]:
    """File name -> JSON schema text, one per topic."""
    out = {}
    for topic, model in contract_models().items():
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"urn:pantau:topic:{topic}"
        schema["title"] = f"{model.__name__} ({topic})"
        out[f"{topic}.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return out


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
