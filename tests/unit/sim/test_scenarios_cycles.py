"""Scenarios that repeat: their shape, and the period the benchmark's spec declares."""

from __future__ import annotations

import numpy as np
import pytest

from forescale.sim import bench_spec, scenarios
from forescale.sim.sizing import ReplicaCapacity

CAPACITY = ReplicaCapacity(32.0, 6400.0, 30.0, 28.5, 150.0, 200.0, 200.0)


def test_the_workday_is_busy_from_nine_to_five_every_day() -> None:
    shape = scenarios.shape("workday")
    hours = np.arange(0.0, 3 * 86400.0, 3600.0) + 1800.0
    busy = shape(hours, 3 * 86400.0) == 1.0
    clock = (hours % 86400.0) // 3600.0
    assert np.array_equal(busy, (clock >= 9) & (clock < 17))
    assert set(np.unique(shape(hours, 3 * 86400.0))) == {0.2, 1.0}
    assert scenarios.cycle_seconds("workday", 3 * 86400.0) == 86400.0


def test_the_recurring_job_comes_at_the_same_time_of_each_of_three_cycles() -> None:
    duration = 5400.0
    period = scenarios.cycle_seconds("recurring", duration)
    assert period == 1800.0
    shape = scenarios.shape("recurring")
    t = np.arange(0.0, duration, 1.0)
    busy = shape(t, duration) == 1.0
    for cycle in range(3):
        inside = busy[int(cycle * period) : int((cycle + 1) * period)]
        onset = int(np.argmax(inside))
        assert onset == 900
        assert inside.sum() == pytest.approx(600, abs=1)


@pytest.mark.parametrize("name", ["steady", "step", "ramp", "flash", "flash2", "diurnal"])
def test_the_other_scenarios_declare_no_cycle(name: str) -> None:
    assert scenarios.cycle_seconds(name, 1800.0) is None


def test_a_declared_cycle_reaches_the_spec_and_an_undeclared_one_keeps_the_crd_default() -> None:
    common = {
        "policy": "predictive",
        "knob_value": 0.99,
        "capacity": CAPACITY,
        "cold_start_seconds": 180.0,
        "slo_ttft_seconds": 2.0,
        "max_replicas": 16,
        "uniform_scale_down": True,
    }
    cycle = bench_spec.spec_document(**common, season_period_seconds=1800.0)  # type: ignore[arg-type]
    plain = bench_spec.spec_document(**common)  # type: ignore[arg-type]
    assert bench_spec.parameters(cycle).season_period_seconds == 1800.0
    assert bench_spec.parameters(plain).season_period_seconds == 86400.0
    assert "scaling.seasonPeriodSeconds" not in bench_spec.overrides(plain)
