"""Mails a report over SMTP (smtplib): the HTML as the body, the PDF attached."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send: plain, STARTTLS (``starttls``) or implicit TLS (``ssl``); login optional."""

    host: str
    port: int = 25
    sender: str = "pantau@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    use_ssl: bool = False
    timeout_s: float = 30.0


def message(sender: str, recipients: Sequence[str], subject: str, html: str, pdf: bytes, pdf_name: str) -> EmailMessage:
    """The message: a plain-text fallback, the HTML alternative and the PDF attachment."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg.set_content(f"{subject}\n\nThe report is attached as a PDF; an HTML version is in this message.\n")
    msg.add_alternative(html, subtype="html")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_name)
    return msg


def send(config: SmtpConfig, msg: EmailMessage) -> None:
    """Sends ``msg``; raises :class:`smtplib.SMTPException` or :class:`OSError` on failure."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config.use_ssl:
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
    with smtp:
        if config.starttls and not config.use_ssl:
            smtp.starttls(context=context)
        if config.user:
            smtp.login(config.user, config.password or "")
        smtp.send_message(msg)
