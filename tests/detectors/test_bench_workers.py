"""``pantau bench workers``: its argument parsing, metrics parsing and report; and one short real run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from detectors.bench_workers import (
    WorkersBenchReport,
    WorkersRun,
    _config,
    _cpu_ticks,
    bench_workers,
    parse_frames_counter,
    parse_workers,
)
from detectors.zones.config import CameraDetectorsConfig
from pantau.config import load_config_file, parse_section
from pantau.stack import Stack


@pytest.mark.unit
def test_parse_workers_accepts_positive_counts_and_refuses_the_rest() -> None:
    assert parse_workers("1,2,3") == [1, 2, 3]
    assert parse_workers(" 4 , 1,") == [4, 1]
    for bad in ("", "0,1", "-1", "a"):
        with pytest.raises(ValueError):
            parse_workers(bad)


@pytest.mark.unit
def test_frames_counter_sums_every_camera_and_ignores_other_metrics() -> None:
    text = "\n".join(
        [
            "# HELP pantau_frames_analysed_total Frames the camera detectors analysed",
            "# TYPE pantau_frames_analysed_total counter",
            'pantau_frames_analysed_total{camera="cam-00"} 120.0',
            'pantau_frames_analysed_total{camera="cam-01"} 30.0',
            'pantau_frames_analysed_created{camera="cam-00"} 1.7e+09',
            'pantau_records_consumed_total{topic="x",worker="camera-detectors"} 999.0',
        ]
    )
    assert parse_frames_counter(text) == 150
    assert parse_frames_counter("") == 0


@pytest.mark.unit
def test_report_renders_one_row_per_worker_count() -> None:
    report = WorkersBenchReport(cameras=16, offered_frames_per_s=800, duration_s=60)
    report.runs.append(WorkersRun(1, 60.0, 12_000, [12_000], [97.5], 30_000, 48_000))
    report.runs.append(WorkersRun(2, 60.0, 21_000, [10_000, 11_000], [90.0, 92.0], 20_000, 48_000))
    text = report.render()
    assert "offered 800 frames/s" in text
    assert "| 1 | 200 | 200 | 98 | 30,000 |" in text
    assert "| 2 | 350 | 167 / 183 | 90 / 92 | 20,000 |" in text


@pytest.mark.unit
def test_bench_config_is_a_valid_camera_detectors_config(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(_config(3))
    config = parse_section(CameraDetectorsConfig, load_config_file(path), str(path))
    assert [c.id for c in config.cameras] == ["cam-00", "cam-01", "cam-02"]


@pytest.mark.unit
def test_cpu_ticks_of_this_process_are_read_from_proc() -> None:
    assert _cpu_ticks(os.getpid()) >= 0


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_one_and_two_workers_both_process_frames(stack: Stack) -> None:
    report = bench_workers(cameras=4, workers=[1, 2], duration_s=6.0, fps=25.0)
    assert [run.workers for run in report.runs] == [1, 2]
    for run in report.runs:
        assert run.frames_processed > 0, report.render()
        assert len(run.per_worker_frames) == run.workers
