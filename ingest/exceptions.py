"""Errors of the ingest stage."""

from __future__ import annotations

from pantau.exceptions import PantauError


class IngestError(PantauError):
    """Ingest could not accept input."""
