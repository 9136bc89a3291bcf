"""Fixtures of the camera ingest tests: network cameras serving MJPEG over HTTP (``mjpeg_camera``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.ingest.cameras.mjpeg_camera import MjpegCamera
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
