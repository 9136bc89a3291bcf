"""Errors of the console."""

from __future__ import annotations

from pantau.exceptions import PantauError


class ConsoleError(PantauError):
    """The console cannot do what was asked."""


class ReportNotFound(ConsoleError):
    """No kept report has that id."""


class MailNotPossible(ConsoleError):
    """A report cannot be mailed: no SMTP server or no recipient is configured."""
