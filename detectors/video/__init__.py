"""Camera detection on frames: lighting-robust motion blobs (:mod:`~detectors.video.motion`), a small
tracker that confirms only objects that really travel (:mod:`~detectors.video.tracking`), object
confirmation by a CNN on crops around them (:mod:`~detectors.video.objects`,
:mod:`~detectors.video.confirm`), camera faults (:mod:`~detectors.video.tamper`), left-behind objects
(:mod:`~detectors.video.static_objects`) and evidence. :mod:`~detectors.video.synthetic` renders
seeded scenes with ground truth to test them against.

Nothing is imported here, so that the light modules (box geometry, object classes) do not load OpenCV.
"""
