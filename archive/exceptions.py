"""Errors of the archiver."""

from __future__ import annotations

from pantau.exceptions import PantauError


class ArchiveError(PantauError):
    """The archiver cannot do its work (schema cannot be applied, configuration invalid)."""
