"""``pantau users``: the people who run the system add, list, disable and enable accounts, set
passwords and print a person's API token, against the real database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from psycopg import sql

from pantau import users
from pantau.auth import Role, verify_token
from pantau.exceptions import AuthError
from pantau.stack import Stack

pytestmark = pytest.mark.integration
SECRET = "users-cli-test-secret-" + "x" * 32


def pantau(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pantau.cli", "users", *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_add_list_passwd_token_disable_enable(stack: Stack) -> None:
    schema = f"t_users_{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, **stack.env(), PANTAU_DB_SCHEMA=schema, PANTAU_TOKEN_SECRET=SECRET)
    try:
        added = pantau("add", "Ani", "--role", "operator", "--display-name", "Ani Rahayu", "--password-stdin",
                       env=env, stdin="kopi-tubruk-42\n")  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert added.stdout.strip() == "added ani (operator)"
        again = pantau("add", "ani", "--role", "admin", "--password-stdin", env=env, stdin="another-pass-1\n")
        assert again.returncode == 1 and "exists already" in again.stderr
        short = pantau("add", "budi", "--role", "operator", "--password-stdin", env=env, stdin="short\n")
        assert short.returncode == 1 and "at least 10 characters" in short.stderr
        machine = pantau("add", "gw", "--role", "ingest", "--password-stdin", env=env, stdin="long-enough-1\n")
        assert machine.returncode == 2  # argparse: ingest is not a person's role

        listing = pantau("list", env=env).stdout.splitlines()
        assert listing[0].split()[:3] == ["name", "role", "state"]
        assert listing[1].split()[:3] == ["ani", "operator", "active"] and listing[1].endswith("Ani Rahayu")

        with psycopg.connect(stack.env()["PANTAU_DATABASE_URL"], autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            stored = conn.execute("SELECT password_hash FROM users WHERE name = 'ani'").fetchone()
            assert stored is not None and stored[0].startswith("$argon2id$")  # memory-hard, never the password
            assert users.check_password(conn, "ani", "kopi-tubruk-42").role is Role.operator

            token = pantau("token", "ani", env=env)
            assert token.returncode == 0
            principal = verify_token(SECRET, token.stdout.strip())
            assert (principal.user, principal.role, principal.kind) == ("ani", Role.operator, "user")

            assert pantau("passwd", "ani", "--password-stdin", env=env, stdin="teh-manis-2026\n").returncode == 0
            assert users.check_password(conn, "ani", "teh-manis-2026").name == "ani"
            with pytest.raises(AuthError, match="wrong user name or password"):
                users.check_password(conn, "ani", "kopi-tubruk-42")

            disabled = pantau("disable", "ani", env=env)
            assert disabled.returncode == 0 and "disabled" in disabled.stdout
            assert pantau("list", env=env).stdout.splitlines()[1].split()[2] == "disabled"
            assert pantau("token", "ani", env=env).returncode == 1  # no tokens for a disabled account
            with pytest.raises(AuthError, match="disabled"):
                users.check_password(conn, "ani", "teh-manis-2026")
            assert pantau("enable", "ani", env=env).returncode == 0
            assert users.check_password(conn, "ani", "teh-manis-2026").active
            assert pantau("disable", "nobody", env=env).returncode == 1
    finally:
        with psycopg.connect(stack.env()["PANTAU_DATABASE_URL"], autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
