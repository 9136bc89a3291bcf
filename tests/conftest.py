"""Fixtures shared by the integration tests: the real local stack and isolated pipelines on it.

The stack (Kafka broker + TimescaleDB) is started once per session and reused (left running if it
was already up). Each pipeline gets its own topic prefix, consumer groups, database schema, token
secret and ports, so tests never see each other's data.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pantau.stack import Stack, StackSettings
from pantau.supervisor import SERVICES
from tests.pipeline import Pipeline, free_port, private_stack, remove_private_stack
from tests.supervised import Supervised

ALL_SERVICES = ("archiver", "alerting", "detectors", "ingest-api", "console")


_RERUN_REASONS: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.outcome == "rerun":  # type: ignore[comparison-overlap]  # set by pytest-rerunfailures
        _RERUN_REASONS.append((report.nodeid, report.longreprtext[-3000:]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Why each rerun test failed the first time: a rerun that passed still names a weakness."""
    for nodeid, reason in _RERUN_REASONS:
        terminalreporter.write_sep("-", f"first failure of {nodeid} (rerun)")
        terminalreporter.write_line(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the live stack that fails is run once more, and the summary lists it as RERUN.

    Two cores run the broker, the database, the services under test and the test itself: a
    consumer that stalls for a while can miss a deadline once. A real defect fails both runs.
    """
    if not items or not items[0].config.pluginmanager.hasplugin("rerunfailures"):
        return  # `-p no:rerunfailures`: every failure counts at once
    for item in items:
        if item.get_closest_marker("integration") and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    s = Stack(StackSettings())
    was_up = all(state.up for state in s.states())
    s.up()
    yield s
    if not was_up:
        s.down()


@pytest.fixture
def private_stack_factory(stack: Stack, tmp_path: Path) -> Iterator[Callable[[], Stack]]:
    """A Kafka broker and a database of the test's own, on free ports (the jars are the shared
    stack's), for tests that stop them or need a fresh configuration; stopped and removed after."""
    made: list[Stack] = []

    def make() -> Stack:
        own = private_stack(stack, tmp_path / f"stack-{len(made)}")
        made.append(own)
        own.up()
        return own

    yield make
    for own in made:
        remove_private_stack(own)


@pytest.fixture
def pipeline_factory(stack: Stack, tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def make(config_yaml: str = "", services: tuple[str, ...] = ALL_SERVICES, **extra_env: str) -> Pipeline:
        tag = uuid.uuid4().hex[:10]
        config = tmp_path / f"config-{tag}.yaml"
        config.write_text(config_yaml)
        secret = secrets.token_urlsafe(24)
        console_port, ingest_port, alerting_port = free_port(), free_port(), free_port()
        env = dict(os.environ)
        env.update(stack.env())
        env.update(
            {
                "PANTAU_TOPIC_PREFIX": f"t{tag}.",
                "PANTAU_DB_SCHEMA": f"t_{tag}",
                "PANTAU_TOKEN_SECRET": secret,
                "PANTAU_CONFIG": str(config),
                "PANTAU_CONSOLE_PORT": str(console_port),
                "PANTAU_INGEST_PORT": str(ingest_port),
                "PANTAU_ALERTING_PORT": str(alerting_port),
                "PANTAU_ALERTING_URL": f"http://127.0.0.1:{alerting_port}",
                "PANTAU_HEARTBEAT_INTERVAL_S": "2",
                "PANTAU_EVIDENCE_DIR": str(tmp_path / f"evidence-{tag}"),
                "PANTAU_REPORTS_DIR": str(tmp_path / f"reports-{tag}"),
            }
        )
        env.update(extra_env)
        workdir = tmp_path / tag
        workdir.mkdir()
        pipeline = Pipeline(stack, workdir, env, f"t{tag}.", f"t_{tag}", secret, console_port, ingest_port)
        made.append(pipeline)
        for name in services:
            pipeline.start(name)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.stop_all()
        with contextlib.suppress(psycopg.Error), pipeline.db() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pipeline.schema)))


@pytest.fixture
def supervised_factory(stack: Stack, tmp_path: Path) -> Iterator[Callable[..., Supervised]]:
    """Services as ``pantau up`` runs them (a supervisor and its children), isolated like a pipeline."""
    made: list[Supervised] = []

    def make(config_yaml: str, services: tuple[str, ...] | None = None) -> Supervised:
        instance = Supervised(stack, tmp_path / "supervised", config_yaml, services or SERVICES)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.close()
