"""A network camera serving MJPEG over HTTP, in-process, for the camera ingest tests.

Many IP cameras serve ``multipart/x-mixed-replace`` JPEG streams over HTTP, which OpenCV's FFmpeg
backend reads like any other URL. :class:`MjpegCamera` serves one on 127.0.0.1 and can fail the two
ways a real camera does: :meth:`~MjpegCamera.stop` (it goes away: the listening socket closes and
open connections are dropped, so clients see the connection end and new ones refused) and
:meth:`~MjpegCamera.stall` (it stops sending but keeps the connections open, as when a camera loses
power or its link without the TCP connection being closed). :meth:`~MjpegCamera.start` brings it
back on the same port, :meth:`~MjpegCamera.resume` ends a stall.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "pantauframe"
PATH = "/video.mjpg"


class _Server(ThreadingHTTPServer):
    """The HTTP server of one :class:`MjpegCamera` run; handlers find their camera through it."""

    daemon_threads = True
    allow_reuse_address = True  # start again on the same port at once, despite TIME_WAIT sockets

    def __init__(self, camera: MjpegCamera) -> None:
        self.camera = camera
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", camera.port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    """``GET /video.mjpg``: JPEG frames at the camera's fps until the client or the camera goes."""

    server: _Server
    protocol_version = "HTTP/1.0"  # the stream ends when the connection does

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: pytest shows stderr of failing tests, and a request line per client is noise."""

    def do_GET(self) -> None:
        if self.path != PATH:
            self.send_error(404)
            return
        server = self.server
        with server.lock:
            server.connections.add(self.connection)
        try:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self._stream(server)
        except OSError:
            pass  # the client went away, or stop() dropped the connection
        finally:
            with server.lock:
                server.connections.discard(self.connection)

    def _stream(self, server: _Server) -> None:
        camera = server.camera
        interval_s = 1.0 / camera.fps
        next_s = time.monotonic()
        while not server.stopping.is_set():
            if camera.stalled.is_set():
                server.stopping.wait(0.05)
                continue
            jpeg = camera.frame()
            part = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
            self.wfile.write(part + jpeg + b"\r\n")
            self.wfile.flush()
            next_s += interval_s
            server.stopping.wait(max(0.0, next_s - time.monotonic()))


class MjpegCamera:
    """A network camera serving MJPEG at ``http://127.0.0.1:<port>/video.mjpg``: a bar moving across
    a grey background, ``fps`` frames per second."""

    def __init__(self, port: int, fps: float = 10.0, size: tuple[int, int] = (320, 180)) -> None:
        self.port = port
        self.fps = fps
        self.size = size
        self.stalled = threading.Event()
        self.frames_served = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._count_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def frame(self) -> bytes:
        """The next JPEG: a bar that moves a little each frame, so frames differ as a scene's do."""
        with self._count_lock:
            index = self.frames_served
            self.frames_served += 1
        width, height = self.size
        image = np.full((height, width, 3), 60, np.uint8)
        x = (index * 4) % width
        cv2.rectangle(image, (x, height // 3), (x + width // 12, 2 * height // 3), (230, 230, 230), -1)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        assert ok
        return buf.tobytes()

    def start(self) -> None:
        """Serve (again) on the same port."""
        assert self._server is None, "already running"
        self.stalled.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"mjpeg-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Go away: stop accepting, close the listening socket and drop every open connection."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.stopping.set()
        server.shutdown()
        server.server_close()
        with server.lock:
            connections = list(server.connections)
        for conn in connections:
            # shutdown() rather than close(): it ends the connection for the client at once, even
            # while the handler thread is in the middle of writing to it.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        thread.join(timeout=5)

    def stall(self) -> None:
        """Stop sending frames but keep the connections open (a camera gone silent, not gone)."""
        self.stalled.set()

    def resume(self) -> None:
        """Send frames again on the connections that are open (and on new ones)."""
        self.stalled.clear()
