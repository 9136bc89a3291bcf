"""A deterministic simulator of a sample city's sensors: Malang, East Java.

The registry (:data:`SAMPLE_SENSORS`) places about fifty sensors in Malang's five districts (Klojen,
Blimbing, Kedungkandang, Sukun, Lowokwaru): water-level gauges on the Brantas, Amprong, Bango and
Metro rivers, rain gauges, PM2.5 and temperature stations, smoke detectors in schools and markets,
traffic-density sensors on the main roads and panic buttons in public places.

:class:`CitySimulator` produces the readings those sensors would send, with daily cycles in local time
(WIB, UTC+7), seeded noise and afternoon rain bursts. With ``incidents=True`` it also plays a script
that repeats every :data:`INCIDENT_CYCLE_S` seconds (offsets from the simulator's start, see
:data:`SCRIPTED_INCIDENTS`), so a demo shows every kind of alert within a quarter of an hour:

==========  ===========================  ===================================================
offset (s)  sensor                       what happens
==========  ===========================  ===================================================
30-390      rg-lowokwaru-01/-02, klojen  a storm: rainfall ramps up to ~75 mm/h
60-840      wl-amprong-02                the gauge is stuck: it repeats one value exactly
150-860     wl-brantas-01/-02/-03        the Brantas rises; at wl-brantas-02 it passes the
                                         2.5 m flood mark (~0.35 m/min) and falls back
240-540     wl-metro-02                  the gauge goes silent (sends nothing)
300-390     pb-alun-alun-01              the panic button at Alun-Alun is pressed (1, then 0)
420-600     smk-sman3-01                 smoke in SMAN 3 Malang (up to ~0.55)
==========  ===========================  ===================================================

The cycle is 15 minutes because the stuck-sensor rule needs ten minutes of identical readings.

The simulator is pure: it builds :class:`~ingest.schemas.SensorReading` objects and never talks to
Kafka, reads the clock or the environment. The caller passes the time to :meth:`CitySimulator.step`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from ingest.config import SensorConfig
from ingest.schemas import KNOWN_KINDS, Location, SensorReading

WIB: Final = timezone(timedelta(hours=7), "WIB")
"""Western Indonesian Time, Malang's time zone (no daylight saving)."""

INCIDENT_CYCLE_S: Final[float] = 900.0
"""Length of the scripted incident cycle, in seconds of reading time."""

FLOOD_LEVEL_M: Final[float] = 2.5
"""The water level (metres) above which a river gauge reports a flood."""

_OWNER_WATER: Final = "DPUPR Kota Malang"  # public works: rivers and drainage
_OWNER_WEATHER: Final = "BPBD Kota Malang"  # disaster management: rain and temperature
_OWNER_AIR: Final = "DLH Kota Malang"  # environment agency: air quality
_OWNER_FIRE: Final = "Damkar Kota Malang"  # fire brigade: smoke detectors
_OWNER_TRAFFIC: Final = "Dishub Kota Malang"  # transport agency: traffic sensors
_OWNER_COMMAND: Final = "Malang Command Center"  # panic buttons go straight to the command center

_INTERVAL_S: Final[dict[str, float]] = {
    "water_level": 30.0,
    "rainfall": 60.0,
    "pm25": 60.0,
    "temperature": 60.0,
    "smoke": 15.0,
    "traffic_density": 30.0,
    "panic_button": 30.0,
}

_OWNER: Final[dict[str, str]] = {
    "water_level": _OWNER_WATER,
    "rainfall": _OWNER_WEATHER,
    "pm25": _OWNER_AIR,
    "temperature": _OWNER_WEATHER,
    "smoke": _OWNER_FIRE,
    "traffic_density": _OWNER_TRAFFIC,
    "panic_button": _OWNER_COMMAND,
}


@dataclass(frozen=True, slots=True)
class _Site:
    """One sensor of the sample city and its kind-specific baseline.

    ``level`` means: the dry-weather water level in metres (water_level), the gauge's share of the
    city's rain (rainfall), the station's offset in µg/m³ (pm25) or °C (temperature), the baseline
    smoke ratio (smoke), how busy the road is relative to the busiest (traffic_density); unused for
    panic buttons.
    """

    id: str
    kind: str
    name: str
    district: str
    lat: float
    lon: float
    level: float = 0.0


_SITES: Final[tuple[_Site, ...]] = (
    # Water-level gauges, upstream to downstream. The Brantas enters from Batu in the north-west.
    _Site("wl-brantas-01", "water_level", "Brantas at Dinoyo", "Lowokwaru", -7.9405, 112.6112, 0.95),
    _Site("wl-brantas-02", "water_level", "Brantas at Jembatan Splendid", "Klojen", -7.9788, 112.6352, 1.10),
    _Site("wl-brantas-03", "water_level", "Brantas at Mergosono", "Kedungkandang", -7.9952, 112.6381, 1.30),
    _Site("wl-amprong-01", "water_level", "Amprong at Madyopuro", "Kedungkandang", -7.9741, 112.6724, 0.85),
    _Site("wl-amprong-02", "water_level", "Amprong at Lesanpuro", "Kedungkandang", -7.9905, 112.6652, 0.90),
    _Site("wl-bango-01", "water_level", "Bango at Arjosari", "Blimbing", -7.9338, 112.6553, 0.80),
    _Site("wl-bango-02", "water_level", "Bango at Pandanwangi", "Blimbing", -7.9563, 112.6628, 0.90),
    _Site("wl-metro-01", "water_level", "Metro at Karangbesuki", "Sukun", -7.9634, 112.5982, 0.85),
    _Site("wl-metro-02", "water_level", "Metro at Bandulan", "Sukun", -7.9852, 112.6031, 1.00),
    # Rain gauges; the Lowokwaru gauges sit upstream of the Brantas and see the scripted storm first.
    _Site("rg-lowokwaru-01", "rainfall", "Rain gauge Tlogomas", "Lowokwaru", -7.9289, 112.6005, 1.15),
    _Site("rg-lowokwaru-02", "rainfall", "Rain gauge Jatimulyo", "Lowokwaru", -7.9401, 112.6201, 1.05),
    _Site("rg-klojen-01", "rainfall", "Rain gauge Balai Kota", "Klojen", -7.9771, 112.6339, 1.00),
    _Site("rg-blimbing-01", "rainfall", "Rain gauge Polowijen", "Blimbing", -7.9275, 112.6472, 0.90),
    _Site("rg-kedungkandang-01", "rainfall", "Rain gauge Buring", "Kedungkandang", -8.0180, 112.6612, 0.85),
    _Site("rg-sukun-01", "rainfall", "Rain gauge Bandungrejosari", "Sukun", -8.0123, 112.6138, 0.95),
    # Air quality (PM2.5), offset in µg/m³: the bus terminals and the city centre are the dirtiest.
    _Site("aq-klojen-01", "pm25", "Air quality Alun-Alun", "Klojen", -7.9829, 112.6304, 6.0),
    _Site("aq-blimbing-01", "pm25", "Air quality Terminal Arjosari", "Blimbing", -7.9334, 112.6583, 8.0),
    _Site("aq-lowokwaru-01", "pm25", "Air quality Soekarno-Hatta", "Lowokwaru", -7.9415, 112.6225, 4.0),
    _Site("aq-sukun-01", "pm25", "Air quality Pasar Gadang", "Sukun", -8.0191, 112.6289, 5.0),
    _Site("aq-kedungkandang-01", "pm25", "Air quality Terminal Hamid Rusdi", "Kedungkandang", -8.0342, 112.6525, 3.0),
    # Temperature, offset in °C: Lowokwaru lies higher (cooler), the dense centre is warmer.
    _Site("tmp-klojen-01", "temperature", "Temperature Balai Kota", "Klojen", -7.9773, 112.6342, 0.6),
    _Site("tmp-blimbing-01", "temperature", "Temperature Blimbing", "Blimbing", -7.9492, 112.6439, 0.3),
    _Site("tmp-lowokwaru-01", "temperature", "Temperature Tlogomas", "Lowokwaru", -7.9301, 112.6011, -0.8),
    _Site("tmp-sukun-01", "temperature", "Temperature Sukun", "Sukun", -7.9988, 112.6142, 0.0),
    _Site("tmp-kedungkandang-01", "temperature", "Temperature Buring", "Kedungkandang", -8.0172, 112.6605, -0.3),
    # Smoke detectors in schools and markets, baseline ratio (markets cook and burn more).
    _Site("smk-sman3-01", "smoke", "SMAN 3 Malang", "Klojen", -7.9744, 112.6318, 0.010),
    _Site("smk-sman1-01", "smoke", "SMAN 1 Malang", "Klojen", -7.9761, 112.6326, 0.010),
    _Site("smk-smpn5-01", "smoke", "SMPN 5 Malang", "Lowokwaru", -7.9553, 112.6214, 0.012),
    _Site("smk-sdn-kauman-01", "smoke", "SDN Kauman 1", "Klojen", -7.9833, 112.6279, 0.010),
    _Site("smk-pasar-besar-01", "smoke", "Pasar Besar", "Klojen", -7.9879, 112.6296, 0.040),
    _Site("smk-pasar-blimbing-01", "smoke", "Pasar Blimbing", "Blimbing", -7.9551, 112.6441, 0.035),
    _Site("smk-pasar-dinoyo-01", "smoke", "Pasar Dinoyo", "Lowokwaru", -7.9437, 112.6141, 0.035),
    _Site("smk-pasar-gadang-01", "smoke", "Pasar Gadang", "Sukun", -8.0196, 112.6284, 0.040),
    # Traffic density on the main roads; Soekarno-Hatta jams at rush hour.
    _Site("td-ijen-01", "traffic_density", "Jl. Ijen", "Klojen", -7.9712, 112.6221, 0.78),
    _Site(
        "td-basuki-rahmat-01", "traffic_density", "Jl. Basuki Rahmat (Kayutangan)", "Klojen", -7.9785, 112.6318, 0.90
    ),
    _Site("td-soekarno-hatta-01", "traffic_density", "Jl. Soekarno-Hatta", "Lowokwaru", -7.9421, 112.6217, 1.00),
    _Site("td-veteran-01", "traffic_density", "Jl. Veteran", "Lowokwaru", -7.9561, 112.6133, 0.88),
    _Site("td-ahmad-yani-01", "traffic_density", "Jl. Ahmad Yani", "Blimbing", -7.9418, 112.6452, 0.95),
    _Site("td-letjen-sutoyo-01", "traffic_density", "Jl. Letjen Sutoyo", "Lowokwaru", -7.9603, 112.6362, 0.85),
    _Site("td-kolonel-sugiono-01", "traffic_density", "Jl. Kolonel Sugiono", "Kedungkandang", -8.0051, 112.6352, 0.82),
    _Site("td-s-supriadi-01", "traffic_density", "Jl. S. Supriadi", "Sukun", -8.0003, 112.6152, 0.80),
    _Site("td-mayjen-sungkono-01", "traffic_density", "Jl. Mayjen Sungkono", "Kedungkandang", -8.0248, 112.6501, 0.70),
    # Panic buttons in public places.
    _Site("pb-alun-alun-01", "panic_button", "Alun-Alun Malang", "Klojen", -7.9826, 112.6308),
    _Site("pb-alun-alun-tugu-01", "panic_button", "Alun-Alun Tugu (Balai Kota)", "Klojen", -7.9772, 112.6344),
    _Site("pb-stasiun-malang-01", "panic_button", "Stasiun Malang", "Klojen", -7.9775, 112.6370),
    _Site("pb-pasar-besar-01", "panic_button", "Pasar Besar", "Klojen", -7.9876, 112.6301),
    _Site("pb-terminal-arjosari-01", "panic_button", "Terminal Arjosari", "Blimbing", -7.9331, 112.6581),
    _Site("pb-pasar-dinoyo-01", "panic_button", "Pasar Dinoyo", "Lowokwaru", -7.9440, 112.6137),
    _Site("pb-terminal-hamid-rusdi-01", "panic_button", "Terminal Hamid Rusdi", "Kedungkandang", -8.0339, 112.6531),
)


def _sensor_config(site: _Site) -> SensorConfig:
    return SensorConfig(
        id=site.id,
        kind=site.kind,
        name=site.name,
        location=Location(lat=site.lat, lon=site.lon, district=site.district),
        owner=_OWNER[site.kind],
        interval_s=_INTERVAL_S[site.kind],
    )


SAMPLE_SENSORS: Final[tuple[SensorConfig, ...]] = tuple(_sensor_config(site) for site in _SITES)
"""The sample city's sensor registry (the ``sensors:`` section of ``deploy/config/demo.yaml``)."""


@dataclass(frozen=True, slots=True)
class ScriptedIncident:
    """One scripted event of the incident cycle: what happens to which sensors, and when.

    ``start_s`` and ``end_s`` are offsets in seconds from the start of each incident cycle.
    """

    name: str
    sensor_ids: tuple[str, ...]
    start_s: float
    end_s: float
    description: str


STORM = ScriptedIncident(
    "heavy-rain",
    ("rg-lowokwaru-01", "rg-lowokwaru-02", "rg-klojen-01"),
    30.0,
    390.0,
    "a storm over the upper Brantas: rainfall ramps up to ~75 mm/h",
)
STUCK = ScriptedIncident(
    "stuck-gauge",
    ("wl-amprong-02",),
    60.0,
    840.0,
    "the gauge repeats one value exactly",
)
FLOOD = ScriptedIncident(
    "river-flood",
    ("wl-brantas-01", "wl-brantas-02", "wl-brantas-03"),
    150.0,
    860.0,
    "the Brantas rises after the storm; wl-brantas-02 passes the 2.5 m flood mark, then falls back",
)
SILENT = ScriptedIncident(
    "sensor-silent",
    ("wl-metro-02",),
    240.0,
    540.0,
    "the gauge sends nothing",
)
PANIC = ScriptedIncident(
    "panic",
    ("pb-alun-alun-01",),
    300.0,
    390.0,
    "the panic button at Alun-Alun is pressed",
)
SMOKE = ScriptedIncident(
    "smoke",
    ("smk-sman3-01",),
    420.0,
    600.0,
    "smoke in SMAN 3 Malang, up to ~0.55",
)
SCRIPTED_INCIDENTS: Final[tuple[ScriptedIncident, ...]] = (STORM, STUCK, FLOOD, SILENT, PANIC, SMOKE)
"""The incident script, repeated every :data:`INCIDENT_CYCLE_S` seconds when incidents are on."""

# How far each Brantas gauge rises during the flood (metres) and how late (seconds), upstream first.
_FLOOD_SURGE: Final[dict[str, tuple[float, float]]] = {
    "wl-brantas-01": (0.90, 0.0),
    "wl-brantas-02": (1.80, 30.0),
    "wl-brantas-03": (0.80, 90.0),
}
_FLOOD_RISE_S: Final = 300.0
_FLOOD_HOLD_S: Final = 80.0
_FLOOD_FALL_S: Final = 240.0
_STORM_PEAK_MM_H: Final = 75.0
_SMOKE_PEAK_RATIO: Final = 0.55

_RAIN_LAG_S: Final = 1200.0  # rain reaches the river gauges about 20 minutes later
_RAIN_TO_LEVEL_M_PER_MM_H: Final = 0.004


def _smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, a smooth S in between."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return x * x * (3.0 - 2.0 * x)


def _bump(hour: float, centre_h: float, width_h: float) -> float:
    """A bell curve over the hour of day peaking at 1 at ``centre_h`` (wrapping around midnight)."""
    distance_h = (hour - centre_h + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (distance_h / width_h) ** 2)


def _warmth(hour: float) -> float:
    """The day's temperature curve from 0 (coolest, 05:30) to 1 (warmest, 13:30) and back."""
    since_coolest_h = (hour - 5.5) % 24.0
    if since_coolest_h < 8.0:
        return 0.5 - 0.5 * math.cos(math.pi * since_coolest_h / 8.0)
    return 0.5 + 0.5 * math.cos(math.pi * (since_coolest_h - 8.0) / 16.0)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _surge_m(offset_s: float, start_s: float, height_m: float) -> float:
    """The flood wave: a smooth rise, a plateau, a slower fall back to zero."""
    t = offset_s - start_s
    if t <= 0.0:
        return 0.0
    if t < _FLOOD_RISE_S:
        return height_m * _smoothstep(t / _FLOOD_RISE_S)
    t -= _FLOOD_RISE_S
    if t < _FLOOD_HOLD_S:
        return height_m
    t -= _FLOOD_HOLD_S
    return height_m * (1.0 - _smoothstep(t / _FLOOD_FALL_S))


def _window(offset_s: float, incident: ScriptedIncident) -> float | None:
    """Seconds since the incident started, or None outside its window."""
    if incident.start_s <= offset_s < incident.end_s:
        return offset_s - incident.start_s
    return None


class _SensorState:
    """Per-sensor schedule and random stream (jitter and noise, consumed in reading order)."""

    __slots__ = (
        "config",
        "interval_s",
        "jitter_s",
        "location",
        "next_index",
        "next_ts",
        "phase_s",
        "rng",
        "site",
        "stuck_value",
    )

    def __init__(self, site: _Site, config: SensorConfig, seed: int) -> None:
        self.site = site
        self.config = config
        self.location = config.location
        self.interval_s = config.interval_s
        self.rng = random.Random(f"pantau-sim:{seed}:{site.id}")
        self.jitter_s = min(0.1 * self.interval_s, 3.0)
        self.phase_s = self.rng.uniform(self.jitter_s, self.interval_s)
        self.next_index = 0
        self.next_ts = datetime.min.replace(tzinfo=UTC)
        self.stuck_value: float | None = None

    def schedule(self, start: datetime) -> None:
        """Plan the next reading: nominal time (no drift) plus bounded jitter."""
        nominal_s = self.phase_s + self.next_index * self.interval_s
        jitter_s = self.rng.uniform(-self.jitter_s, self.jitter_s)
        self.next_ts = start + timedelta(seconds=nominal_s + jitter_s)
        self.next_index += 1


class CitySimulator:
    """Deterministic readings of Malang's sample sensors (:data:`SAMPLE_SENSORS`).

    ``seed`` fixes every random choice (same seed and same calls give the same readings). ``start``
    anchors the schedule and the incident cycle; when None, the first :meth:`step` call's time is the
    start. ``incidents`` turns the scripted incidents (:data:`SCRIPTED_INCIDENTS`) on or off.
    ``time_scale`` speeds up the simulated time of day (daily cycles and rain bursts) relative to the
    readings' timestamps, e.g. 60 plays a whole day in 24 minutes; reporting intervals and the
    incident script stay in real seconds, so the sensor rules see genuine rates and durations.
    """

    def __init__(
        self,
        seed: int = 7,
        start: datetime | None = None,
        incidents: bool = True,
        time_scale: float = 1.0,
    ) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not (time_scale > 0.0 and math.isfinite(time_scale)):
            raise ValueError("time_scale must be a positive number")
        self._seed = seed
        self._incidents = incidents
        self._time_scale = time_scale
        self._states = [_SensorState(site, config, seed) for site, config in zip(_SITES, SAMPLE_SENSORS, strict=True)]
        self._rain_bursts: dict[int, tuple[float, float, float] | None] = {}
        self._start: datetime | None = None
        if start is not None:
            self._anchor(start)

    @property
    def sensors(self) -> tuple[SensorConfig, ...]:
        """The registry of the simulated sensors."""
        return SAMPLE_SENSORS

    @property
    def start(self) -> datetime | None:
        """The start of the schedule and of the first incident cycle (None until the first step)."""
        return self._start

    def step(self, now: datetime) -> list[SensorReading]:
        """The readings due at or before ``now`` not yet returned, oldest first.

        Each sensor reports every ``interval_s`` seconds (with jitter, without drift). A sensor that
        is silent in the incident script skips its readings. Calling with a time far after the last
        call returns every reading in between.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self._start is None:
            self._anchor(now)
        readings: list[SensorReading] = []
        for state in self._states:
            while state.next_ts <= now:
                reading = self._reading(state, state.next_ts)
                if reading is not None:
                    readings.append(reading)
                state.schedule(self._require_start())
        readings.sort(key=lambda reading: reading.ts)
        return readings

    def cycle_offset_s(self, ts: datetime) -> float:
        """Seconds since the start of the incident cycle that ``ts`` falls in."""
        return (ts - self._require_start()).total_seconds() % INCIDENT_CYCLE_S

    def _anchor(self, start: datetime) -> None:
        self._start = start.astimezone(UTC)
        for state in self._states:
            state.schedule(self._start)

    def _require_start(self) -> datetime:
        if self._start is None:
            raise RuntimeError("the simulator has not started")
        return self._start

    def _sim_time(self, ts: datetime) -> datetime:
        """The simulated wall-clock time at reading time ``ts`` (``time_scale`` applied)."""
        start = self._require_start()
        return start + (ts - start) * self._time_scale

    def _reading(self, state: _SensorState, ts: datetime) -> SensorReading | None:
        offset_s = self.cycle_offset_s(ts) if self._incidents else None
        site = state.site
        if offset_s is not None and site.id in SILENT.sensor_ids and _window(offset_s, SILENT) is not None:
            return None
        value = self._value(state, ts, offset_s)
        return SensorReading(
            sensor_id=site.id,
            kind=site.kind,
            value=value,
            unit=KNOWN_KINDS[site.kind].unit,
            ts=ts,
            location=state.location,
        )

    def _value(self, state: _SensorState, ts: datetime, offset_s: float | None) -> float:
        site = state.site
        rng = state.rng
        sim_ts = self._sim_time(ts)
        hour = _local_hour(sim_ts)
        kind = site.kind
        if kind == "water_level":
            return self._water_level_m(state, sim_ts, hour, offset_s)
        if kind == "rainfall":
            rain_mm_h = self._city_rain_mm_h(sim_ts) * site.level
            if rain_mm_h > 0.2:
                rain_mm_h *= 1.0 + rng.gauss(0.0, 0.08)
            else:
                rain_mm_h = 0.0
            storm_s = _window(offset_s, STORM) if offset_s is not None else None
            if storm_s is not None and site.id in STORM.sensor_ids:
                duration_s = STORM.end_s - STORM.start_s
                shape = _smoothstep(storm_s / 90.0) * (1.0 - _smoothstep((storm_s - duration_s + 60.0) / 60.0))
                rain_mm_h += _STORM_PEAK_MM_H * site.level * shape * (1.0 + rng.gauss(0.0, 0.04))
            return round(max(rain_mm_h, 0.0), 1)
        if kind == "pm25":
            rush = _bump(hour, 7.5, 1.2) + 0.8 * _bump(hour, 17.5, 1.3)
            night = 0.5 * (1.0 + math.cos(2.0 * math.pi * (hour - 3.0) / 24.0))
            washout = 1.0 + self._city_rain_mm_h(sim_ts) / 25.0
            pm25_ug_m3 = (15.0 + 26.0 * rush + 9.0 * night + site.level) / washout + rng.gauss(0.0, 2.0)
            return round(max(pm25_ug_m3, 1.0), 1)
        if kind == "temperature":
            daily_c = 22.0 + 10.0 * _warmth(hour)
            cooling_c = 0.06 * self._city_rain_mm_h(sim_ts)
            temperature_c = daily_c + site.level - cooling_c + rng.gauss(0.0, 0.15)
            return round(temperature_c, 2)
        if kind == "smoke":
            cooking = 0.6 * _bump(hour, 6.0, 1.5) if site.id.startswith("smk-pasar-") else 0.0
            smoke_ratio = site.level * (1.0 + cooking) + abs(rng.gauss(0.0, 0.004))
            smoke_s = _window(offset_s, SMOKE) if offset_s is not None else None
            if smoke_s is not None and site.id in SMOKE.sensor_ids:
                duration_s = SMOKE.end_s - SMOKE.start_s
                shape = _smoothstep(smoke_s / 45.0) * (1.0 - _smoothstep((smoke_s - duration_s + 45.0) / 45.0))
                smoke_ratio += _SMOKE_PEAK_RATIO * shape + rng.gauss(0.0, 0.02) * shape
            return round(min(max(smoke_ratio, 0.0), 1.0), 3)
        if kind == "traffic_density":
            daytime = _sigmoid((hour - 5.5) * 2.0) * _sigmoid((21.5 - hour) * 1.5)
            rush = max(_bump(hour, 8.0, 0.7), _bump(hour, 17.0, 0.8))
            density = site.level * (0.08 + 0.45 * daytime + 0.42 * rush) + rng.gauss(0.0, 0.025)
            return round(min(max(density, 0.0), 1.0), 3)
        if kind == "panic_button":
            pressed = offset_s is not None and site.id in PANIC.sensor_ids and _window(offset_s, PANIC) is not None
            return 1.0 if pressed else 0.0
        raise AssertionError(f"no model for kind {kind!r}")  # pragma: no cover

    def _water_level_m(self, state: _SensorState, sim_ts: datetime, hour: float, offset_s: float | None) -> float:
        site = state.site
        daily_m = 0.04 * math.sin(2.0 * math.pi * (hour - 9.0) / 24.0)
        rain_m = _RAIN_TO_LEVEL_M_PER_MM_H * self._city_rain_mm_h(sim_ts - timedelta(seconds=_RAIN_LAG_S))
        level_m = site.level + daily_m + rain_m + state.rng.gauss(0.0, 0.008)
        if offset_s is not None:
            surge = _FLOOD_SURGE.get(site.id)
            if surge is not None:
                height_m, delay_s = surge
                level_m += _surge_m(offset_s, FLOOD.start_s + delay_s, height_m)
            if site.id in STUCK.sensor_ids:
                if _window(offset_s, STUCK) is not None:
                    if state.stuck_value is None:
                        state.stuck_value = round(level_m, 3)
                    return state.stuck_value
                state.stuck_value = None
        return round(max(level_m, 0.0), 3)

    def _city_rain_mm_h(self, sim_ts: datetime) -> float:
        """City-wide rain intensity: seeded bursts, most likely in the afternoon (Malang's wet season)."""
        epoch_s = sim_ts.timestamp()
        hour_index = math.floor(epoch_s / 3600.0)
        total_mm_h = 0.0
        for index in (hour_index - 1, hour_index):
            burst = self._rain_burst(index)
            if burst is None:
                continue
            begin_s, duration_s, peak_mm_h = burst
            if begin_s <= epoch_s < begin_s + duration_s:
                total_mm_h += peak_mm_h * math.sin(math.pi * (epoch_s - begin_s) / duration_s)
        return total_mm_h

    def _rain_burst(self, hour_index: int) -> tuple[float, float, float] | None:
        """The burst (begin epoch s, duration s, peak mm/h) starting in that hour, if any."""
        if hour_index in self._rain_bursts:
            return self._rain_bursts[hour_index]
        if len(self._rain_bursts) > 4096:
            self._rain_bursts.clear()
        rng = random.Random(f"pantau-sim:{self._seed}:rain:{hour_index}")
        local_hour = (hour_index + 7) % 24
        if 13 <= local_hour < 18:
            chance = 0.35
        elif 18 <= local_hour < 22:
            chance = 0.15
        else:
            chance = 0.04
        burst: tuple[float, float, float] | None = None
        if rng.random() < chance:
            begin_s = hour_index * 3600.0 + rng.uniform(0.0, 3600.0)
            burst = (begin_s, rng.uniform(900.0, 3000.0), rng.uniform(4.0, 40.0))
        self._rain_bursts[hour_index] = burst
        return burst


def _local_hour(ts: datetime) -> float:
    """The fractional hour of day in Malang (WIB)."""
    local = ts.astimezone(WIB)
    return local.hour + local.minute / 60.0 + local.second / 3600.0


_LOAD_KINDS: Final[tuple[tuple[str, float, float], ...]] = (
    # kind, base value, spread: every value stays inside the kind's valid range
    ("water_level", 0.8, 0.7),
    ("rainfall", 0.0, 20.0),
    ("pm25", 15.0, 45.0),
    ("temperature", 22.0, 10.0),
    ("smoke", 0.0, 0.05),
    ("traffic_density", 0.1, 0.8),
    ("panic_button", 0.0, 0.0),
)


def readings_for_load(
    count: int, sensors: int, start: datetime, rate_per_s: float, seed: int
) -> Iterator[SensorReading]:
    """``count`` cheap readings for benchmarks, ``rate_per_s`` in total spread round-robin over
    ``sensors`` synthetic sensors (ids ``load-00000`` ...) starting at ``start``.

    Reading ``i`` belongs to sensor ``i % sensors`` and is stamped ``start + i / rate_per_s``
    (at least one microsecond after that sensor's previous reading, so each sensor's timestamps are
    strictly increasing). The models are built without validation (``model_construct``); they are
    valid by construction: canonical units, values inside each kind's range.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if sensors < 1:
        raise ValueError("sensors must be >= 1")
    if not (rate_per_s > 0.0 and math.isfinite(rate_per_s)):
        raise ValueError("rate_per_s must be a positive number")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rng = random.Random(seed)
    ids = [f"load-{index:05d}" for index in range(sensors)]
    specs = [_LOAD_KINDS[index % len(_LOAD_KINDS)] for index in range(sensors)]
    units = {kind: KNOWN_KINDS[kind].unit for kind, _, _ in _LOAD_KINDS}
    last_us = [-1] * sensors
    step_us = 1_000_000.0 / rate_per_s
    construct = SensorReading.model_construct
    for i in range(count):
        sensor = i % sensors
        ts_us = max(int(i * step_us), last_us[sensor] + 1)
        last_us[sensor] = ts_us
        kind, base, spread = specs[sensor]
        yield construct(
            sensor_id=ids[sensor],
            kind=kind,
            value=round(base + spread * rng.random(), 3),
            unit=units[kind],
            ts=start + timedelta(microseconds=ts_us),
            location=None,
        )
