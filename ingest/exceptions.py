"""Errors of the ingest stage."""

from __future__ import annotations

from pantau.exceptions import PantauError


class IngestError(PantauError):
    """Ingest could not accept input."""


class MappingError(IngestError):
    """An MQTT message could not be turned into a sensor reading; the message says why (it is the DLQ reason)."""


class MqttError(IngestError):
    """Talking to the MQTT broker failed (unreachable, refused the credentials, TLS files unreadable)."""
