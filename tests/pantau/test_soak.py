"""``pantau soak``: the verdicts, the SVG charts and the report (unit), and one short real run (integration)."""

from __future__ import annotations

import csv
import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pantau.soak import (
    FRAME_TO_INCIDENT,
    READING_TO_ALERT,
    Sample,
    SoakResult,
    bucket_percentiles,
    lag_margin_records,
    lag_verdict,
    memory_verdict,
    memory_window_s,
    parse_lag,
    run_soak,
    svg_line_chart,
    write_report,
)
from pantau.stack import Stack
from pantau.supervisor import SERVICES

# Each unit test carries the mark itself (not a module-wide ``pytestmark``): marks add up, and the
# integration test below must not run under ``pytest -m unit``.
unit = pytest.mark.unit
SVG = "{http://www.w3.org/2000/svg}"


def _flat(mb: float, growth_per_s: float = 0.0, end_s: int = 600) -> list[tuple[float, float]]:
    return [(float(t), mb + growth_per_s * t) for t in range(0, end_s + 1, 10)]


@unit
def test_memory_flat_passes_and_a_leak_fails() -> None:
    flat = memory_verdict(_flat(200.0), warmup_s=300, end_s=600, window_s=60)
    assert flat.passed and flat.start_mb == flat.end_mb == 200.0 and flat.growth == 0.0
    # 0.1 MiB/s from 230 MiB at warm-up: medians 233 vs 257 -> +10.3 %: fails.
    leak = memory_verdict(_flat(200.0, 0.1), warmup_s=300, end_s=600, window_s=60)
    assert not leak.passed and leak.growth == pytest.approx((257 - 233) / 233)
    # The warm-up's growth does not count: flat after a start-up ramp passes.
    ramp = [(t, min(300.0, 100.0 + t)) for t, _ in _flat(0.0)]
    assert memory_verdict(ramp, warmup_s=300, end_s=600, window_s=60).passed


@unit
def test_memory_verdict_uses_medians_and_fails_without_samples() -> None:
    points = _flat(200.0)
    points[-1] = (600.0, 400.0)  # one spike in the last window: the median ignores it
    assert memory_verdict(points, warmup_s=300, end_s=600, window_s=60).passed
    empty = memory_verdict([], warmup_s=300, end_s=600, window_s=60)
    assert not empty.passed and math.isnan(empty.growth)
    assert not memory_verdict(_flat(200.0, end_s=320), warmup_s=300, end_s=600, window_s=60).passed


@unit
def test_memory_window_is_a_minute_or_a_third_of_a_short_run() -> None:
    assert memory_window_s(300, 1800) == 60
    assert memory_window_s(10, 40) == 10


@unit
def test_lag_bounded_rule() -> None:
    margin = lag_margin_records(1000)
    assert margin == 5000 and lag_margin_records(1) == 100
    steady = [(float(t), 800 if t % 20 else 3000) for t in range(0, 1801, 10)]
    verdict = lag_verdict(steady, warmup_s=300, end_s=1800, margin_records=margin)
    assert verdict.passed and verdict.first_max_records == verdict.second_max_records == 3000
    # Falling behind by 10 readings/s: 15,000 more records at the end than at the middle.
    growing = [(float(t), 10 * t) for t in range(0, 1801, 10)]
    verdict = lag_verdict(growing, warmup_s=300, end_s=1800, margin_records=margin)
    assert not verdict.passed and verdict.second_max_records == 18000
    # The warm-up's backlog does not count.
    backlog = [(float(t), 50000 if t < 300 else 100) for t in range(0, 1801, 10)]
    assert lag_verdict(backlog, warmup_s=300, end_s=1800, margin_records=margin).passed
    # A service that consumes nothing has no lag to be unbounded.
    none = lag_verdict([], warmup_s=300, end_s=1800, margin_records=margin)
    assert none.passed and none.first_max_records is None


@unit
def test_parse_lag_sums_every_series() -> None:
    page = (
        "# HELP pantau_consumer_lag_records Records between a group's position and the log end\n"
        "# TYPE pantau_consumer_lag_records gauge\n"
        'pantau_consumer_lag_records{group="g",partition="0",topic="t"} 3.0\n'
        'pantau_consumer_lag_records{group="g",partition="1",topic="t"} 4.0\n'
        'pantau_records_consumed_total{topic="t",worker="w"} 99.0\n'
    )
    assert parse_lag(page) == 7
    assert parse_lag('pantau_records_consumed_total{topic="t",worker="w"} 99.0\n') is None


@unit
def test_bucket_percentiles() -> None:
    points = [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0), (25.0, 5.0)]
    assert bucket_percentiles(points, 10, 30) == [(10, 20.0, 30.0, 3), (30, 5.0, 5.0, 1)]


@unit
def test_svg_chart_parses_with_one_polyline_per_series_and_axis_labels() -> None:
    series = {
        "archiver": [(0.0, 120.0), (10.0, 121.5), (20.0, 122.0)],
        'console "ws"': [(0.0, 140.0), (10.0, math.nan), (20.0, 141.0)],
        "empty": [],
    }
    text = svg_line_chart("Resident memory", series, "time (s)", "RSS (MiB)")
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    lines = root.findall(f"{SVG}polyline")
    assert [line.get("data-series") for line in lines] == list(series)
    assert len(lines[0].get("points", "").split()) == 3
    assert len(lines[1].get("points", "").split()) == 2  # the nan point left out
    assert lines[2].get("points") == ""
    texts = {t.get("class"): t.text for t in root.findall(f"{SVG}text")}
    assert texts["x-label"] == "time (s)" and texts["y-label"] == "RSS (MiB)"
    every_text = [t.text for t in root.findall(f"{SVG}text")]
    assert "Resident memory" in every_text and "archiver" in every_text
    # No data at all still makes a valid chart.
    assert ET.fromstring(svg_line_chart("nothing", {}, "x", "y")).tag == f"{SVG}svg"


def _result(leak_service: str | None = None) -> SoakResult:
    result = SoakResult(
        command="pantau soak --duration-s 600 --warmup-s 300",
        started_at=datetime(2026, 11, 29, tzinfo=UTC),
        duration_s=600,
        warmup_s=300,
        rate_per_s=1000,
        cameras=16,
        sensors=500,
        sample_interval_s=10,
        services=SERVICES,
    )
    for t in range(0, 601, 10):
        for service in SERVICES:
            rss = 100.0 + (0.2 * t if service == leak_service else 0.0)
            lag = 50 if service in ("archiver", "detectors") else None
            result.samples.append(Sample(float(t), service, rss, lag, 0))
    result.latencies = {READING_TO_ALERT: [(t / 10, 30.0 + t % 7) for t in range(6000)], FRAME_TO_INCIDENT: []}
    result.offered = result.produced = result.archived = 600_000
    result.triggers = 6000
    return result


@unit
def test_report_files(tmp_path: Path) -> None:
    report = write_report(_result(), tmp_path / "soak")
    text = report.read_text()
    assert "PASS: memory flat" in text and "PASS: nothing lost" in text and "FAIL" not in text
    for service in SERVICES:
        assert f"| {service} |" in text
    for name in ("memory.svg", "lag.svg", "latency.svg"):
        root = ET.fromstring((tmp_path / "soak" / name).read_text())
        assert root.findall(f"{SVG}polyline"), name
        assert f"({name})" in text
    lag_lines = ET.fromstring((tmp_path / "soak" / "lag.svg").read_text()).findall(f"{SVG}polyline")
    assert [line.get("data-series") for line in lag_lines] == ["archiver", "detectors"]
    with (tmp_path / "soak" / "samples.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["series"] for r in rows if r["metric"] == "rss_mb"} == set(SERVICES)
    assert any(r["metric"] == "latency_p99_ms" and r["series"] == READING_TO_ALERT for r in rows)


@unit
def test_verdicts_fail_on_a_leak_a_loss_and_a_restart() -> None:
    assert _result().passed()
    leaky = _result("console")
    assert not leaky.verdicts()["memory flat (< 10 % growth after warm-up)"]
    assert leaky.memory("console").growth == pytest.approx((214 - 166) / 166)  # medians at 330 s and 570 s
    lost = _result()
    lost.archived -= 1
    assert not lost.verdicts()["nothing lost (archived = produced)"]
    restarted = _result()
    restarted.samples[-1] = Sample(600.0, restarted.samples[-1].service, 100.0, None, 1)
    assert not restarted.verdicts()["no service restarted"]


@pytest.mark.integration
def test_short_soak_every_service(stack: Stack, tmp_path: Path) -> None:
    """40 s of every service with 2 cameras and 50 readings/s: the report is written, every service was
    sampled, and every reading produced was archived."""
    result = run_soak(
        duration_s=40, rate_per_s=50, cameras=2, warmup_s=10, sensors=20, trigger_every=10, sample_interval_s=5
    )
    report = write_report(result, tmp_path / "soak")
    for name in ("report.md", "samples.csv", "memory.svg", "lag.svg", "latency.svg"):
        assert (tmp_path / "soak" / name).stat().st_size > 0, name
    for service in SERVICES:
        points = result.rss_points(service)
        assert len(points) >= 8 and all(mb > 10 for _, mb in points), service
    for service in ("archiver", "alerting", "detectors", "camera-detectors", "camera-health"):
        assert result.lag_points(service), service
    assert result.produced == result.offered == 2000
    assert result.archived == result.produced
    assert result.verdicts()["nothing lost (archived = produced)"]
    assert result.latencies[READING_TO_ALERT], "no alert reached the websocket"
    assert "nothing lost" in report.read_text()
