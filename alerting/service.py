"""The alerting service: incidents in, alerts out; the single writer of alert state (a second
process waits as a standby until the writer's PostgreSQL advisory lock is free, see
:mod:`alerting.writer_lock`).

Consumes ``pantau.incidents.v1`` (consumer group ``pantau.alerting``) and serves the operator and
responder commands over HTTP (``PANTAU_ALERTING_PORT``, default 8002; see :mod:`alerting.api`).
Both go through one :class:`~alerting.engine.AlertEngine`. For each batch of incidents, in one
database transaction: skip incidents already applied (table ``alert_incidents``), apply the rest
to the book, upsert ``alerts``, append the audit (``alert_history``) and note each changed alert
in ``alert_outbox``. After the commit the new states go to ``pantau.alerts.v1``; an outbox row is
deleted only once Kafka acknowledged it, and left-over rows are published again at start-up. So a
crash at any point neither loses nor doubles an alert change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from pydantic import ValidationError

from alerting.book import AlertBook
from alerting.channels.registry import build_channel
from alerting.config import AlertingFile
from alerting.dispatch import Dispatcher
from alerting.engine import AlertEngine
from alerting.notify import Notifier
from alerting.reconcile import reconcile
from alerting.schemas import ALERTS_TOPIC, TOPIC_ALERTS
from alerting.settings import Settings
from alerting.writer_lock import WriterLock
from detectors.schemas import INCIDENTS_TOPIC, TOPIC_INCIDENTS, Incident
from pantau.config import format_validation_error, load_config_file, parse_section
from pantau.db import connect
from pantau.exceptions import PantauError
from pantau.kafka import DeadLetterSink, ensure_topics, flush, make_consumer, make_producer
from pantau.logs import configure_logging
from pantau.timeutil import utcnow
from pantau.topics import DLQ_TOPIC
from pantau.worker import ConsumerLoop, HandlerDefaults, install_signal_handlers

log = logging.getLogger(__name__)
STAGE = "alerting"


class AlertingWorker(HandlerDefaults):
    """Batch handler: parses incidents (dead-lettering bad ones) and hands them to the engine."""

    def __init__(self, engine: AlertEngine, dead_letters: DeadLetterSink, settings: Settings | None = None) -> None:
        self.engine = engine
        self.dead_letters = dead_letters
        self.settings = settings
        self._next_tick_s = 0.0

    def reload(self) -> None:
        """``pantau reload``: the alerting section (priorities, correlations, routing, escalation,
        SOPs, channels) and the sensors' criticality, applied between two batches. Open alerts,
        silences and pending deliveries stay. An invalid file changes nothing."""
        if self.settings is None:
            return
        source = str(self.settings.config or "<none>")
        config = parse_section(AlertingFile, load_config_file(self.settings.config), source)
        tz = ZoneInfo(config.timezone)
        channels = {channel.name: build_channel(channel) for channel in config.alerting.channels}
        self.engine.reconfigure(
            config.alerting,
            tz,
            config.sensor_criticality(),
            _notifier(self.settings, config, tz),
            channels,
        )

    def handle(self, records: Sequence[Any]) -> None:
        incidents: list[Incident] = []
        for rec in records:
            try:
                incidents.append(Incident.model_validate_json(rec.value))
            except ValidationError as exc:
                self.dead_letters.reject_record(rec, f"invalid incident: {format_validation_error(exc)}")
        if incidents:
            self.engine.apply_incidents(incidents)

    def make_durable(self) -> None:
        flush(self.dead_letters.producer, 30)
        self.engine.make_durable()

    def tick(self, now_s: float) -> None:
        if now_s >= self._next_tick_s:
            self._next_tick_s = now_s + 1.0
            self.engine.tick()


def _notifier(settings: Settings, config: AlertingFile, tz: ZoneInfo) -> Notifier:
    return Notifier(
        config.alerting.routing,
        {channel.name: channel.type for channel in config.alerting.channels},
        tz,
        settings.console_url,
        config.alerting.type_name,
    )


def build(settings: Settings) -> tuple[ConsumerLoop, AlertEngine]:
    source = str(settings.config or "<none>")
    config = parse_section(AlertingFile, load_config_file(settings.config), source)
    ensure_topics(settings, [INCIDENTS_TOPIC, ALERTS_TOPIC, DLQ_TOPIC])
    conn = connect(settings, application_name="pantau-alerting")
    producer = make_producer(settings, client_id="pantau-alerting", linger_ms=0)
    tz = ZoneInfo(config.timezone)
    book = AlertBook(config.alerting, tz, clock=utcnow, sensor_criticality=config.sensor_criticality())
    channels = {channel.name: build_channel(channel) for channel in config.alerting.channels}
    notifier = _notifier(settings, config, tz)
    dispatcher = Dispatcher(
        lambda: connect(settings, application_name="pantau-alerting-dispatch"),
        channels,
        utcnow,
        threads=settings.dispatch_threads,
    )
    engine = AlertEngine(
        conn,
        book,
        producer,
        settings.topic(TOPIC_ALERTS),
        utcnow,
        notifier,
        dispatcher,
        incidents_topic=settings.topic(TOPIC_INCIDENTS),
        reconnect=lambda: connect(settings, application_name="pantau-alerting"),
    )
    dispatcher.on_gone = lambda endpoint: engine.unsubscribe(endpoint)
    engine.apply_schema()
    reconcile(settings, engine, utcnow())  # before the book is loaded: it may change alerts
    engine.reload()
    engine.publish_outbox()
    dispatcher.start()  # also sends what a crash left queued
    dead_letters = DeadLetterSink(settings, producer, STAGE)
    worker = AlertingWorker(engine, dead_letters, settings)
    consumer = make_consumer(settings, client_id="pantau-alerting", group_id=settings.group(settings.alerting_group))
    loop = ConsumerLoop(
        consumer,
        worker,
        [settings.topic(TOPIC_INCIDENTS)],
        name="alerting",
        commit_interval_s=1.0,
        ready_file=None,  # ready once the API listens too (below)
        dead_letters=dead_letters,
    )
    return loop, engine


def _serve_api(settings: Settings, engine: AlertEngine) -> uvicorn.Server:
    from alerting.api.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine),
            host=settings.alerting_host,
            port=settings.alerting_port,
            log_level=settings.log_level.lower(),
            access_log=False,
            # Its own records go through our root handler (PANTAU_LOG_FORMAT) instead of uvicorn's text set-up.
            log_config=None,
        )
    )
    # uvicorn installs signal handlers only on the main thread; the consumer loop owns those.
    thread = threading.Thread(target=server.run, name="alerting-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise PantauError(f"the alerting API could not listen on {settings.alerting_host}:{settings.alerting_port}")
        time.sleep(0.05)
    return server


def main() -> None:
    settings = Settings()
    configure_logging(settings, "alerting")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per push is noise at hundreds/s
    writer = WriterLock(settings)
    standby_stop = threading.Event()
    install_signal_handlers(standby_stop)  # a standby has nothing to reload: it reads the config on taking over
    if not writer.acquire(standby_stop):
        writer.close()
        return
    try:
        loop, engine = build(settings)
    except BaseException:
        writer.close()
        raise
    server = _serve_api(settings, engine)
    install_signal_handlers(loop.stop, loop.reload_requested)
    loop.serve_ops(settings)
    lost_lock = threading.Event()

    def _lost() -> None:
        lost_lock.set()
        loop.stop.set()

    writer.watch(loop.stop, _lost)
    runner = threading.Thread(target=loop.run, name="alerting-consumer")
    runner.start()
    if settings.ready_file is not None:
        while not loop.ready.wait(0.2):
            if not runner.is_alive():
                break
        if loop.ready.is_set():
            settings.ready_file.parent.mkdir(parents=True, exist_ok=True)
            settings.ready_file.write_text("ready\n")
    try:
        while runner.is_alive():
            runner.join(0.5)
    finally:
        loop.stop.set()
        server.should_exit = True
        if engine.dispatcher is not None:
            engine.dispatcher.stop()
        engine.conn.close()
        writer.close()
    if lost_lock.is_set():  # another process is the writer now: exit so nothing restarts this one as a second writer
        raise SystemExit(4)
    if loop.exit_code:  # the consumer thread ended on a stalled consumer: exit for a fresh process
        raise SystemExit(loop.exit_code)
