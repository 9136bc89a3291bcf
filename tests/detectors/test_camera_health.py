"""The camera-health watch: silence raises video_loss by timer, progress clears it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from detectors.camera_health import CameraHealthWatch
from detectors.schemas import Phase
from detectors.zones.config import DetectorCameraConfig
from ingest.cameras.schemas import CameraStatus, FeedState

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


@pytest.fixture
def status_factory() -> Callable[..., CameraStatus]:
    def make(
        at_s: float,
        state: FeedState = FeedState.connected,
        frames: int = 0,
        error: str | None = None,
        camera_id: str = "plaza",
    ) -> CameraStatus:
        return CameraStatus(
            camera_id=camera_id, state=state, at=T0 + timedelta(seconds=at_s), frames_sent=frames, error=error
        )

    return make


def watch() -> CameraHealthWatch:
    cameras = [
        DetectorCameraConfig(id="plaza", source="rtsp://x", location=None),
        DetectorCameraConfig(id="gate", source="rtsp://y"),
    ]
    return CameraHealthWatch(cameras, after_s=10, started_at=T0)


def test_feed_that_never_delivers_is_reported_once(status_factory: Callable[..., CameraStatus]) -> None:
    w = watch()
    assert w.observe(status_factory(1, FeedState.reconnecting, error="cannot open")) == []
    assert w.tick(T0 + timedelta(seconds=9)) == []
    raised = w.tick(T0 + timedelta(seconds=11))
    assert sorted(i.source for i in raised) == ["gate", "plaza"]
    plaza = next(i for i in raised if i.source == "plaza")
    assert plaza.type == "video_loss" and plaza.phase is Phase.raised and "cannot open" in plaza.title
    assert w.tick(T0 + timedelta(seconds=30)) == []  # one incident per episode


def test_progress_keeps_it_quiet_and_a_return_clears(status_factory: Callable[..., CameraStatus]) -> None:
    w = watch()
    for second in range(0, 30, 5):
        w.observe(status_factory(second, frames=second * 5))
        assert [i for i in w.tick(T0 + timedelta(seconds=second + 1)) if i.source == "plaza"] == []
    # Reports keep coming but frames stop: still a loss.
    for second in range(30, 45, 5):
        w.observe(status_factory(second, frames=125))
    raised = [i for i in w.tick(T0 + timedelta(seconds=41)) if i.source == "plaza"]
    assert len(raised) == 1
    cleared = w.observe(status_factory(50, frames=130))
    assert [(i.type, i.phase) for i in cleared] == [("video_loss", Phase.cleared)]
    assert cleared[0].id != raised[0].id


def test_reconfigure_watches_new_cameras_from_now_and_keeps_the_others(
    status_factory: Callable[..., CameraStatus],
) -> None:
    w = watch()
    w.observe(status_factory(1, frames=5))
    assert sorted(i.source for i in w.tick(T0 + timedelta(seconds=12))) == ["gate", "plaza"]  # both lost
    cameras = [
        DetectorCameraConfig(id="plaza", source="rtsp://x"),
        DetectorCameraConfig(id="bridge", source="rtsp://z"),
    ]
    w.reconfigure(cameras, after_s=20, now=T0 + timedelta(seconds=12))
    assert set(w.feeds) == {"plaza", "bridge"}  # gate is no longer watched
    # plaza's open loss is kept (no second raise); bridge is watched from the reload, with the new after_s.
    assert w.tick(T0 + timedelta(seconds=31)) == []
    assert [i.source for i in w.tick(T0 + timedelta(seconds=33))] == ["bridge"]
    assert [i.phase for i in w.observe(status_factory(34, frames=9))] == [Phase.cleared]
