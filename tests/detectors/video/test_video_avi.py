"""Motion-JPEG AVI clips written from the frames' own JPEG bytes: players read them, frames round-trip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.video.avi import ClipFormatError, jpeg_size, mjpeg_avi, read_mjpeg_avi, write_mjpeg_avi

pytestmark = pytest.mark.unit


def jpeg(level: int, size: tuple[int, int] = (160, 90), colour: bool = False) -> bytes:
    image = np.full((size[1], size[0], 3) if colour else (size[1], size[0]), level, np.uint8)
    cv2.putText(image, str(level), (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 255 - level, 2)
    _ok, buf = cv2.imencode(".jpg", image)
    return buf.tobytes()


def test_jpeg_size_reads_the_header_without_decoding() -> None:
    assert jpeg_size(jpeg(10, (320, 180))) == (320, 180)
    assert jpeg_size(jpeg(10, (33, 17), colour=True)) == (33, 17)
    with pytest.raises(ClipFormatError, match="not a JPEG"):
        jpeg_size(b"GIF89a")
    with pytest.raises(ClipFormatError):
        jpeg_size(b"\xff\xd8\xff\xe0\x00\x10JFIF")  # cut off before its frame header


def test_opencv_plays_the_clip_frame_for_frame(tmp_path: Path) -> None:
    frames = [jpeg(i * 20) for i in range(7)]  # an odd-sized frame exercises chunk padding too
    path = tmp_path / "cam" / "clip.avi"
    write_mjpeg_avi(path, frames, fps=5)
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)
    for original in frames:
        ok, image = capture.read()
        assert ok
        expected = cv2.imdecode(np.frombuffer(original, np.uint8), cv2.IMREAD_COLOR)
        assert expected is not None
        # OpenCV's AVI reader has its own JPEG decoder: the same picture to within rounding.
        assert float(cv2.absdiff(image, expected).mean()) < 1.0
    assert not capture.read()[0]
    capture.release()
    assert not list(tmp_path.rglob("*.part"))


def test_frames_round_trip_byte_for_byte() -> None:
    frames = [jpeg(i * 30, colour=True) for i in range(4)]
    fps, back = read_mjpeg_avi(mjpeg_avi(frames, fps=12.5))
    assert fps == 12.5 and back == frames


def test_a_clip_needs_frames_of_one_size() -> None:
    with pytest.raises(ClipFormatError, match="frame 1 is"):
        mjpeg_avi([jpeg(1), jpeg(2, (320, 180))], fps=5)
    with pytest.raises(ClipFormatError, match="at least one frame"):
        mjpeg_avi([], fps=5)
    with pytest.raises(ClipFormatError, match="not an AVI"):
        read_mjpeg_avi(b"RIFF\0\0\0\0WAVE")
    whole = mjpeg_avi([jpeg(1)], fps=5)
    with pytest.raises(ClipFormatError, match="truncated AVI"):
        read_mjpeg_avi(whole[:-20])
    broken = whole[:4] + (len(whole) + 100 - 8).to_bytes(4, "little") + whole[8:] + bytes(100)
    broken = broken.replace(b"idx1\x10", b"idx1\xff")
    with pytest.raises(ClipFormatError, match="runs past the end"):
        read_mjpeg_avi(broken)
