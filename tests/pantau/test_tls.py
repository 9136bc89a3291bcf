"""TLS to Kafka and PostgreSQL: the services run against a private stack's TLS listeners with the
certificates checked (``PANTAU_KAFKA_SECURITY_PROTOCOL=SSL`` with the CA, ``sslmode=verify-full``
in the database URL), and a client that trusts another CA is refused by both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from pantau.auth import Role
from pantau.exceptions import KafkaError
from pantau.kafka import ensure_topics
from pantau.settings import CommonSettings
from pantau.stack import SASL_USER, Stack
from pantau.tls import ensure_tls
from pantau.topics import TopicSpec
from tests.pipeline import private_stack, remove_private_stack
from tests.supervised import FLOOD_RULE, Supervised

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_stack(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One private stack for the module: started fresh, so its listeners have this code's TLS config."""
    own = private_stack(stack, tmp_path_factory.mktemp("tls-stack"))
    own.up()
    yield own
    remove_private_stack(own)


def _tls_env(stack: Stack) -> dict[str, str]:
    ca = stack.tls.ca_cert
    return {
        "PANTAU_KAFKA_BOOTSTRAP": f"127.0.0.1:{stack.settings.tls_port}",
        "PANTAU_KAFKA_SECURITY_PROTOCOL": "SSL",
        "PANTAU_KAFKA_SSL_CAFILE": str(ca),
        "PANTAU_DATABASE_URL": f"{stack.settings.database_url}?sslmode=verify-full&sslrootcert={ca}",
    }


def test_services_run_over_verified_tls_to_kafka_and_postgres(tls_stack: Stack, tmp_path: Path) -> None:
    stack = tls_stack
    services = ("ingest-api", "detectors", "archiver", "alerting")
    pantau = Supervised(stack, tmp_path / "svc", FLOOD_RULE, services, extra_env=_tls_env(stack))
    try:
        pantau.up()
        readings = [
            {
                "sensor_id": "gauge-tls",
                "kind": "water_level",
                "value": value,
                "unit": "m",
                "ts": f"2026-11-29T01:0{n}:00Z",
            }
            for n, value in enumerate([1.0, 3.1, 1.2])
        ]
        answer = httpx.post(
            f"http://127.0.0.1:{pantau.ingest_port}/api/v1/readings",
            json=readings,
            headers={"Authorization": f"Bearer {pantau.token(Role.ingest, 'gw')}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        pantau.wait(lambda: pantau.count("sensor_readings") == 3, "readings archived over TLS", 60)
        pantau.wait(lambda: pantau.count("alerts", "source = 'gauge-tls'") == 1, "alert raised over TLS", 60)
        # Every connection the services hold to PostgreSQL is encrypted.
        rows = pantau.query(
            "SELECT a.application_name, s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
            "WHERE a.application_name LIKE 'pantau-%%'"
        )
        assert {name for name, _ in rows} >= {"pantau-archiver", "pantau-alerting"}, rows
        assert all(encrypted for _, encrypted in rows), rows
    finally:
        pantau.close()


def test_a_client_that_trusts_another_ca_is_refused(tls_stack: Stack, tmp_path: Path) -> None:
    stack = tls_stack
    stranger = ensure_tls(tmp_path / "other-ca").ca_cert
    settings = CommonSettings(
        kafka_bootstrap=f"127.0.0.1:{stack.settings.tls_port}",
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=stranger,
    )
    with pytest.raises(KafkaError):
        ensure_topics(settings, [TopicSpec("tls-probe.v1", partitions=1)], timeout_s=5)
    trusted = settings.model_copy(update={"kafka_ssl_cafile": stack.tls.ca_cert})
    ensure_topics(trusted, [TopicSpec("tls-probe.v1", partitions=1)], timeout_s=30)
    with pytest.raises(psycopg.OperationalError, match=r"SSL error|certificate verify failed"):
        psycopg.connect(f"{stack.settings.database_url}?sslmode=verify-full&sslrootcert={stranger}", connect_timeout=10)
    with psycopg.connect(f"{stack.settings.database_url}?sslmode=verify-full&sslrootcert={stack.tls.ca_cert}") as conn:
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row == (True,)


def _sasl_settings(stack: Stack, mechanism: str, password: str) -> CommonSettings:
    return CommonSettings.model_validate(
        {
            "kafka_bootstrap": f"127.0.0.1:{stack.settings.sasl_port}",
            "kafka_security_protocol": "SASL_SSL",
            "kafka_ssl_cafile": stack.tls.ca_cert,
            "kafka_sasl_mechanism": mechanism,
            "kafka_sasl_username": SASL_USER,
            "kafka_sasl_password": password,
        }
    )


def test_sasl_over_tls_with_plain_and_scram(tls_stack: Stack, tmp_path: Path) -> None:
    stack = tls_stack
    password = stack.kafka.sasl_password
    probe = [TopicSpec("sasl-probe.v1", partitions=1)]
    for mechanism in ("PLAIN", "SCRAM-SHA-512"):
        ensure_topics(_sasl_settings(stack, mechanism, password), probe, timeout_s=30)
        with pytest.raises(KafkaError):
            ensure_topics(_sasl_settings(stack, mechanism, password + "-wrong"), probe, timeout_s=5)

    # The services themselves, with SCRAM: a reading through the ingest API reaches the archive.
    env = {
        "PANTAU_KAFKA_BOOTSTRAP": f"127.0.0.1:{stack.settings.sasl_port}",
        "PANTAU_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PANTAU_KAFKA_SSL_CAFILE": str(stack.tls.ca_cert),
        "PANTAU_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PANTAU_KAFKA_SASL_USERNAME": SASL_USER,
        "PANTAU_KAFKA_SASL_PASSWORD": password,
    }
    pantau = Supervised(stack, tmp_path / "svc", FLOOD_RULE, ("ingest-api", "archiver"), extra_env=env)
    try:
        pantau.up()
        reading = {
            "sensor_id": "gauge-sasl",
            "kind": "water_level",
            "value": 1.5,
            "unit": "m",
            "ts": "2026-11-29T02:00:00Z",
        }
        answer = httpx.post(
            f"http://127.0.0.1:{pantau.ingest_port}/api/v1/readings",
            json=[reading],
            headers={"Authorization": f"Bearer {pantau.token(Role.ingest, 'gw')}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        pantau.wait(lambda: pantau.count("sensor_readings") == 1, "reading archived over SASL_SSL", 60)
    finally:
        pantau.close()
