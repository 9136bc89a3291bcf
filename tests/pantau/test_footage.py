"""The footage fetcher's checks, on small stand-in files pinned for the test: a cached copy that is
not the pinned file is fetched again, a fetched file that is not the pinned one is refused, a
failed ``apt-get download`` says what to do, and a good cache is used without fetching."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import pantau.footage as footage
from pantau.exceptions import FootageError, PantauError

pytestmark = pytest.mark.unit

GOOD = {"vtest.avi": b"plaza-video-bytes", "tree.avi": b"tree-video-bytes"}


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins of the stand-in files instead of the real videos."""
    monkeypatch.setattr(
        footage,
        "FOOTAGE",
        tuple(footage.FootageFile(n, hashlib.sha256(b).hexdigest(), len(b)) for n, b in GOOD.items()),
    )


def fake_package(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> list[Path]:
    """Replace the download by a package holding ``files``; returns the list of fetches made."""
    fetches: list[Path] = []

    def fetch(workdir: Path) -> Path:
        fetches.append(workdir)
        data = workdir / "x" / footage.DATA_DIR_IN_PACKAGE
        data.mkdir(parents=True)
        for name, content in files.items():
            (data / name).write_bytes(content)
        return data

    monkeypatch.setattr(footage, "fetch_package_data", fetch)
    return fetches


def fill(cache: Path, files: dict[str, bytes]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (cache / name).write_bytes(content)


@pytest.mark.usefixtures("pinned")
def test_a_good_cache_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(tmp_path, GOOD)
    fetches = fake_package(monkeypatch, GOOD)
    assert footage.ensure_opencv_footage(tmp_path) == tmp_path
    assert fetches == []


@pytest.mark.usefixtures("pinned")
def test_a_corrupted_cached_copy_is_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Same size, one byte flipped: only the sha256 can tell.
    corrupted = dict(GOOD, **{"vtest.avi": b"plaza-video-bytez"})
    fill(tmp_path, corrupted)
    fetches = fake_package(monkeypatch, GOOD)
    footage.ensure_opencv_footage(tmp_path)
    assert len(fetches) == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == GOOD  # no partial file left behind


@pytest.mark.usefixtures("pinned")
def test_a_truncated_or_missing_copy_is_fetched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(tmp_path, {"vtest.avi": b"plaza"})
    fetches = fake_package(monkeypatch, GOOD)
    footage.ensure_opencv_footage(tmp_path)
    assert len(fetches) == 1 and (tmp_path / "tree.avi").read_bytes() == GOOD["tree.avi"]


@pytest.mark.usefixtures("pinned")
def test_a_package_with_other_videos_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(tmp_path, dict(GOOD, **{"tree.avi": b"tree-video-byteZ"}))
    fake_package(monkeypatch, dict(GOOD, **{"tree.avi": b"a newer tree video"}))
    with pytest.raises(FootageError) as caught:
        footage.ensure_opencv_footage(tmp_path)
    message = str(caught.value)
    assert "tree.avi is not the pinned file" in message and "re-pin FOOTAGE" in message
    assert isinstance(caught.value, PantauError)
    # The refused copy is not installed over the cache.
    assert (tmp_path / "tree.avi").read_bytes() == b"tree-video-byteZ"


@pytest.mark.usefixtures("pinned")
def test_a_failed_download_names_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in apt-get that fails as the real one does without network or package lists.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    apt_get = bin_dir / "apt-get"
    apt_get.write_text("#!/bin/sh\necho 'E: Unable to locate package opencv-doc' >&2\nexit 100\n")
    apt_get.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "cache"
    with pytest.raises(FootageError) as caught:
        footage.ensure_opencv_footage(cache)
    message = str(caught.value)
    assert "`apt-get download opencv-doc` failed (exit 100): E: Unable to locate package opencv-doc" in message
    assert "apt-get update" in message and str(cache) in message


def test_the_default_cache_is_beside_the_code() -> None:
    assert footage.default_cache_dir() == Path(__file__).resolve().parents[2] / ".pantau" / "footage"


def test_the_pins_are_the_two_videos() -> None:
    assert [f.name for f in footage.FOOTAGE] == ["vtest.avi", "tree.avi"]
    assert all(len(f.sha256) == 64 for f in footage.FOOTAGE)
