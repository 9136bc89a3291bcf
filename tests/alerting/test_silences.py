"""Silences (per-key matching, time bounds, refusals), the POST request model, and inhibition
(same district only, never by itself, only by open unsuppressed alerts)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from alerting.schemas import Alert
from alerting.silences import (
    InhibitRule,
    Silence,
    SilenceCreate,
    SilenceError,
    SilenceMatch,
    inhibited_by,
    suppression,
)

pytestmark = pytest.mark.unit

AlertFactory = Callable[..., Alert]
NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def silence(matchers: dict[str, Any], *, starts_in_s: float = -60, lasts_s: float = 3600, **extra: Any) -> Silence:
    starts_at = NOW + timedelta(seconds=starts_in_s)
    return Silence.model_validate(
        {
            "id": "silence-1",
            "matchers": matchers,
            "starts_at": starts_at,
            "ends_at": starts_at + timedelta(seconds=lasts_s),
            "created_by": "operator-1",
            "reason": "pump maintenance",
            "created_at": NOW,
            **extra,
        }
    )


@pytest.fixture
def camera_alert(alert_factory: AlertFactory) -> Alert:
    return alert_factory(
        id="cam-alert",
        type="intrusion",
        source="gate-cam",
        source_kind="camera",
        zone="gate",
        title="Intrusion at the gate",
    )


# -- matching ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matchers", "expected"),
    [
        ({"cameras": ["gate-cam"]}, True),
        ({"cameras": ["other-cam", "gate-cam"]}, True),
        ({"cameras": ["other-cam"]}, False),
        ({"sensors": ["gate-cam"]}, False),  # the right id but not a sensor
        ({"zones": ["gate"]}, True),
        ({"zones": ["lawn"]}, False),
        ({"types": ["intrusion", "loitering"]}, True),
        ({"types": ["loitering"]}, False),
        ({"districts": ["Klojen"]}, True),
        ({"districts": ["Lowokwaru"]}, False),
        ({"cameras": ["gate-cam"], "types": ["intrusion"], "districts": ["Klojen"]}, True),
        ({"cameras": ["gate-cam"], "types": ["loitering"]}, False),  # every key must match
    ],
)
def test_camera_alert_matching_per_key(camera_alert: Alert, matchers: dict[str, Any], expected: bool) -> None:
    assert silence(matchers).matches(camera_alert) is expected


def test_sensor_alert_matches_sensors_not_cameras(alert_factory: AlertFactory) -> None:
    alert = alert_factory()  # sensor river-01
    assert silence({"sensors": ["river-01"]}).matches(alert)
    assert not silence({"cameras": ["river-01"]}).matches(alert)


def test_alert_without_zone_or_district_fails_those_keys(alert_factory: AlertFactory) -> None:
    alert = alert_factory(location=None, zone=None)
    assert not silence({"districts": ["Klojen"]}).matches(alert)
    assert not silence({"zones": ["gate"]}).matches(alert)


# -- validity and time ---------------------------------------------------------------------------------


def test_active_between_start_and_end() -> None:
    s = silence({"types": ["intrusion"]}, starts_in_s=0, lasts_s=600)
    assert not s.active(NOW - timedelta(seconds=1))
    assert s.active(NOW)
    assert s.active(NOW + timedelta(seconds=599))
    assert not s.active(NOW + timedelta(seconds=600))  # expired


def test_ended_early_stops_at_ended_at() -> None:
    s = silence({"types": ["intrusion"]}, starts_in_s=0, lasts_s=3600).end(NOW + timedelta(seconds=60))
    assert s.ended_at == NOW + timedelta(seconds=60)
    assert s.active(NOW + timedelta(seconds=59))
    assert not s.active(NOW + timedelta(seconds=60))
    assert s.end(NOW + timedelta(seconds=120)).ended_at == NOW + timedelta(seconds=60)  # ending twice keeps the first


@pytest.mark.parametrize("matchers", [{}, {"types": []}, {"cameras": [], "zones": []}])
def test_empty_matchers_are_refused(matchers: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="at least one of cameras, sensors, zones, types, districts"):
        silence(matchers)


def test_unknown_matcher_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        silence({"camera": ["gate-cam"]})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lasts_s": 0}, "must be after starts_at"),
        ({"lasts_s": -10}, "must be after starts_at"),
        ({"lasts_s": 31 * 86400}, "at most 30 days"),
        ({"reason": "   "}, "reason must not be empty"),
        ({"starts_at": datetime(2026, 11, 27, 14, 0)}, "timezone"),
    ],
)
def test_bad_silences_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        silence({"types": ["intrusion"]}, **kwargs)


def test_silence_errors_are_value_errors() -> None:
    from pantau.exceptions import PantauError

    assert issubclass(SilenceError, ValueError) and issubclass(SilenceError, PantauError)


# -- the POST request ----------------------------------------------------------------------------------


def test_create_with_duration_starts_now() -> None:
    request = SilenceCreate.model_validate(
        {"matchers": {"cameras": ["gate-cam"]}, "duration_s": 7200, "reason": " gate repair "}
    )
    s = request.to_silence("silence-9", "operator-2", NOW)
    assert (s.id, s.created_by, s.created_at, s.reason) == ("silence-9", "operator-2", NOW, "gate repair")
    assert (s.starts_at, s.ends_at) == (NOW, NOW + timedelta(hours=2))
    assert s.matchers == SilenceMatch(cameras=["gate-cam"])
    assert s.ended_at is None


def test_create_maintenance_window_in_the_future() -> None:
    starts = NOW + timedelta(days=1)
    request = SilenceCreate(
        matchers=SilenceMatch(districts=["Klojen"], types=["video_loss"]),
        starts_at=starts,
        ends_at=starts + timedelta(hours=4),
        reason="grid works",
    )
    s = request.to_silence("silence-10", "operator-2", NOW)
    assert (s.starts_at, s.ends_at) == (starts, starts + timedelta(hours=4))
    assert not s.active(NOW) and s.active(starts)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"reason": "x"}, "exactly one of ends_at and duration_s"),
        ({"reason": "x", "duration_s": 60, "ends_at": "2026-11-27T15:00:00Z"}, "exactly one of ends_at and duration_s"),
        ({"reason": "", "duration_s": 60}, "reason must not be empty"),
        ({"reason": "x", "duration_s": 31 * 86400}, "less than or equal to 2592000"),
        ({"reason": "x", "duration_s": 0}, "greater than 0"),
        (
            {"reason": "x", "starts_at": "2026-11-27T16:00:00Z", "ends_at": "2026-11-27T15:00:00Z"},
            "must be after starts_at",
        ),
        ({"reason": "x", "duration_s": 60, "color": "red"}, "Extra inputs"),
    ],
)
def test_bad_requests_are_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SilenceCreate.model_validate({"matchers": {"types": ["intrusion"]}, **body})


def test_create_refuses_a_silence_already_over_or_too_long() -> None:
    past = SilenceCreate.model_validate(
        {"matchers": {"types": ["intrusion"]}, "ends_at": NOW - timedelta(minutes=1), "reason": "x"}
    )
    with pytest.raises(SilenceError, match="already be over"):
        past.to_silence("s", "op", NOW)
    too_long = SilenceCreate.model_validate(
        {"matchers": {"types": ["intrusion"]}, "ends_at": NOW + timedelta(days=31), "reason": "x"}
    )
    with pytest.raises(SilenceError, match="at most 30 days"):
        too_long.to_silence("s", "op", NOW)


# -- inhibition ----------------------------------------------------------------------------------------

POWER_RULE = InhibitRule.model_validate(
    {
        "name": "power-loss-darkens-cameras",
        "source_match": {"types": ["power_loss"]},
        "target_match": {"types": ["video_loss", "camera_offline"]},
        "equal": ["district"],
    }
)


@pytest.fixture
def video_loss(alert_factory: AlertFactory) -> Alert:
    return alert_factory(id="video-1", type="video_loss", source="gate-cam", source_kind="camera")


def test_power_loss_inhibits_video_loss_in_the_same_district(alert_factory: AlertFactory, video_loss: Alert) -> None:
    power = alert_factory(id="power-1", type="power_loss", source="substation-3")
    power_elsewhere = alert_factory(id="power-2", type="power_loss", source="substation-9", district="Lowokwaru")
    assert inhibited_by(video_loss, [power_elsewhere, power, video_loss], [POWER_RULE]) == ["power-1"]
    assert inhibited_by(video_loss, [power_elsewhere], [POWER_RULE]) == []


def test_unknown_district_is_never_equal(alert_factory: AlertFactory) -> None:
    power = alert_factory(id="power-1", type="power_loss", location=None)
    video = alert_factory(id="video-1", type="video_loss", location=None)
    assert inhibited_by(video, [power], [POWER_RULE]) == []


def test_only_targets_are_inhibited(alert_factory: AlertFactory) -> None:
    power = alert_factory(id="power-1", type="power_loss")
    flood = alert_factory(id="flood-1", type="water_level_high")
    assert inhibited_by(flood, [power], [POWER_RULE]) == []
    assert inhibited_by(power, [power], [POWER_RULE]) == []


def test_an_alert_never_inhibits_itself(alert_factory: AlertFactory) -> None:
    rule = InhibitRule.model_validate(
        {"name": "self", "source_match": {"types": ["crowd"]}, "target_match": {"types": ["crowd"]}, "equal": []}
    )
    crowd = alert_factory(id="crowd-1", type="crowd")
    other = alert_factory(id="crowd-2", type="crowd", district="Lowokwaru")
    assert inhibited_by(crowd, [crowd], [rule]) == []
    assert inhibited_by(crowd, [crowd, other], [rule]) == ["crowd-2"]  # equal: [] is city-wide


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "resolved", "resolved_at": NOW},
        {"status": "closed", "close_reason": "handled"},
        {"suppressed": True, "suppressed_by": ["silence-1"]},
    ],
)
def test_only_open_unsuppressed_alerts_inhibit(
    alert_factory: AlertFactory, video_loss: Alert, overrides: dict[str, Any]
) -> None:
    power = alert_factory(id="power-1", type="power_loss", **overrides)
    assert inhibited_by(video_loss, [power], [POWER_RULE]) == []


def test_equal_on_several_labels(alert_factory: AlertFactory) -> None:
    rule = InhibitRule.model_validate(
        {
            "name": "tamper-explains-loss",
            "source_match": {"types": ["tamper"]},
            "target_match": {"types": ["video_loss"]},
            "equal": ["source", "district"],
        }
    )
    video = alert_factory(id="v", type="video_loss", source="gate-cam", source_kind="camera")
    same_cam = alert_factory(id="t1", type="tamper", source="gate-cam", source_kind="camera")
    other_cam = alert_factory(id="t2", type="tamper", source="lawn-cam", source_kind="camera")
    assert inhibited_by(video, [other_cam, same_cam], [rule]) == ["t1"]


def test_inhibit_rules_need_explicit_equal_and_matchers() -> None:
    with pytest.raises(ValidationError, match="equal"):
        InhibitRule.model_validate({"name": "r", "source_match": {"types": ["a"]}, "target_match": {"types": ["b"]}})
    with pytest.raises(ValidationError, match="at least one of"):
        InhibitRule.model_validate({"name": "r", "source_match": {}, "target_match": {"types": ["b"]}, "equal": []})
    with pytest.raises(ValidationError, match=r"Input should be 'district'"):
        InhibitRule.model_validate(
            {"name": "r", "source_match": {"types": ["a"]}, "target_match": {"types": ["b"]}, "equal": ["colour"]}
        )


# -- suppression ---------------------------------------------------------------------------------------


def test_suppression_lists_active_matching_silences_then_inhibitors(
    alert_factory: AlertFactory, video_loss: Alert
) -> None:
    matching = silence({"cameras": ["gate-cam"]}, id="s-match")
    other = silence({"cameras": ["lawn-cam"]}, id="s-other")
    expired = silence({"cameras": ["gate-cam"]}, id="s-expired", starts_in_s=-7200, lasts_s=3600)
    future = silence({"cameras": ["gate-cam"]}, id="s-future", starts_in_s=60)
    power = alert_factory(id="power-1", type="power_loss")
    got = suppression(video_loss, [other, matching, expired, future], [power, video_loss], [POWER_RULE], NOW)
    assert got == ["s-match", "power-1"]
    assert suppression(video_loss, [other, expired, future], [], [POWER_RULE], NOW) == []
