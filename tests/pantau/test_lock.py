"""The lock file `make` installs from pins, with hashes, every dependency pyproject.toml names."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;,]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned_with_hashes_in_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    lock = (ROOT / "requirements.lock").read_text()
    pinned: dict[str, int] = {}
    for block in re.split(r"\n(?=[a-z0-9])", lock):
        match = re.match(r"([a-z0-9][a-z0-9._-]*)==\S+", block)
        if match:
            name = match.group(1).replace("_", "-")
            pinned[name] = max(pinned.get(name, 0), block.count("--hash=sha256:"))
    missing = sorted(wanted - pinned.keys())
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
    assert all(count > 0 for count in pinned.values()), [n for n, c in pinned.items() if c == 0]
    setuptools = re.search(r"^setuptools==(\d+)", lock, re.M)
    assert setuptools is not None and int(setuptools[1]) >= 78  # older ones carry published advisories
