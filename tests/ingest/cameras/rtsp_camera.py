"""An RTSP camera for the camera ingest tests: GStreamer's RTSP server serving a live test pattern.

Most city CCTV speaks RTSP. This script serves one stream on 127.0.0.1, like such a camera: a live
``videotestsrc`` (a moving ball) encoded as JPEG and sent over RTP (RFC 2435, payload type 26),
which OpenCV's FFmpeg backend decodes. It needs Debian's GStreamer RTSP server and PyGObject
(``deploy/local/install-system.sh``), which the project's virtualenv does not have, so it runs under
Debian's system Python in a subprocess::

    /usr/bin/python3 tests/ingest/cameras/rtsp_camera.py --port 8554 --path /cam

:class:`RtspCamera` (``rtsp_camera_factory`` in conftest.py) starts it, and stops and restarts it on
the same port to simulate a camera that vanishes and returns. The GStreamer imports are inside
:func:`serve`, so importing this module in the virtualenv (pytest, mypy, ruff) needs no ``gi``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
PATH = "/cam"


def pipeline_launch(width_px: int, height_px: int, fps: int) -> str:
    """The GStreamer launch line of the stream: a live test pattern as motion JPEG over RTP.

    The frames are converted to I420 first: RTP/JPEG carries 4:2:0 or 4:2:2 JPEGs only (with the
    test pattern's own format, ``rtpjpegpay`` drops every frame as an "invalid component").
    """
    return (
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width_px},height={height_px},"
        f"framerate={fps}/1 ! videoconvert ! video/x-raw,format=I420 ! jpegenc quality=80 "
        "! rtpjpegpay name=pay0 pt=26 )"
    )


def serve(port: int, path: str, width_px: int, height_px: int, fps: int) -> None:  # pragma: no cover
    """Serve the stream at rtsp://127.0.0.1:port/path until SIGTERM or SIGINT (system Python only)."""
    import gi  # type: ignore[import-not-found]  # Debian's python3-gi, absent from the virtualenv

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline_launch(width_px, height_px, fps))
    factory.set_shared(True)  # one encoder for all clients, as a camera has
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        raise SystemExit(f"rtsp_camera: cannot listen on 127.0.0.1:{port}")
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"rtsp_camera: serving rtsp://127.0.0.1:{port}{path}", flush=True)
    loop.run()


class RtspCamera:
    """The RTSP camera script run as a subprocess of the system Python, on a fixed port.

    :meth:`stop` ends the process (the camera goes away: its connections drop, new ones are
    refused); :meth:`start` runs it again on the same port and returns once it accepts connections.
    :meth:`stall` freezes the process (SIGSTOP: the camera stops sending but its TCP connections stay
    open, as when it loses power or its link without closing them), :meth:`resume` thaws it.
    """

    def __init__(
        self, port: int, path: str = PATH, size: tuple[int, int] = (320, 240), fps: int = 5, log: Path | None = None
    ) -> None:
        self.port = port
        self.path = path
        self.size = size
        self.fps = fps
        self.log = log
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def start(self, timeout_s: float = 15.0) -> None:
        assert self._proc is None, "already running"
        command = [SYSTEM_PYTHON, str(Path(__file__).resolve()), "--port", str(self.port), "--path", self.path]
        command += ["--width", str(self.size[0]), "--height", str(self.size[1]), "--fps", str(self.fps)]
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            self._proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        finally:
            if self.log and not isinstance(out, int):
                out.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"rtsp_camera exited with {self._proc.returncode} (log: {self.log})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rtsp_camera not listening on {self.port} within {timeout_s} s")
            time.sleep(0.1)

    def stall(self) -> None:
        assert self._proc is not None, "not running"
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None, "not running"
        self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGCONT)  # a stalled server could not handle the SIGTERM
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def main() -> None:  # pragma: no cover
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default=PATH)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=5)
    args = parser.parse_args()
    serve(args.port, args.path, args.width, args.height, args.fps)


if __name__ == "__main__":
    main()
