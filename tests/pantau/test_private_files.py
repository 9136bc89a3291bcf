"""Secrets and keys are private from their first byte (``pantau/private_files.py``)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from pantau.private_files import private_once, write_private
from pantau.supervisor import local_token_secret

pytestmark = pytest.mark.unit


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_private_file_is_0600_even_under_an_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private(tmp_path / "key.pem", b"secret")
        write_private(tmp_path / "key.pem", b"new secret")  # replaced, still private
        value = private_once(tmp_path / "deep" / "token.secret", lambda: "s3cret")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "key.pem") == 0o600 and (tmp_path / "key.pem").read_bytes() == b"new secret"
    assert value == "s3cret" and _mode(tmp_path / "deep" / "token.secret") == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "key.pem", "token.secret"]  # no temporaries


def test_processes_racing_to_create_a_secret_all_get_the_first_one(tmp_path: Path) -> None:
    path = tmp_path / "token.secret"
    got: list[str] = []
    start = threading.Barrier(8)

    def create(n: int) -> None:
        start.wait()
        got.append(private_once(path, lambda: f"secret-{n}"))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(got)) == 1 and got[0] == path.read_text()
    assert private_once(path, lambda: "another") == got[0]  # kept once made


def test_the_local_token_secret_is_made_private_and_kept(tmp_path: Path) -> None:
    first = local_token_secret(tmp_path)
    assert len(first) >= 32 and local_token_secret(tmp_path) == first
    assert all(_mode(p) == 0o600 for p in tmp_path.iterdir())
