"""Factories for the console tests: people with accounts in a pipeline's schema, and clients that
log in as they would in a browser (session cookie plus CSRF header) or call with their API token."""

from __future__ import annotations

import email
import secrets
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from psycopg import sql

from pantau import users
from pantau.auth import Role, issue_token
from tests.pipeline import Pipeline


@dataclass(frozen=True)
class Person:
    """An account made for a test: log in with ``password`` or call with ``token``."""

    name: str
    role: Role
    password: str
    token: str


PersonFactory = Callable[[Pipeline, str, Role], Person]


@pytest.fixture
def person_factory() -> PersonFactory:
    return make_person


def make_person(pipeline: Pipeline, name: str, role: Role) -> Person:
    """An account in ``pipeline``'s schema with a random password and a user token."""
    password = secrets.token_urlsafe(16)
    with pipeline.db() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(pipeline.schema)))
        users.apply_schema(conn)
        users.add_user(conn, name, role, password, display_name=name.title())
    token = issue_token(pipeline.secret, role, name, kind="user")
    return Person(name, role, password, token)


LoginFactory = Callable[[Pipeline, Person], httpx.Client]


@pytest.fixture
def login_factory() -> Iterator[LoginFactory]:
    """A client logged in through ``POST /api/v1/session``, sending the CSRF token on every change."""
    clients: list[httpx.Client] = []

    def make(pipeline: Pipeline, person: Person) -> httpx.Client:
        client = httpx.Client(base_url=f"http://127.0.0.1:{pipeline.console_port}", timeout=15)
        clients.append(client)
        answer = client.post("/api/v1/session", json={"username": person.name, "password": person.password})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client

    yield make
    for client in clients:
        client.close()


class Inbox:
    """Keeps every message the SMTP server receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        msg = email.message_from_bytes(raw, _class=EmailMessage, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


def _smtp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    """A local SMTP server (aiosmtpd) and its port; the inbox keeps what it receives."""
    inbox = Inbox()
    port = _smtp_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
