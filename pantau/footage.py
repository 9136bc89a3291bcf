"""Real CCTV footage for the camera detectors' tests, fetched from Debian's ``opencv-doc`` package.

The package ships OpenCV's sample videos under ``usr/share/doc/opencv-doc/examples/data/``:
``vtest.avi`` (a real plaza camera seen from above, 768x576, 10 fps, 795 frames) and ``tree.avi``
(a real tree swaying in wind, 320x240, 15 fps). :func:`ensure_opencv_footage` puts both in a cache
folder (``.pantau/footage`` beside the code in a source checkout) the first time, with
``apt-get download opencv-doc`` and ``dpkg -x``, and checks every file against its pinned sha256
each time. Debian's archive keeps only the current version of a package, so the files are pinned,
not the ``.deb``: a newer package with the same videos still works, a changed video is refused.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pantau.exceptions import FootageError

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "opencv-doc"
DATA_DIR_IN_PACKAGE = Path("usr/share/doc/opencv-doc/examples/data")
FETCH_HINT = (
    "run `apt-get update && apt-get download opencv-doc` somewhere, `dpkg -x opencv-doc_*.deb x`, and copy "
    "x/usr/share/doc/opencv-doc/examples/data/{vtest.avi,tree.avi} into"
)


@dataclass(frozen=True)
class FootageFile:
    """One video of the package, as pinned."""

    name: str
    sha256: str
    size_bytes: int


# Pinned from opencv-doc 4.6.0+dfsg-12 (Debian 12); the files date from OpenCV's samples of 2022.
FOOTAGE: tuple[FootageFile, ...] = (
    FootageFile("vtest.avi", "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf", 8_131_690),
    FootageFile("tree.avi", "4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc", 1_250_680),
)


def default_cache_dir() -> Path:
    """``.pantau/footage`` beside the code in a source checkout, else in the working directory."""
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / ".pantau" / "footage"
    return Path.cwd() / ".pantau" / "footage"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_problem(path: Path, spec: FootageFile) -> str | None:
    """Why ``path`` is not the pinned ``spec`` (missing, other size, other sha256), or None."""
    if not path.is_file():
        return f"{path} is missing"
    size = path.stat().st_size
    if size != spec.size_bytes:  # cheap first: a truncated download needs no hashing
        return f"{path} has {size:,} bytes, not the pinned {spec.size_bytes:,}"
    digest = sha256_of(path)
    if digest != spec.sha256:
        return f"{path} has sha256 {digest}, not the pinned {spec.sha256}"
    return None


def _run(command: list[str], cwd: Path) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FootageError(f"`{' '.join(command)}` could not run: {exc}") from exc
    if result.returncode != 0:
        # apt-get as root also prints a harmless warning about the _apt sandbox: keep only the tail.
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise FootageError(f"`{' '.join(command)}` failed (exit {result.returncode}): {tail}")


def fetch_package_data(workdir: Path) -> Path:
    """Download ``opencv-doc`` into ``workdir``, unpack it there and return its examples' data folder."""
    _run(["apt-get", "download", PACKAGE], workdir)
    debs = sorted(workdir.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        raise FootageError(f"`apt-get download {PACKAGE}` left no {PACKAGE}_*.deb in {workdir}")
    unpacked = workdir / "x"
    _run(["dpkg", "-x", str(debs[-1]), str(unpacked)], workdir)
    return unpacked / DATA_DIR_IN_PACKAGE


def ensure_opencv_footage(cache_dir: Path | None = None) -> Path:
    """The folder holding the pinned ``vtest.avi`` and ``tree.avi``, fetched from ``opencv-doc`` if needed.

    A cached copy that is missing or differs from its pin (truncated, corrupted) is fetched again; a
    fetched file that still differs is refused with :class:`~pantau.exceptions.FootageError`, as is
    a failed download, each naming what to do by hand.
    """
    cache = default_cache_dir() if cache_dir is None else cache_dir
    stale = [spec for spec in FOOTAGE if file_problem(cache / spec.name, spec) is not None]
    if not stale:
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pantau-footage-") as tmp:
        try:
            data = fetch_package_data(Path(tmp))
        except FootageError as exc:
            raise FootageError(f"cannot fetch the test footage: {exc}; {FETCH_HINT} {cache}") from exc
        for spec in stale:
            source = data / spec.name
            problem = file_problem(source, spec)
            if problem is not None:
                raise FootageError(
                    f"{PACKAGE}'s {spec.name} is not the pinned file ({problem}); the package changed its "
                    f"sample videos: re-pin FOOTAGE in pantau/footage.py after looking at the new files, or "
                    f"{FETCH_HINT} {cache} from opencv-doc 4.6.0+dfsg-12"
                )
            # Copy beside the target, then rename: a reader never sees a half-written video.
            partial = cache / f".{spec.name}.partial"
            shutil.copyfile(source, partial)
            partial.replace(cache / spec.name)
    return cache
