"""CAP 1.2 export: parsed back with ElementTree, every mapped element, the lifecycle's msgType and
references, time format and escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerting.cap import CAP_NS, CapError, cap_category, cap_time, to_cap
from alerting.schemas import Alert

pytestmark = pytest.mark.unit

AlertFactory = Callable[..., Alert]
NS = {"cap": CAP_NS}
SENT_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
WIB = ZoneInfo("Asia/Jakarta")
SENDER = "pantau@malangkota.example"
T0 = datetime(2026, 11, 27, 14, 4, 0, 123456, tzinfo=UTC)  # 21:04 WIB


def parse(document: bytes) -> ET.Element:
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(document)


def text(root: ET.Element, path: str) -> str:
    element = root.find(path, NS)
    assert element is not None, f"missing {path}"
    return element.text or ""


def parameters(root: ET.Element) -> dict[str, str]:
    return {text(p, "cap:valueName"): text(p, "cap:value") for p in root.findall("cap:info/cap:parameter", NS)}


@pytest.fixture
def flood(alert_factory: AlertFactory) -> Alert:
    return alert_factory(
        id="3f2a",
        type="water_level_high",
        priority=2,
        severity="high",
        priority_reason="P2: high water level high at river-01 in Klojen",
        title="Water level 2.4 m at river-01",
        zone="bridge",
        confidence=1.0,
        count=3,
        first_seen=T0 - timedelta(minutes=10),
        last_seen=T0,
        updated_at=T0,
    )


def test_a_new_alert_maps_every_element(flood: Alert) -> None:
    root = parse(to_cap(flood, sender=SENDER, tz=WIB, web="https://pantau.example/alerts/3f2a"))
    assert root.tag == f"{{{CAP_NS}}}alert"
    assert text(root, "cap:identifier") == "pantau-3f2a-v1"
    assert text(root, "cap:sender") == SENDER
    assert text(root, "cap:sent") == "2026-11-27T21:04:00+07:00"
    assert text(root, "cap:status") == "Actual"
    assert text(root, "cap:msgType") == "Alert"
    assert text(root, "cap:scope") == "Public"
    assert root.find("cap:references", NS) is None
    assert text(root, "cap:incidents") == "3f2a"
    info = root.find("cap:info", NS)
    assert info is not None
    assert text(info, "cap:language") == "en-US"
    assert text(info, "cap:category") == "Met"
    assert text(info, "cap:event") == "Water level high"
    assert info.find("cap:responseType", NS) is None
    assert text(info, "cap:urgency") == "Expected"
    assert text(info, "cap:severity") == "Severe"
    assert text(info, "cap:certainty") == "Observed"
    assert text(info, "cap:headline") == "Water level 2.4 m at river-01"
    description = text(info, "cap:description")
    assert description.startswith("P2: high water level high at river-01 in Klojen\n")
    assert "Seen 3 times, first at 2026-11-27T20:54:00+07:00, last at 2026-11-27T21:04:00+07:00." in description
    assert text(info, "cap:web") == "https://pantau.example/alerts/3f2a"
    assert parameters(root) == {
        "pantau:alert_id": "3f2a",
        "pantau:version": "1",
        "pantau:priority": "2",
        "pantau:status": "new",
        "pantau:source": "river-01",
    }
    assert text(info, "cap:area/cap:areaDesc") == "Klojen / bridge / river-01"
    assert text(info, "cap:area/cap:circle") == "-7.98,112.63 0.5"
    assert info.find("cap:area/cap:polygon", NS) is None


def test_elements_are_in_cap_schema_order(flood: Alert) -> None:
    root = parse(to_cap(flood, sender=SENDER, web="https://x.example/"))
    local = [child.tag.split("}")[1] for child in root]
    assert local == ["identifier", "sender", "sent", "status", "msgType", "scope", "incidents", "info"]
    info = root.find("cap:info", NS)
    assert info is not None
    order = [child.tag.split("}")[1] for child in info]
    expected = ["language", "category", "event", "urgency", "severity", "certainty", "headline", "description", "web"]
    assert order[: len(expected)] == expected
    assert order[len(expected) :] == ["parameter"] * 5 + ["area"]


@pytest.mark.parametrize(
    "moment",
    [T0, T0.astimezone(WIB), datetime(2026, 1, 1, 0, 0, 59, 999999, tzinfo=ZoneInfo("America/Sao_Paulo"))],
)
def test_sent_has_seconds_and_a_numeric_offset(alert_factory: AlertFactory, moment: datetime) -> None:
    sent = text(parse(to_cap(alert_factory(updated_at=moment), sender=SENDER)), "cap:sent")
    assert SENT_FORMAT.match(sent), sent
    assert "Z" not in sent and "." not in sent


def test_utc_is_written_minus_zero_as_cap_requires() -> None:
    assert cap_time(T0) == "2026-11-27T14:04:00-00:00"
    assert cap_time(T0, WIB) == "2026-11-27T21:04:00+07:00"
    with pytest.raises(CapError, match="timezone-aware"):
        cap_time(datetime(2026, 11, 27, 14, 4))


@pytest.mark.parametrize(
    ("overrides", "msg_type", "response_type", "urgency"),
    [
        ({"version": 1}, "Alert", None, "Future"),
        ({"version": 4, "change": "repeated", "count": 2}, "Update", None, "Future"),
        (
            {"version": 5, "status": "acknowledged", "acknowledged_by": "op", "acknowledged_at": T0},
            "Update",
            None,
            "Future",
        ),
        ({"version": 6, "status": "resolved", "resolved_at": T0}, "Update", "AllClear", "Past"),
        ({"version": 7, "status": "closed", "close_reason": "handled", "closed_at": T0}, "Update", "AllClear", "Past"),
        ({"version": 7, "status": "closed", "close_reason": "false_alarm", "closed_at": T0}, "Cancel", None, "Past"),
        ({"version": 7, "status": "closed", "close_reason": "duplicate", "closed_at": T0}, "Cancel", None, "Past"),
        ({"version": 2, "status": "closed", "close_reason": "test", "closed_at": T0}, "Cancel", None, "Past"),
    ],
)
def test_msg_type_follows_the_lifecycle(
    alert_factory: AlertFactory,
    overrides: dict[str, Any],
    msg_type: str,
    response_type: str | None,
    urgency: str,
) -> None:
    alert = alert_factory(**overrides)
    root = parse(to_cap(alert, sender=SENDER))
    assert text(root, "cap:msgType") == msg_type
    assert text(root, "cap:identifier") == f"pantau-alert-1-v{alert.version}"
    assert text(root, "cap:status") == "Actual"
    response = root.find("cap:info/cap:responseType", NS)
    assert (response.text if response is not None else None) == response_type
    assert text(root, "cap:info/cap:urgency") == urgency
    assert parameters(root)["pantau:status"] == alert.status.value


def test_false_alarm_cancel_is_unlikely(alert_factory: AlertFactory) -> None:
    alert = alert_factory(version=3, status="closed", close_reason="false_alarm", closed_at=T0)
    root = parse(to_cap(alert, sender=SENDER))
    assert text(root, "cap:info/cap:certainty") == "Unlikely"
    assert "Closed as false alarm." in text(root, "cap:info/cap:description")
    assert parameters(root)["pantau:close_reason"] == "false_alarm"


def test_updates_reference_earlier_messages(alert_factory: AlertFactory) -> None:
    earlier = [
        (SENDER, "pantau-alert-1-v1", T0 - timedelta(minutes=5)),
        (SENDER, "pantau-alert-1-v2", T0 - timedelta(minutes=2)),
    ]
    update = alert_factory(version=3, status="resolved", resolved_at=T0, updated_at=T0)
    root = parse(to_cap(update, sender=SENDER, references=earlier, tz=WIB))
    assert text(root, "cap:references") == (
        f"{SENDER},pantau-alert-1-v1,2026-11-27T20:59:00+07:00 {SENDER},pantau-alert-1-v2,2026-11-27T21:02:00+07:00"
    )
    # references come after scope and before incidents, as the schema orders them
    local = [child.tag.split("}")[1] for child in root]
    assert local.index("scope") < local.index("references") < local.index("incidents")


def test_a_first_alert_carries_no_references(alert_factory: AlertFactory) -> None:
    root = parse(to_cap(alert_factory(), sender=SENDER, references=[(SENDER, "x", T0)]))
    assert root.find("cap:references", NS) is None


@pytest.mark.parametrize(
    ("type_", "category"),
    [
        ("fire", "Fire"),
        ("smoke_high", "Fire"),
        ("flood_risk", "Met"),
        ("water_level_high", "Met"),
        ("rainfall_high", "Met"),
        ("intrusion", "Security"),
        ("loitering", "Security"),
        ("line_crossing", "Security"),
        ("abandoned_object", "Security"),
        ("tamper", "Security"),
        ("crowd", "Safety"),
        ("video_loss", "Infra"),
        ("camera_offline", "Infra"),
        ("pm25_high", "Env"),
        ("firework", "Other"),  # a prefix must end at an underscore
        ("power_loss", "Other"),
    ],
)
def test_categories(type_: str, category: str) -> None:
    assert cap_category(type_) == category


@pytest.mark.parametrize(
    ("priority", "severity", "urgency", "cap_severity"),
    [
        (1, "critical", "Immediate", "Extreme"),
        (2, "high", "Expected", "Severe"),
        (3, "medium", "Future", "Moderate"),
        (4, "low", "Unknown", "Minor"),
    ],
)
def test_urgency_and_severity(
    alert_factory: AlertFactory, priority: int, severity: str, urgency: str, cap_severity: str
) -> None:
    info = parse(to_cap(alert_factory(priority=priority, severity=severity), sender=SENDER)).find("cap:info", NS)
    assert info is not None
    assert (text(info, "cap:urgency"), text(info, "cap:severity")) == (urgency, cap_severity)


@pytest.mark.parametrize(
    ("source_kind", "confidence", "certainty"),
    [
        ("sensor", 1.0, "Observed"),  # a measured reading past its threshold
        ("camera", 1.0, "Likely"),  # a detector's score is not an observation
        ("camera", 0.93, "Likely"),
        ("camera", 0.5, "Likely"),
        ("camera", 0.49, "Possible"),
        ("camera", None, "Unknown"),  # motion only: nobody computed a confidence
    ],
)
def test_certainty_from_what_is_known(
    alert_factory: AlertFactory, source_kind: str, confidence: float | None, certainty: str
) -> None:
    root = parse(to_cap(alert_factory(source_kind=source_kind, confidence=confidence), sender=SENDER))
    assert text(root, "cap:info/cap:certainty") == certainty


@pytest.mark.parametrize(
    "confirmed",
    [
        {"responders": {"ani": "on_scene"}},
        {"responders": {"ani": "done"}},
        {"status": "resolved", "resolved_at": T0},
        {"status": "closed", "closed_at": T0, "close_reason": "handled"},
    ],
)
def test_a_person_who_saw_it_makes_a_camera_alert_observed(
    alert_factory: AlertFactory, confirmed: dict[str, object]
) -> None:
    alert = alert_factory(source_kind="camera", type="intrusion", confidence=None, **confirmed)
    assert text(parse(to_cap(alert, sender=SENDER)), "cap:info/cap:certainty") == "Observed"


def test_an_acknowledgement_alone_confirms_nothing(alert_factory: AlertFactory) -> None:
    alert = alert_factory(source_kind="camera", confidence=0.7, status="acknowledged", acknowledged_at=T0)
    assert text(parse(to_cap(alert, sender=SENDER)), "cap:info/cap:certainty") == "Likely"


def test_markup_in_text_is_escaped(alert_factory: AlertFactory) -> None:
    title = 'Gate <b>"A"</b> & lawn'
    alert = alert_factory(title=title, zone="<zone&1>", priority_reason="P3: a < b & c")
    document = to_cap(alert, sender=SENDER)
    assert b"<b>" not in document
    assert b"&lt;b&gt;" in document and b"&amp; lawn" in document
    root = parse(document)
    assert text(root, "cap:info/cap:headline") == title
    assert text(root, "cap:info/cap:area/cap:areaDesc") == "Klojen / <zone&1> / river-01"
    assert text(root, "cap:info/cap:description").startswith("P3: a < b & c")


def test_characters_xml_cannot_carry_are_dropped(alert_factory: AlertFactory) -> None:
    # The contract refuses them now; an alert stored by an older version may still hold them.
    older = alert_factory().model_copy(update={"title": "bell\x07 and\x00 nul"})
    root = parse(to_cap(older, sender=SENDER))
    assert text(root, "cap:info/cap:headline") == "bell and nul"


def test_unicode_survives(alert_factory: AlertFactory) -> None:
    root = parse(to_cap(alert_factory(title="Banjir di Jl. Kawi — ketinggian 2,4 m"), sender=SENDER))
    assert text(root, "cap:info/cap:headline") == "Banjir di Jl. Kawi — ketinggian 2,4 m"


def test_area_without_location_has_no_circle(alert_factory: AlertFactory) -> None:
    area = parse(to_cap(alert_factory(location=None), sender=SENDER)).find("cap:info/cap:area", NS)
    assert area is not None
    assert text(area, "cap:areaDesc") == "river-01"
    assert area.find("cap:circle", NS) is None


def test_geo_polygon_from_evidence_is_closed(alert_factory: AlertFactory) -> None:
    ring = [[-7.98, 112.62], [-7.98, 112.64], [-7.97, 112.64]]
    alert = alert_factory(evidence={"geo_polygon": ring})
    area = parse(to_cap(alert, sender=SENDER, area_radius_km=1.25)).find("cap:info/cap:area", NS)
    assert area is not None
    assert text(area, "cap:polygon") == "-7.98,112.62 -7.98,112.64 -7.97,112.64 -7.98,112.62"
    assert text(area, "cap:circle") == "-7.98,112.63 1.25"
    tags = [child.tag.split("}")[1] for child in area]
    assert tags == ["areaDesc", "polygon", "circle"]


@pytest.mark.parametrize(
    "evidence",
    [
        {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]},  # image coordinates: not a place
        {"geo_polygon": [[-7.98, 112.62], [-7.98, 112.64]]},
        {"geo_polygon": [[-7.98, 112.62], [-7.98, 312.64], [-7.97, 112.64]]},
        {"geo_polygon": "-7.98,112.62 -7.98,112.64"},
    ],
)
def test_unusable_polygons_are_left_out(alert_factory: AlertFactory, evidence: dict[str, Any]) -> None:
    root = parse(to_cap(alert_factory(evidence=evidence), sender=SENDER))
    assert root.find("cap:info/cap:area/cap:polygon", NS) is None


def test_options(alert_factory: AlertFactory) -> None:
    root = parse(to_cap(alert_factory(), sender=SENDER, language="id-ID", event="Tinggi muka air"))
    assert text(root, "cap:info/cap:language") == "id-ID"
    assert text(root, "cap:info/cap:event") == "Tinggi muka air"
    assert root.find("cap:info/cap:web", NS) is None


@pytest.mark.parametrize("sender", ["pantau kota", "a,b", "x<y", "a&b", ""])
def test_senders_cap_cannot_carry_are_refused(alert_factory: AlertFactory, sender: str) -> None:
    with pytest.raises(CapError, match="sender"):
        to_cap(alert_factory(), sender=sender)


def test_bad_reference_is_refused(alert_factory: AlertFactory) -> None:
    with pytest.raises(CapError, match="reference identifier"):
        to_cap(alert_factory(version=2), sender=SENDER, references=[(SENDER, "a b", T0)])
