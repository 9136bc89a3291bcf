"""``pantau bench console`` at a tiny scale: every client gets every change, and the figures are reported."""

from __future__ import annotations

import numpy as np
import pytest

from console.bench import TARGET_P99_MS, ConsoleBenchReport, bench_console
from pantau.stack import Stack


@pytest.mark.integration
def test_every_client_gets_every_change_once_and_the_figures_are_reported(stack: Stack) -> None:
    report = bench_console(clients=20, rate_per_s=20.0, duration_s=3.0, alerts=50)

    assert report.errors == []
    assert report.produced == 60
    assert report.snapshot_alerts == 50  # each client first got the seeded board
    assert report.received == [60] * 20
    assert report.missing == [0] * 20 and report.duplicates == [0] * 20
    assert report.complete_clients == 20
    assert report.stale == 0 and report.unexpected == 0 and report.resyncs == 0
    assert len(report.latencies_ms) == 60 * 20
    assert 0 < report.pct(50) <= report.pct(99) <= report.pct(100) < 10_000
    assert set(report.rss_kib) == {"before", "connected", "end", "peak"}
    assert all(kib > 10_000 for kib in report.rss_kib.values())
    assert set(report.cpu_pct) == {"console", "clients", "producer", "machine"}
    text = report.render()
    for figure in ("latency p50", "latency p95", "latency p99", "console RSS before clients", "20 of 20"):
        assert figure in text
    assert "verdict: target p99 < 250 ms" in text and "every client got every change exactly once" in text


@pytest.mark.unit
def test_the_verdict_is_about_p99_and_completeness() -> None:
    report = ConsoleBenchReport(clients=2, rate_per_s=10.0, duration_s=1.0, alerts=5, client_processes=1)
    report.produced = 10
    report.received, report.missing, report.duplicates = [10, 9], [0, 1], [0, 0]
    report.latencies_ms = np.sort(np.array([5.0] * 98 + [TARGET_P99_MS + 1, TARGET_P99_MS + 2]))
    assert report.pct(50) == 5.0 and report.pct(99) == TARGET_P99_MS + 2
    assert not report.target_met
    assert "MISSED" in report.verdict() and "NOT every client" in report.verdict()
    report.latencies_ms = np.sort(np.array([5.0] * 100))
    report.received, report.missing = [10, 10], [0, 0]
    assert report.target_met and report.verdict().endswith("every client got every change exactly once")
