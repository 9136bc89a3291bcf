"""The root of every error Pantau raises on purpose.

Each package has its own ``exceptions.py`` whose classes derive from :class:`PantauError`, so a
caller can catch everything Pantau means to raise with one ``except`` and still tell the kinds apart.
Third-party errors are wrapped at the boundary (``raise X(...) from exc``).
"""

from __future__ import annotations


class PantauError(Exception):
    """Root of all Pantau errors."""


class ConfigError(PantauError):
    """The configuration file or a setting is invalid; the message says which key and why."""


class AuthError(PantauError):
    """A token is missing, malformed, expired, or lacks the role an action needs."""


class KafkaError(PantauError):
    """Talking to the Kafka broker failed (unreachable, topic creation refused, send failed)."""


class ConsumerStalled(KafkaError):
    """Records wait for a consumer that no longer receives any (its fetcher is stuck): the worker exits
    so that a fresh process takes over."""


class DatabaseError(PantauError):
    """Talking to PostgreSQL/TimescaleDB failed (transient: the worker backs off and retries)."""


class PermanentError(PantauError):
    """Work that no retry can do: the data itself is refused (a value the database cannot store, a
    constraint it violates, a record too large for Kafka). A worker isolates the record that causes
    it, dead-letters it with this reason and goes on (``pantau/worker.py``)."""


class StackError(PantauError):
    """The local stack (Kafka broker, PostgreSQL) could not be installed, started or stopped."""


class FootageError(PantauError):
    """Real test footage could not be fetched from its Debian package, or is not the pinned file."""
