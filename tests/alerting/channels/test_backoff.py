"""Retry schedule, status classification, Retry-After parsing and the error type."""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from alerting.channels import DeliveryError, is_retryable_status, parse_retry_after, retry_delay_s
from alerting.exceptions import AlertingError
from pantau.exceptions import PantauError

if TYPE_CHECKING:
    from tests.alerting.channels.conftest import NotificationFactory

pytestmark = pytest.mark.unit


class _Fixed:
    """An rng whose ``uniform`` always lands at ``fraction`` of the way from a to b."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def uniform(self, a: float, b: float, /) -> float:
        return a + (b - a) * self.fraction


def test_delay_doubles_from_the_base_and_is_capped() -> None:
    middle = _Fixed(0.5)  # no jitter
    assert [retry_delay_s(n, rng=middle) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert retry_delay_s(3, base_s=0.5, max_s=10, rng=middle) == 2.0
    assert retry_delay_s(100, base_s=0.5, max_s=10, rng=middle) == 10.0
    assert retry_delay_s(10**9, rng=middle) == 300.0


def test_jitter_spreads_delays_within_the_fraction() -> None:
    assert retry_delay_s(1, jitter=0.2, rng=_Fixed(0.0)) == pytest.approx(0.8)
    assert retry_delay_s(1, jitter=0.2, rng=_Fixed(1.0)) == pytest.approx(1.2)
    assert retry_delay_s(20, jitter=0.2, rng=_Fixed(1.0)) == 300.0  # the cap holds after jitter
    assert retry_delay_s(20, jitter=0.2, rng=_Fixed(0.0)) == pytest.approx(240.0)
    rng = random.Random(7)
    delays = [retry_delay_s(4, rng=rng) for _ in range(500)]
    assert all(6.4 <= delay <= 9.6 for delay in delays)
    assert len({round(delay, 6) for delay in delays}) > 100
    assert retry_delay_s(2, jitter=0.0) == 2.0  # the module-level random by default


@pytest.mark.parametrize("kwargs", [{"attempt": 0}, {"attempt": 1, "jitter": 1.5}, {"attempt": 1, "base_s": 0}])
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        retry_delay_s(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(408, True), (425, True), (429, True), (500, True), (503, True), (599, True),
     (400, False), (401, False), (403, False), (404, False), (409, False), (410, False), (422, False)],
)  # fmt: skip
def test_status_classification(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 15, 5, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None


def test_delivery_error_is_an_alerting_error_and_survives_pickling() -> None:
    error = DeliveryError("web push https://p.example returned 410: gone", retryable=False, status_code=410, gone=True)
    assert isinstance(error, AlertingError)
    assert isinstance(error, PantauError)
    assert str(error) == "web push https://p.example returned 410: gone"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.retryable, copy.status_code, copy.retry_after_s, copy.gone) == (
        error.message,
        False,
        410,
        None,
        True,
    )
    assert DeliveryError("timed out after 5.0 s", retryable=True).status_code is None


def test_notification_is_frozen_and_strict(notification_factory: NotificationFactory) -> None:
    notification = notification_factory()
    with pytest.raises(ValidationError):
        notification.title = "changed"  # type: ignore[misc]
    for bad in (
        {"priority": 0},
        {"priority": 5},
        {"kind": "page"},
        {"created_at": datetime(2025, 1, 15, 5, 0)},  # naive
        {"delivery_id": "has space"},
        {"delivery_id": ""},
        {"title": "bad \udc80 surrogate"},
        {"unknown": 1},
    ):
        with pytest.raises(ValidationError):
            notification_factory(**bad)
