"""Files only their owner may read (secrets, keys, passwords), created that way from the start.

Writing a file and then ``chmod``-ing it leaves a moment in which anyone on the machine can read it
(the umask's default is 0644); two processes starting at once may also both create a secret and
end up with different ones. Here the file is written under a temporary name opened ``O_EXCL`` with
mode 0600, then moved (replace) or linked (only if absent) into place.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def _temporary(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (replacing it), readable by its owner only at every moment."""
    tmp = _temporary(path, data)
    try:
        tmp.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def private_once(path: Path, make: Callable[[], str]) -> str:
    """The text of ``path``, created from ``make()`` (mode 0600) when it does not exist yet. Processes
    racing to create it all get the text the first one wrote."""
    if not path.exists():
        tmp = _temporary(path, make().encode())
        try:
            os.link(tmp, path)  # fails if another process was first: its secret stands
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
