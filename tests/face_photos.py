"""Real photos of people for the face-blurring tests, from the same Debian package as the test footage.

``opencv-doc`` ships OpenCV's sample pictures beside its videos (:mod:`pantau.footage`); two show
faces: ``messi5.jpg`` (a footballer, colour, 548x342, one face about 42 px tall) and
``basketball1.png`` (two people indoors, grayscale camera, 640x480, faces 41 and 63 px tall, one
frontal and one in profile). :func:`ensure_face_photos` caches them with the footage
(``.pantau/footage``), fetched once with ``apt-get download`` and ``dpkg -x``, each checked against
its pinned sha256.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pantau.exceptions import FootageError
from pantau.footage import PACKAGE, FootageFile, default_cache_dir, fetch_package_data, file_problem

# Pinned from opencv-doc 4.6.0+dfsg-12 (Debian 12).
PHOTOS: tuple[FootageFile, ...] = (
    FootageFile("messi5.jpg", "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9", 72_937),
    FootageFile("basketball1.png", "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6", 132_826),
)
# Hand-drawn boxes (x1, y1, x2, y2) around each face, in the photo's pixels.
FACES: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    "messi5.jpg": ((222, 88, 262, 138),),
    "basketball1.png": ((66, 86, 108, 138), (505, 55, 556, 130)),
}


def ensure_face_photos(cache_dir: Path | None = None) -> Path:
    """The folder holding the pinned photos, fetched from ``opencv-doc`` the first time."""
    cache = default_cache_dir() if cache_dir is None else cache_dir
    stale = [spec for spec in PHOTOS if file_problem(cache / spec.name, spec) is not None]
    if not stale:
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pantau-photos-") as tmp:
        data = fetch_package_data(Path(tmp))
        for spec in stale:
            problem = file_problem(data / spec.name, spec)
            if problem is not None:
                raise FootageError(f"{PACKAGE}'s {spec.name} is not the pinned file ({problem}): re-pin PHOTOS")
            partial = cache / f".{spec.name}.partial"
            shutil.copyfile(data / spec.name, partial)
            partial.replace(cache / spec.name)
    return cache
