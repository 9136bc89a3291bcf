"""Motion-JPEG AVI files made of the JPEG frames as they arrived: no decoding, no re-encoding.

Evidence clips are camera frames that are already JPEGs, so a clip is written by wrapping them in
a RIFF/AVI 1.0 container (one ``MJPG`` video stream, an ``idx1`` index): a fraction of a
millisecond per frame, against several for decoding and re-encoding each one, and the frames stay
exactly what the camera sent. Players (VLC, ffmpeg, OpenCV) read these files; :func:`read_mjpeg_avi`
gives the frames back, e.g. to stream a clip to a browser as multipart MJPEG.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

from detectors.exceptions import DetectorError

_AVIF_HASINDEX = 0x10
_AVIIF_KEYFRAME = 0x10
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ClipFormatError(DetectorError):
    """A file or frame that is not what a Motion-JPEG AVI clip is made of."""


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame header, without decoding it."""
    if jpeg[:2] != b"\xff\xd8":
        raise ClipFormatError("not a JPEG (no start-of-image marker)")
    pos = 2
    while pos + 4 <= len(jpeg):
        if jpeg[pos] != 0xFF:
            raise ClipFormatError(f"corrupt JPEG: no marker at byte {pos}")
        marker = jpeg[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS:
            if pos + 9 > len(jpeg):
                break
            height, width = struct.unpack(">HH", jpeg[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    raise ClipFormatError("JPEG without a start-of-frame header")


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, data: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(data) + 4) + kind + data


def mjpeg_avi(jpegs: Sequence[bytes], fps: float) -> bytes:
    """The bytes of an AVI file playing ``jpegs`` at ``fps``; every frame must have the first one's size."""
    if not jpegs:
        raise ClipFormatError("a clip needs at least one frame")
    width, height = jpeg_size(jpegs[0])
    for index, jpeg in enumerate(jpegs[1:], start=1):
        if jpeg_size(jpeg) != (width, height):
            raise ClipFormatError(f"frame {index} is {jpeg_size(jpeg)}, not {(width, height)} like the first")
    rate_scale = 1000
    rate = max(1, round(fps * rate_scale))
    largest = max(len(j) for j in jpegs)
    avih = struct.pack(
        "<14I",
        round(1_000_000 / fps),  # microseconds per frame
        round(largest * fps),  # max bytes per second
        0,
        _AVIF_HASINDEX,
        len(jpegs),
        0,
        1,  # streams
        largest,
        width,
        height,
        0,
        0,
        0,
        0,
    )
    strh = (
        b"vids"
        + b"MJPG"
        + struct.pack("<IHHIIIIIIiI", 0, 0, 0, 0, rate_scale, rate, 0, len(jpegs), largest, -1, 0)
        + struct.pack("<4h", 0, 0, width, height)
    )
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0)
    hdrl = _list(b"hdrl", _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))
    movi_parts: list[bytes] = []
    entries: list[bytes] = []
    offset = 4  # idx1 offsets count from the 'movi' fourcc
    for jpeg in jpegs:
        chunk = _chunk(b"00dc", jpeg)
        entries.append(struct.pack("<4sIII", b"00dc", _AVIIF_KEYFRAME, offset, len(jpeg)))
        movi_parts.append(chunk)
        offset += len(chunk)
    movi = _list(b"movi", b"".join(movi_parts))
    idx1 = _chunk(b"idx1", b"".join(entries))
    body = b"AVI " + hdrl + movi + idx1
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_mjpeg_avi(path: Path, jpegs: Sequence[bytes], fps: float) -> None:
    """Write the clip atomically: readers never see half a file."""
    data = mjpeg_avi(jpegs, fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.rename(path)


def read_mjpeg_avi(data: bytes) -> tuple[float, list[bytes]]:
    """(fps, JPEG frames) of a clip written by :func:`mjpeg_avi` (or any single-stream MJPEG AVI)."""
    if data[:4] != b"RIFF" or data[8:12] != b"AVI ":
        raise ClipFormatError("not an AVI file")
    (riff_size,) = struct.unpack("<I", data[4:8])
    if 8 + riff_size > len(data):
        raise ClipFormatError(f"truncated AVI: {len(data)} bytes of {8 + riff_size}")
    fps = 0.0
    frames: list[bytes] = []

    def walk(start: int, end: int) -> None:
        nonlocal fps
        pos = start
        while pos + 8 <= end:
            fourcc = data[pos : pos + 4]
            (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
            if pos + 8 + size > end:
                raise ClipFormatError(f"chunk {fourcc!r} at byte {pos} runs past the end of the file")
            if fourcc == b"LIST":
                walk(pos + 12, pos + 8 + size)
            elif fourcc == b"strh" and data[pos + 8 : pos + 12] == b"vids":
                scale, rate = struct.unpack("<II", data[pos + 28 : pos + 36])
                fps = rate / scale if scale else 0.0
            elif fourcc[2:] in (b"dc", b"db"):
                frames.append(data[pos + 8 : pos + 8 + size])
            pos += 8 + size + (size % 2)

    walk(12, len(data))
    return fps, frames
