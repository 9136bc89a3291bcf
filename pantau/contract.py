"""What every wire contract and request body shares: frozen, finite numbers, clean text.

A record that passes its model must be storable and showable everywhere downstream. PostgreSQL's
text and jsonb cannot hold NUL (one such reading once stalled alerting and the archiver for good:
every retry of the batch failed the same way); other control characters and lone surrogates break
logs, CSV exports, XML (CAP) and terminals. So text is refused at the first model that sees it, and
the record goes to the dead-letter queue with the reason, instead of failing deep in a sink.

* :data:`Line`: one line of text (ids, names, titles, districts, units): no control character at
  all (Unicode category Cc, which includes TAB and line breaks), no lone surrogate, no
  noncharacter U+FFFE/U+FFFF.
* :data:`Text`: free text an operator or citizen typed (notes, descriptions): the same, except that
  TAB, LF and CR are allowed.
* :class:`Contract`: the base of the wire contracts. Numbers must be finite (``NaN`` and
  ``Infinity`` refused), and strings inside free-form fields (``evidence: dict[str, Any]``) are
  held to the :data:`Text` rule and their numbers to finiteness, recursively.

:func:`escape_controls` is for the other direction: putting untrusted text into a message of our
own (a dead letter's reason) without refusing it.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

# Cc (C0, DEL, C1), surrogates and the two noncharacters every XML and JSON consumer trips on.
_NOT_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _describe(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X})"
    if code == 0:
        return "a NUL character (U+0000)"
    return f"a control character (U+{code:04X})"


def _refuse(refused: re.Pattern[str], value: str) -> str:
    bad = refused.search(value)
    if bad is not None:
        raise ValueError(f"text may not contain {_describe(bad.group())} (at position {bad.start()})")
    return value


def check_line(value: str) -> str:
    """``value`` if it is one line of clean text; ``ValueError`` naming the first bad character."""
    return _refuse(_NOT_IN_LINE, value)


def check_text(value: str) -> str:
    """``value`` if it is clean free text (TAB, LF and CR allowed); ``ValueError`` otherwise."""
    return _refuse(_NOT_IN_TEXT, value)


Line = Annotated[str, AfterValidator(check_line)]
Text = Annotated[str, AfterValidator(check_text)]


def check_free_form(value: Any, path: str = "") -> None:
    """Hold the strings (keys too) and numbers anywhere in a JSON-like value to the contract's rules."""
    if isinstance(value, str):
        try:
            check_text(value)
        except ValueError as exc:
            raise ValueError(f"{path or 'value'}: {exc}") from None
    elif isinstance(value, bool | int):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path or 'value'}: numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                check_free_form(key, f"{path}[key]")
            check_free_form(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_free_form(item, f"{path}[{index}]")


class Contract(BaseModel):
    """Base of every wire contract: frozen, finite numbers, clean text in free-form fields too."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _free_form_fields(self) -> Contract:
        for name, value in self.__dict__.items():
            if isinstance(value, dict | list | tuple):
                check_free_form(value, name)
        return self


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, line: bool = False) -> str:
    """``text`` with every character a :data:`Text` (with ``line``: a :data:`Line`) may not hold
    written as ``\\xNN``/``\\uNNNN``, so that it passes the contract and still says what came."""
    return (_NOT_IN_LINE if line else _NOT_IN_TEXT).sub(_escaped, text)
