"""Factories for the alerting tests: alerts in any state, with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import pytest

from alerting.schemas import Alert
from ingest.schemas import Location

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # 21:00 WIB
KLOJEN = Location(lat=-7.98, lon=112.63, district="Klojen")


class AlertFactory(Protocol):
    def __call__(self, **overrides: Any) -> Alert: ...


@pytest.fixture
def alert_factory() -> AlertFactory:
    """An open P3 water-level alert from sensor river-01 in Klojen at T0; any field can be overridden.

    ``district="X"`` is a shortcut for a location in district X (``district=None``: no district).
    """

    def make(**overrides: Any) -> Alert:
        fields: dict[str, Any] = {
            "id": "alert-1",
            "status": "new",
            "priority": 3,
            "priority_reason": "P3: medium water level high at river-01 in Klojen",
            "severity": "medium",
            "type": "water_level_high",
            "source": "river-01",
            "source_kind": "sensor",
            "zone": None,
            "title": "Water level high at river-01",
            "location": KLOJEN,
            "first_seen": T0,
            "last_seen": T0,
            "count": 1,
            "last_incident_id": "incident-1",
            "version": 1,
            "change": "opened",
            "updated_at": T0,
        }
        if "district" in overrides:
            district = overrides.pop("district")
            fields["location"] = KLOJEN.model_copy(update={"district": district})
        fields.update(overrides)
        return Alert.model_validate(fields)

    return make
