"""Errors of the alerting stage."""

from __future__ import annotations

from pantau.exceptions import PantauError


class AlertingError(PantauError):
    """Alerting cannot do its work (schema, configuration)."""


class SubscriptionTaken(AlertingError):
    """A browser's push subscription is another user's: storing it for this one would take their pushes."""
