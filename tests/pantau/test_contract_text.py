"""Clean text and finite numbers in every wire contract (``pantau/contract.py``)."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from detectors.schemas import Incident, LineCrossing
from ingest.cameras.schemas import CameraStatus, FrameMeta
from ingest.schemas import SensorReading
from pantau.contract import Contract, Line, Text, check_line, check_text, escape_controls
from pantau.dlq import DeadLetter
from pantau.schemas import contract_models
from pantau.timeutil import ahead_of_clock

pytestmark = pytest.mark.unit
TS = "2026-12-08T10:00:00+07:00"
BAD_TEXT = ["Klo\x00jen", "bell\x07", "esc\x1b[31m", "del\x7f", "c1\x85", "lone\ud800", "non\ufffe"]


def _reading(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"sensor_id": "wl-1", "kind": "water_level", "value": 1.2, "unit": "m", "ts": TS,
                              "location": {"lat": -7.98, "lon": 112.63, "district": "Klojen"}}  # fmt: skip
    fields.update(overrides)
    return fields


def _incident(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"id": "i-1", "type": "water_level_high", "source": "wl-1", "source_kind": "sensor",
                              "rule": "river", "ts": TS, "detected_at": TS, "severity": "high", "title": "high",
                              "zone": "lawn", "evidence": {"value": 2.7, "nested": {"list": ["a", 1.5]}}}  # fmt: skip
    fields.update(overrides)
    return fields


@pytest.mark.parametrize("text", BAD_TEXT)
def test_line_and_text_refuse_control_characters_surrogates_and_noncharacters(text: str) -> None:
    with pytest.raises(ValueError, match="text may not contain"):
        check_line(text)
    with pytest.raises(ValueError, match="text may not contain"):
        check_text(text)


def test_text_keeps_line_breaks_and_tabs_a_line_does_not() -> None:
    assert check_text("Banjir\r\n\tJl. Kawi — 2,4 m") == "Banjir\r\n\tJl. Kawi — 2,4 m"
    assert check_line("Banjir di Jl. Kawi — ketinggian 2,4 m ✓") == "Banjir di Jl. Kawi — ketinggian 2,4 m ✓"
    for text in ("a\nb", "a\tb", "a\rb"):
        with pytest.raises(ValueError, match="control character"):
            check_line(text)


def test_the_error_names_the_character_and_where_it_is() -> None:
    with pytest.raises(ValueError, match=r"a NUL character \(U\+0000\) \(at position 3\)"):
        check_line("Klo\x00jen")
    with pytest.raises(ValueError, match=r"a lone surrogate \(U\+D800\)"):
        check_line("x\ud800")


@pytest.mark.parametrize("text", BAD_TEXT)
def test_a_reading_with_a_bad_district_or_unit_is_refused_from_json_and_python(text: str) -> None:
    for fields in (_reading(location={"lat": 0, "lon": 0, "district": text}), _reading(kind="noise", unit=text)):
        with pytest.raises(ValidationError):
            SensorReading.model_validate(fields)
        if "\ud800" not in text:  # JSON cannot carry a lone surrogate: the JSON parser refuses it already
            with pytest.raises(ValidationError, match="text may not contain"):
                SensorReading.model_validate_json(orjson.dumps(fields))


@pytest.mark.parametrize("field", ["title", "zone", "rule", "source", "id", "correlation_id"])
def test_an_incident_with_a_nul_in_any_text_field_is_refused(field: str) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        Incident.model_validate(_incident(**{field: "a\x00b"}))


@pytest.mark.parametrize(
    "evidence",
    [{"note": "a\x00b"}, {"a\x00": 1}, {"deep": [{"x": "\x1b"}]}, {"value": float("nan")}, {"v": [float("inf")]}],
)
def test_free_form_evidence_is_held_to_the_same_rules(evidence: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Incident.model_validate(_incident(evidence=evidence))
    assert Incident.model_validate(_incident(evidence={"note": "line one\nline two", "n": 2.5})).evidence["n"] == 2.5


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_numbers_must_be_finite(raw: bytes) -> None:
    text = orjson.dumps(_reading()).replace(b'"value":1.2', b'"value":' + raw)
    with pytest.raises(ValidationError, match="finite"):
        SensorReading.model_validate_json(text)
    confidence = orjson.dumps(_incident(confidence=0.5)).replace(b'"confidence":0.5', b'"confidence":' + raw)
    with pytest.raises(ValidationError):
        Incident.model_validate_json(confidence)


def test_an_object_id_beyond_what_the_database_stores_is_refused() -> None:
    fields = {"id": "c-1", "camera": "plaza", "line": "gate", "direction": "in", "object_id": 2**63, "ts": TS}
    with pytest.raises(ValidationError, match="less than or equal"):
        LineCrossing.model_validate(fields)
    assert LineCrossing.model_validate({**fields, "object_id": 2**63 - 1}).object_id == 2**63 - 1


def test_camera_status_and_frame_headers_refuse_control_characters() -> None:
    with pytest.raises(ValidationError):
        CameraStatus.model_validate({"camera_id": "plaza", "state": "reconnecting", "at": TS, "error": "x\x00"})
    with pytest.raises(ValidationError):
        FrameMeta.from_headers(
            "plaza\x00", [("pantau-capture-ts", TS.encode()), ("pantau-seq", b"1"), ("pantau-size", b"640x360")]
        )


def test_a_dead_letter_escapes_what_it_quotes_instead_of_refusing_it() -> None:
    letter = DeadLetter.build(
        reason="district 'Klo\x00jen'\nrefused \ud800",
        stage="archive",
        value=b"\x00\xff",
        headers=[("na\nme", b"\x00")],
        endpoint="POST /x\x00",
    )
    assert letter.reason == "district 'Klo\\x00jen'\nrefused \\ud800"
    assert letter.headers[0][0] == "na\\x0ame" and letter.endpoint == "POST /x\\x00"
    assert letter.original_value() == b"\x00\xff"  # the record itself travels as it came
    assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter
    assert escape_controls("ok\ttab\r\n") == "ok\ttab\r\n"
    assert escape_controls("ok\ttab", line=True) == "ok\\x09tab"


def test_the_clock_skew_rule() -> None:
    now = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    assert ahead_of_clock(now + timedelta(seconds=300), now, 300) is None
    assert ahead_of_clock(now - timedelta(days=3650), now, 300) is None  # old readings are not this rule's
    reason = ahead_of_clock(datetime(2199, 1, 1, tzinfo=UTC), now, 300)
    assert reason is not None and "ahead of the server's clock" in reason and "PANTAU_MAX_CLOCK_SKEW_S" in reason


# -- guard: every text field of every contract is a Line or a Text ---------------------------------------


def _checked(annotation: Any) -> bool:
    """Whether every ``str`` inside ``annotation`` carries the Line or Text validator."""
    if annotation is str:
        return False
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        if base is str:
            return any(getattr(m, "func", None) in (check_line, check_text) for m in metadata)
        return _checked(base)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True  # walked on its own
    return all(_checked(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _field_checked(info: FieldInfo) -> bool:
    if typing.get_origin(info.annotation) is dict and typing.get_args(info.annotation)[1] is Any:
        return True  # free form (evidence): Contract walks it, keys and values
    if info.annotation is str:
        return any(getattr(m, "func", None) in (check_line, check_text) for m in info.metadata)
    return _checked(info.annotation)


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                _models(annotation, seen)
            stack.extend(typing.get_args(annotation))


def test_every_text_field_of_every_contract_is_checked() -> None:
    seen: set[type[BaseModel]] = set()
    roots: list[type[BaseModel]] = [*contract_models().values(), FrameMeta]
    for model in roots:
        _models(model, seen)
    unchecked = [
        f"{model.__name__}.{name}"
        for model in seen
        for name, info in model.model_fields.items()
        if not _field_checked(info)
    ]
    assert not unchecked, f"text fields without the Line/Text rule: {unchecked}"
    assert all(issubclass(model, Contract) for model in seen), [m.__name__ for m in seen if not issubclass(m, Contract)]
    assert all(model.model_config.get("allow_inf_nan") is False for model in seen)
    assert all(model.model_config.get("frozen") is True for model in seen)


def test_the_guard_finds_a_plain_str() -> None:
    class Loose(Contract):
        name: str
        names: list[str] = []
        fine: Line = "x"
        notes: dict[Line, Text] = {}

    assert [n for n, i in Loose.model_fields.items() if not _field_checked(i)] == ["name", "names"]
