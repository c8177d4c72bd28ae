"""The held-out shapes: each is what its docstring says, and the mix shift moves the work."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from forescale.sim import scenarios, scenarios_unseen

DURATION = 1800.0
SECONDS = np.arange(0.0, DURATION, 1.0) + 0.5


@pytest.mark.parametrize("name", sorted(scenarios_unseen.SHAPES))
def test_each_held_out_shape_is_a_scenario_within_zero_and_its_peak(name: str) -> None:
    curve = scenarios.shape(name)(SECONDS, DURATION)
    assert curve.min() > 0.0
    assert curve.max() <= 1.0
    if name != "mixshift":
        assert curve.max() == pytest.approx(1.0, abs=0.01)
    assert scenarios.cycle_seconds(name, DURATION) is None


def test_the_sawtooth_climbs_three_times_and_drops_at_once() -> None:
    curve = scenarios.shape("sawtooth")(SECONDS, DURATION)
    drops = np.flatnonzero(np.diff(curve) < -0.5)
    assert len(drops) == 3
    climbing = np.diff(curve[:400])
    assert (climbing > 0).all()


def test_the_stairs_rise_by_a_quarter_of_the_peak_each_quarter() -> None:
    curve = scenarios.shape("stairs")(SECONDS, DURATION)
    assert sorted(set(np.round(curve, 6))) == [0.25, 0.5, 0.75, 1.0]
    assert curve[449] == 0.25 and curve[450] == 0.5 and curve[-1] == 1.0


def test_onoff_bursts_last_half_a_minute_to_two_minutes() -> None:
    bursts = scenarios_unseen.onoff_bursts(DURATION)
    lengths = [end - start for start, end in bursts]
    lulls = [later[0] - earlier[1] for earlier, later in pairwise(bursts)]
    assert len(bursts) >= 5
    assert min(lengths) >= 30 and max(lengths) <= 120
    assert min(lulls) >= 60 and max(lulls) <= 240
    curve = scenarios.shape("onoff")(SECONDS, DURATION)
    assert set(np.unique(curve)) == {0.15, 1.0}
    assert (curve == 1.0).sum() == pytest.approx(
        sum(min(e, DURATION) - s for s, e in bursts), abs=len(bursts)
    )


def test_the_surge_climbs_over_one_cold_start_and_holds() -> None:
    curve = scenarios.shape("surge")(SECONDS, DURATION)
    assert curve[599] == pytest.approx(0.3)
    assert curve[690] == pytest.approx(0.65, abs=0.01)
    assert curve[780:1200].min() == pytest.approx(1.0)
    assert curve[-1] == pytest.approx(0.3)


def test_the_mix_shift_doubles_outputs_from_half_time_at_an_unchanged_rate() -> None:
    trace = scenarios.synthesize("mixshift", 40.0, DURATION, seed=3)
    half = trace.arrivals >= DURATION / 2
    early, late = trace.output_tokens[~half], trace.output_tokens[half]
    assert late.mean() / early.mean() == pytest.approx(2.0, rel=0.1)
    assert half.mean() == pytest.approx(0.5, abs=0.02)
    assert trace.prompt_tokens[half].mean() == pytest.approx(
        trace.prompt_tokens[~half].mean(), rel=0.1
    )
