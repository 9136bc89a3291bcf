"""Prometheus metrics of every service, and the small operations server that serves them.

Each service started with ``PANTAU_METRICS_PORT`` serves, on that port (``PANTAU_METRICS_HOST``,
loopback by default), ``/metrics`` in the Prometheus text format, ``/healthz`` (the process's main
loop turned within its deadline: a stuck worker answers 503, so a liveness probe restarts it) and
``/readyz`` (partitions assigned, or the server listening). The public ports of the HTTP services
are not used for this, so a scrape needs no token and the console exposes nothing to browsers.

Metric names carry their unit; labels are bounded sets (stage, topic, partition, camera, type,
priority, channel, outcome), never ids of single alerts or readings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from pantau.settings import CommonSettings

log = logging.getLogger(__name__)

# -- every consumer loop ------------------------------------------------------------------------------
RECORDS = Counter("pantau_records_consumed_total", "Records a worker consumed", ["worker", "topic"])
CONSUMER_LAG = Gauge(
    "pantau_consumer_lag_records", "Records between a group's position and the log end", ["group", "topic", "partition"]
)
BATCH_SECONDS = Histogram(
    "pantau_batch_seconds",
    "Time a worker took to handle one polled batch",
    ["worker"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TRANSIENT_FAILURES = Counter(
    "pantau_transient_failures_total", "Batches a worker retried after a database or Kafka failure", ["worker"]
)
DEAD_LETTERS = Counter("pantau_dead_letters_total", "Records sent to the dead-letter topic", ["stage"])

# -- stages ---------------------------------------------------------------------------------------------
READINGS_ACCEPTED = Counter("pantau_readings_accepted_total", "Readings the ingest API accepted", ["via"])
FRAMES = Counter("pantau_frames_analysed_total", "Frames the camera detectors analysed", ["camera"])
DETECTOR_SECONDS = Histogram(
    "pantau_detector_seconds",
    "Time to analyse one frame (decode, motion, tracks, rules)",
    ["camera"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1),
)
INCIDENTS = Counter("pantau_incidents_total", "Incidents a stage emitted", ["stage", "type", "phase"])
ALERT_CHANGES = Counter(
    "pantau_alert_changes_total", "Alert versions alerting published, by their last change", ["change", "priority"]
)
PUSH_DELIVERIES = Counter(
    "pantau_push_deliveries_total", "Push delivery attempts by channel and outcome", ["channel", "outcome"]
)
WEBSOCKET_CLIENTS = Gauge("pantau_websocket_clients", "Live-feed websocket clients connected")


class OpsServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on their own port, in a daemon thread."""

    def __init__(self, host: str, port: int, alive: Callable[[], bool], ready: Callable[[], bool]) -> None:
        probes = {"/healthz": alive, "/readyz": ready}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, generate_latest(), CONTENT_TYPE_LATEST)
                elif path in probes:
                    ok = probes[path]()
                    self._answer(200 if ok else 503, b'{"status":"ok"}' if ok else b'{"status":"unavailable"}')
                else:
                    self._answer(404, b'{"detail":"not found"}')

            def _answer(self, code: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None  # a scrape every few seconds is not news

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="ops-server", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_ops_server(
    settings: CommonSettings, alive: Callable[[], bool], ready: Callable[[], bool]
) -> OpsServer | None:
    """The operations server when ``PANTAU_METRICS_PORT`` is set; None otherwise."""
    if settings.metrics_port is None:
        return None
    server = OpsServer(settings.metrics_host, settings.metrics_port, alive, ready)
    log.info("metrics and probes on http://%s:%d/metrics", settings.metrics_host, server.port)
    return server


class Heartbeat:
    """When a loop last turned; ``alive`` is false once it has not for ``deadline_s``."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self.at = time.monotonic()

    def beat(self) -> None:
        self.at = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self.at < self.deadline_s
