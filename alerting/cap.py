"""An alert as a CAP 1.2 message (OASIS Common Alerting Protocol), for agencies that take CAP feeds
(pure logic: no I/O).

Each version of an alert is one message with its own identifier ``pantau-{alert id}-v{version}``.
Lifecycle → ``msgType``:

* version 1 of an open alert: ``Alert``;
* a later version of an open alert (repeat, acknowledgement, escalation...): ``Update``;
* resolved, or closed as ``handled``: ``Update`` with ``responseType`` ``AllClear`` and urgency ``Past``;
* closed as ``false_alarm``, ``duplicate`` or ``test``: ``Cancel`` (certainty ``Unlikely`` for a false
  alarm) — the earlier messages should not have been acted on.

``Update`` and ``Cancel`` carry ``references`` to the earlier messages of the same alert, which the
caller passes as ``(sender, identifier, sent)`` triples. ``status`` is always ``Actual`` (an alert
closed as ``test`` was still published as a real one, so its cancellation is real too).

Other mappings: priority → urgency (P1 ``Immediate``, P2 ``Expected``, P3 ``Future``, P4 ``Unknown``:
a low-priority alert has no time frame to act in); severity → CAP severity (critical ``Extreme``,
high ``Severe``, medium ``Moderate``, low ``Minor``); certainty (:func:`cap_certainty`): ``Observed``
once a person has seen it (a responder on scene, resolved, closed as handled) or when a sensor measured
it (confidence 1), ``Likely`` for an object detector's score of at least 0.5, ``Possible`` under that,
``Unknown`` for a camera detection that no classifier checked (motion only); type → category
(:func:`cap_category`; floods and rain are ``Met``, which CAP defines as "meteorological (inc. flood)").
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from alerting.exceptions import AlertingError
from alerting.schemas import Alert, AlertStatus
from detectors.schemas import Severity

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# Evidence key of an optional area polygon as [[lat, lon], ...] (WGS84). Not "polygon": camera zones
# are polygons in normalized image coordinates, which must never be read as places on Earth.
GEO_POLYGON_KEY = "geo_polygon"

_CANCEL_REASONS = frozenset({"false_alarm", "duplicate", "test"})
_URGENCY = {1: "Immediate", 2: "Expected", 3: "Future", 4: "Unknown"}
_SEVERITY = {Severity.critical: "Extreme", Severity.high: "Severe", Severity.medium: "Moderate", Severity.low: "Minor"}
# Type prefixes (the type itself or the type followed by "_...", e.g. water_level_high) → CAP category.
_CATEGORIES: dict[str, str] = {
    "fire": "Fire",
    "smoke": "Fire",
    "flood": "Met",
    "flood_risk": "Met",
    "water_level": "Met",
    "rain": "Met",
    "rainfall": "Met",
    "temperature": "Met",
    "intrusion": "Security",
    "loitering": "Security",
    "line_crossing": "Security",
    "abandoned_object": "Security",
    "tamper": "Security",
    "crowd": "Safety",
    "panic_button": "Safety",
    "pm25": "Env",
    "air_quality": "Env",
    "video_loss": "Infra",
    "camera_offline": "Infra",
    "sensor_silent": "Infra",
    "sensor_stuck": "Infra",
}
# CAP forbids spaces and commas in sender and identifier (references are comma- and space-delimited)
# and the restricted characters < and &.
_RESTRICTED = re.compile(r"[\s,<&]")
# Characters XML 1.0 cannot carry at all, even escaped; a stray one would make the document unreadable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class CapError(AlertingError, ValueError):
    """The alert cannot be expressed as CAP with these arguments (e.g. a sender with spaces)."""


def cap_certainty(alert: Alert) -> str:
    """CAP certainty from what is known, not from a number nobody computed.

    A detector's score is not a probability that the event happened, so a machine alone never makes
    an event ``Observed``: that takes a person who saw it (a responder on scene, an alert resolved or
    closed as handled; an acknowledgement only says someone read it) or a measurement (a sensor
    reading past its threshold, confidence 1).
    """
    handled = alert.status is AlertStatus.resolved or (
        alert.status is AlertStatus.closed and alert.close_reason == "handled"
    )
    if handled or any(state in ("on_scene", "done") for state in alert.responders.values()):
        return "Observed"
    if alert.confidence is None:
        return "Unknown"
    if alert.source_kind != "camera" and alert.confidence >= 1:
        return "Observed"
    return "Likely" if alert.confidence >= 0.5 else "Possible"


def cap_category(type_: str) -> str:
    """The CAP ``category`` of an alert type: the longest known prefix decides, ``Other`` when none does."""
    best = ""
    for prefix in _CATEGORIES:
        if (type_ == prefix or type_.startswith(prefix + "_")) and len(prefix) > len(best):
            best = prefix
    return _CATEGORIES[best] if best else "Other"


def cap_time(moment: datetime, tz: tzinfo | None = None) -> str:
    """A CAP dateTime: seconds precision with a ``±hh:mm`` offset (UTC as ``-00:00``, as CAP 1.2 requires;
    never ``Z``), in ``tz`` when given."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CapError(f"CAP times must be timezone-aware, got {moment.isoformat()}")
    local = (moment.astimezone(tz) if tz is not None else moment).replace(microsecond=0)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes <= 0 else "+"  # zero offset is "-00:00" in CAP
    hours, mins = divmod(abs(minutes), 60)
    return f"{local.strftime('%Y-%m-%dT%H:%M:%S')}{sign}{hours:02d}:{mins:02d}"


def msg_type(alert: Alert) -> str:
    """``Alert``, ``Update`` or ``Cancel`` for this version of the alert (see the module docstring)."""
    if alert.is_open:
        return "Alert" if alert.version == 1 else "Update"
    if alert.status is AlertStatus.closed and alert.close_reason in _CANCEL_REASONS:
        return "Cancel"
    return "Update"


def identifier(alert: Alert) -> str:
    """The CAP identifier of this version of the alert (unique per message)."""
    return f"pantau-{alert.id}-v{alert.version}"


def _clean(text: str) -> str:
    return _XML_INVALID.sub("", text)


def _check_token(what: str, value: str) -> str:
    if not value or _RESTRICTED.search(value):
        raise CapError(f"CAP {what} must be non-empty without spaces, commas, '<' or '&': {value!r}")
    return value


def _num(value: float) -> str:
    # Fixed notation: CAP coordinates are plain decimals, never 1e-05.
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = _clean(text)
    return child


def _geo_polygon(evidence: dict[str, Any]) -> str | None:
    """The evidence's lat/lon polygon as CAP ``polygon`` text (closed ring), or None if absent or unusable.

    Evidence is free-form detector output, so a malformed polygon is skipped rather than failing the export.
    """
    raw = evidence.get(GEO_POLYGON_KEY)
    if not isinstance(raw, list):
        return None
    points: list[tuple[float, float]] = []
    for item in raw:
        if not (isinstance(item, list | tuple) and len(item) == 2):
            return None
        lat, lon = item
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon)):
            return None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return None
        points.append((float(lat), float(lon)))
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(set(points)) < 3:
        return None
    points.append(points[0])  # CAP polygons are closed: the first pair repeated last
    return " ".join(f"{_num(lat)},{_num(lon)}" for lat, lon in points)


def _description(alert: Alert, tz: tzinfo | None) -> str:
    lines = [alert.priority_reason]
    if alert.count == 1:
        lines.append(f"Seen once at {cap_time(alert.first_seen, tz)}.")
    else:
        lines.append(
            f"Seen {alert.count} times, first at {cap_time(alert.first_seen, tz)}, "
            f"last at {cap_time(alert.last_seen, tz)}."
        )
    if alert.status is AlertStatus.closed and alert.close_reason is not None:
        lines.append(f"Closed as {alert.close_reason.replace('_', ' ')}.")
    elif alert.status is AlertStatus.resolved:
        lines.append("Resolved.")
    return "\n".join(lines)


def to_cap(
    alert: Alert,
    *,
    sender: str,
    references: Sequence[tuple[str, str, datetime]] = (),
    area_radius_km: float = 0.5,
    language: str = "en-US",
    web: str | None = None,
    event: str | None = None,
    tz: tzinfo | None = None,
) -> bytes:
    """This version of ``alert`` as a CAP 1.2 document (UTF-8 XML with declaration).

    ``sender`` identifies the publisher (e.g. ``pantau@kota.example``); ``references`` are the earlier
    messages of the same alert as ``(sender, identifier, sent)``, written out only for ``Update`` and
    ``Cancel``; ``event`` is the type's human name (e.g. from the alerting config's ``type_name``;
    default: the type in words); ``tz`` renders times in local time (default: as stored). ``sent`` is
    the alert's ``updated_at``: when this version came to be. The area is described by district /
    zone / source, with a ``circle`` of ``area_radius_km`` around the location and, if the evidence
    has a ``geo_polygon``, that polygon. Raises :class:`CapError` for a sender or reference CAP cannot
    carry.
    """
    _check_token("sender", sender)
    if not (math.isfinite(area_radius_km) and area_radius_km >= 0):
        raise CapError(f"area_radius_km must be a finite number ≥ 0, got {area_radius_km}")
    kind = msg_type(alert)
    cancel = kind == "Cancel"
    all_clear = not alert.is_open and not cancel

    root = ET.Element("alert", {"xmlns": CAP_NS})
    _sub(root, "identifier", _check_token("identifier", identifier(alert)))
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(alert.updated_at, tz))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", kind)
    _sub(root, "scope", "Public")
    if kind != "Alert" and references:
        triples = [
            f"{_check_token('reference sender', s)},{_check_token('reference identifier', i)},{cap_time(t, tz)}"
            for s, i, t in references
        ]
        _sub(root, "references", " ".join(triples))
    _sub(root, "incidents", _check_token("incident", alert.id))

    info = ET.SubElement(root, "info")
    _sub(info, "language", language)
    _sub(info, "category", cap_category(alert.type))
    _sub(info, "event", event or alert.type.replace("_", " ").capitalize())
    if all_clear:
        _sub(info, "responseType", "AllClear")
    _sub(info, "urgency", "Past" if not alert.is_open else _URGENCY[alert.priority])
    _sub(info, "severity", _SEVERITY[alert.severity])
    _sub(info, "certainty", "Unlikely" if cancel and alert.close_reason == "false_alarm" else cap_certainty(alert))
    _sub(info, "headline", alert.title)
    _sub(info, "description", _description(alert, tz))
    if web is not None:
        _sub(info, "web", web)
    parameters = {
        "pantau:alert_id": alert.id,
        "pantau:version": str(alert.version),
        "pantau:priority": str(alert.priority),
        "pantau:status": alert.status.value,
        "pantau:source": alert.source,
    }
    if alert.close_reason is not None:
        parameters["pantau:close_reason"] = alert.close_reason
    for name, value in parameters.items():
        parameter = ET.SubElement(info, "parameter")
        _sub(parameter, "valueName", name)
        _sub(parameter, "value", value)

    area = ET.SubElement(info, "area")
    district = alert.location.district if alert.location is not None else None
    _sub(area, "areaDesc", " / ".join(part for part in (district, alert.zone, alert.source) if part))
    polygon = _geo_polygon(alert.evidence)
    if polygon is not None:
        _sub(area, "polygon", polygon)
    if alert.location is not None:
        _sub(area, "circle", f"{_num(alert.location.lat)},{_num(alert.location.lon)} {_num(area_radius_km)}")
    return XML_DECLARATION + ET.tostring(root, encoding="unicode").encode("utf-8")
