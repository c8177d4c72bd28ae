"""The season benchmark's per-day figures and table."""

from __future__ import annotations

import numpy as np
import pytest

from forescale.sim import bench_season, scenarios
from forescale.sim.fleet import RunResult, Timeline
from forescale.sim.traces import Trace


class _Prepared:
    """The two things ``days_of`` reads of a prepared trace."""

    def __init__(self, arrivals: np.ndarray) -> None:
        zeros = np.zeros(len(arrivals), dtype=np.int64)
        self.trace = Trace("workday", arrivals, zeros, zeros)
        self.warmup_seconds = 300.0


def _result(ttft: np.ndarray, ticks: np.ndarray, existing: np.ndarray) -> RunResult:
    nan = np.full(len(ticks), np.nan)
    timeline = Timeline(ticks, existing, existing, existing, nan)
    return RunResult("x", ttft, 0, 0.0, 0, 0.0, timeline)


def test_days_split_attainment_onset_and_gpu_hours() -> None:
    day = scenarios.DAY_SECONDS
    warm = 300.0
    nine = scenarios.WORKDAY_HOURS[0]
    # Day 1: one request at 09:30 late, one at noon on time; day 2: two on time.
    arrivals = np.array([warm + nine + 1800, warm + 12 * 3600, warm + day + 100, warm + day + 200])
    ttft = np.array([5.0, 0.5, 0.5, np.nan])
    ticks = np.arange(warm, warm + 2 * day, 15.0)
    existing = np.where(ticks < warm + day, 2.0, 4.0)
    figures = bench_season.days_of(_Prepared(arrivals), _result(ttft, ticks, existing), 2.0, 2)  # type: ignore[arg-type]
    first, second = figures
    assert first.attainment == pytest.approx(0.5)
    assert first.onset_attainment == pytest.approx(0.0)
    assert first.gpu_hours == pytest.approx(48.0, rel=1e-3)
    assert second.attainment == pytest.approx(0.5)  # the dropped request is a miss
    assert second.onset_attainment is None
    assert second.gpu_hours == pytest.approx(96.0, rel=1e-3)


def test_the_table_has_a_cell_per_day_and_the_whole_run() -> None:
    rows = [
        {
            "policy": "forescale",
            "seed": seed,
            "slo_attainment": 0.99,
            "gpu_hours": 300.0 + seed,
            "days": [
                {"day": d + 1, "attainment": 0.98, "onset_attainment": 0.9 + d / 100,
                 "gpu_hours": 100.0}
                for d in range(3)
            ],
        }
        for seed in (0, 1)
    ]  # fmt: skip
    text = bench_season.table(rows, 3)
    line = next(x for x in text.splitlines() if x.startswith("| forescale |"))
    assert line.count("|") == 6
    assert "98.00 % (09-10: 92.00 %) / 100.0" in line
    assert line.endswith("| 99.00 % / 300.5 |")


def test_fewer_than_three_days_is_refused() -> None:
    with pytest.raises(SystemExit):
        bench_season.main(["--days", "2"])
