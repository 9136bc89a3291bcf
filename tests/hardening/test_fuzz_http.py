"""Fuzz the HTTP APIs of ingest, alerting and the console from their OpenAPI descriptions.

Schemathesis 4 (programmatic API): each service's schema is built in-process with
``create_app(settings).openapi()`` (the console serves no ``/openapi.json``), loaded with
``schemathesis.openapi.from_dict`` and, for every operation, ``operation.as_strategy(mode)``
feeds a hypothesis ``@given`` test (positive and negative generation modes, ``MAX_EXAMPLES`` each)
whose cases are sent to the live servers of a pipeline with a bearer token that may call the
operation. Every answer must be below 500; response-schema mismatches are counted and printed.
Afterwards every service still answers its health check and no log holds a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import typing
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import response_schema_conformance

from alerting.api.app import create_app as alerting_app
from alerting.engine import AlertEngine
from alerting.settings import Settings as AlertingSettings
from console.app import create_app as console_app
from console.settings import Settings as ConsoleSettings
from ingest.api.app import create_app as ingest_app
from ingest.api.settings import Settings as IngestSettings
from pantau.auth import Role
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 15  # per operation and generation mode: ~1,800 requests in all, about a minute
MIN_CASES = 1000
SERVICES = ("ingest-api", "alerting", "console")


def _schemas(secret: str) -> dict[str, dict[str, Any]]:
    engine = typing.cast(AlertEngine, object())  # create_app only keeps it in app.state
    return {
        "ingest-api": ingest_app(IngestSettings(token_secret=secret)).openapi(),
        "alerting": alerting_app(AlertingSettings(token_secret=secret), engine).openapi(),
        "console": console_app(ConsoleSettings(token_secret=secret)).openapi(),
    }


def _runner(strategy: st.SearchStrategy[Case[Any]], check: Callable[[Case[Any]], None]) -> Callable[[], None]:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Case[Any]) -> None:
        check(case)

    return typing.cast(Callable[[], None], run)


def _base_urls(pipeline: Pipeline) -> dict[str, str]:
    return {
        "ingest-api": f"http://127.0.0.1:{pipeline.ingest_port}",
        "alerting": pipeline.alerting_url,
        "console": f"http://127.0.0.1:{pipeline.console_port}",
    }


def test_http_apis_never_answer_5xx(pipeline_factory: Callable[..., Pipeline]) -> None:
    pipeline = pipeline_factory("", services=("archiver", *SERVICES))
    schemas = _schemas(pipeline.secret)
    base_urls = _base_urls(pipeline)
    tokens = {
        "ingest-api": pipeline.token(Role.ingest, "fuzz-gateway"),
        "alerting": pipeline.token(Role.admin, "fuzz-admin"),
        "console": pipeline.token(Role.admin, "fuzz-admin"),
    }
    cases: Counter[str] = Counter()
    server_errors: list[str] = []
    mismatches: dict[str, str] = {}
    session = requests.Session()

    def check(service: str, label: str, headers: dict[str, str], case: Case[Any]) -> None:
        cases[service] += 1
        response = case.call(base_url=base_urls[service], session=session, headers=headers, timeout=30)
        if response.status_code >= 500:
            server_errors.append(
                f"{label}: {response.status_code} for {case.method} {case.formatted_path} "
                f"query={case.query!r} body={case.body!r}: {response.text[:300]}"
            )
            return
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except (Exception, BaseExceptionGroup) as exc:  # a mismatch with the declared responses
            mismatches.setdefault(
                label, f"{response.status_code} for {case.method} {case.formatted_path}: {str(exc)[:400]}"
            )

    for service, raw in schemas.items():
        schema = schemathesis.openapi.from_dict(raw)
        headers = {"Authorization": f"Bearer {tokens[service]}"}
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode)
                label = f"{service} {operation.label} {mode.value}"

                run = _runner(strategy, functools.partial(check, service, label, headers))
                with contextlib.suppress(Unsatisfiable):  # an operation with nothing to make invalid
                    run()

    print(f"\nHTTP fuzz cases run: {dict(cases)} total={sum(cases.values())}")
    assert not server_errors, "\n".join(server_errors[:20])
    assert not mismatches, "\n".join(f"{label}: {detail}" for label, detail in mismatches.items())
    assert sum(cases.values()) >= MIN_CASES
    for service in SERVICES:
        health = "/health" if service == "alerting" else "/healthz"
        assert httpx.get(f"{base_urls[service]}{health}", timeout=10).status_code == 200, service
    for name, proc in pipeline.procs.items():
        assert proc.poll() is None, f"{name} died:\n{pipeline.log_tail(name)}"
        assert "Traceback" not in pipeline.log_file(name).read_text(errors="replace"), pipeline.log_tail(name, 80)
