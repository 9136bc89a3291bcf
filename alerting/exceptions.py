"""Errors of the alerting stage."""

from __future__ import annotations

from pantau.exceptions import PantauError


class AlertingError(PantauError):
    """Alerting cannot do its work (schema, configuration)."""
