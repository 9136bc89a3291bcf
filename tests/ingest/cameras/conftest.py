"""Fixtures of the camera ingest tests: network cameras serving MJPEG over HTTP (``mjpeg_camera``)
and RTSP (``rtsp_camera``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ingest.cameras.mjpeg_camera import MjpegCamera
from tests.ingest.cameras.rtsp_camera import SYSTEM_PYTHON, RtspCamera
from tests.pipeline import free_port


@pytest.fixture
def mjpeg_camera_factory() -> Iterator[Callable[..., MjpegCamera]]:
    """Started :class:`MjpegCamera` instances on free ports; all stopped after the test."""
    made: list[MjpegCamera] = []

    def make(fps: float = 10.0, size: tuple[int, int] = (320, 180)) -> MjpegCamera:
        camera = MjpegCamera(free_port(), fps, size)
        made.append(camera)
        camera.start()
        return camera

    yield make
    for camera in made:
        camera.stop()


# Debian's GStreamer RTSP server, for the system Python (deploy/local/install-system.sh installs it).
RTSP_SERVER_TYPELIB = Path("/usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib")


@pytest.fixture
def rtsp_camera_factory(tmp_path: Path) -> Iterator[Callable[..., RtspCamera]]:
    """Started :class:`RtspCamera` servers on free ports (accepting connections when returned);
    all stopped after the test. Each one's output goes to ``rtsp-camera-<port>.log`` in ``tmp_path``."""
    if not (Path(SYSTEM_PYTHON).exists() and RTSP_SERVER_TYPELIB.exists()):
        pytest.fail("the GStreamer RTSP server is not installed (deploy/local/install-system.sh installs it)")
    made: list[RtspCamera] = []

    def make(fps: int = 25, size: tuple[int, int] = (320, 240)) -> RtspCamera:
        port = free_port()
        camera = RtspCamera(port, size=size, fps=fps, log=tmp_path / f"rtsp-camera-{port}.log")
        made.append(camera)
        camera.start()
        return camera

    yield make
    for camera in made:
        camera.stop()
