"""Errors the detectors stage raises on purpose; all derive from :class:`~pantau.exceptions.PantauError`."""

from __future__ import annotations

from pantau.exceptions import PantauError


class DetectorError(PantauError):
    """Root of the detectors stage's errors."""


class RuleConfigError(DetectorError, ValueError):
    """A sensor rule's configuration is invalid; the message names the rule and the key.

    It is also a :class:`ValueError` on purpose: raised inside a pydantic validator it becomes an
    ordinary validation error carrying the key path, which :mod:`pantau.config` turns into a
    :class:`~pantau.exceptions.ConfigError`, so one check serves config files and direct callers.
    """


class UnknownRuleError(RuleConfigError):
    """A rule names a ``type`` no rule class is registered under; the message lists the valid types."""


class RuleStateError(DetectorError):
    """A persisted rule-state dict cannot be read (malformed, wrong version or naive timestamps)."""
