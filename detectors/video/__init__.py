"""Classical (OpenCV) camera detection: lighting-robust motion blobs and a small multi-object tracker.

:mod:`detectors.video.motion` turns grayscale frames into foreground blobs, :mod:`detectors.video.tracking`
links blobs into tracks and only confirms the ones that really travel, and :mod:`detectors.video.synthetic`
renders seeded scenes with ground truth and nuisances (lighting, IR switch, noise, rain, shake, foliage)
to test both against.
"""

from __future__ import annotations

from detectors.video.motion import Blob, MotionConfig, MotionDetector, MotionResult, polygon_mask
from detectors.video.tracking import Track, Tracker, TrackerConfig

__all__ = [
    "Blob",
    "MotionConfig",
    "MotionDetector",
    "MotionResult",
    "Track",
    "Tracker",
    "TrackerConfig",
    "polygon_mask",
]
