"""The forecast never plans beyond what the arrivals showed: peak, margin and ongoing rise."""

from __future__ import annotations

import pytest

from forescale.policy import ScalingParameters
from forescale.policy.deciding import peak_bound

from .support import run

PARAMS = ScalingParameters(
    min_replicas=1, max_replicas=200, capacity_requests_per_second=10.0, target_utilization=1.0
)
#: One burst a minute and a half long every 5 minutes (15 s intervals), peaking at 300 req/s:
#: the shape of the Azure code trace, whose bursts are shorter than a cold start.
BURST = [0.0] * 12 + [50.0, 150.0, 250.0, 300.0, 250.0, 150.0, 50.0, 0.0]


def test_the_bound_is_peak_plus_margin_plus_the_ongoing_rise() -> None:
    history = [(0.0, 100.0), (60.0, 300.0), (120.0, 80.0), (300.0, 200.0)]
    # Samples a horizon (240 s) old or older: 100 and 300 (t <= 60); peak of the window 300.
    bound = peak_bound(history, 200.0, 300.0, 240.0, PARAMS)
    assert bound is not None
    assert (bound.peak, bound.rise) == (300.0, 0.0)
    assert bound.limit == pytest.approx(330.0)
    # A rate above everything seen a horizon ago adds its rise once more.
    bound = peak_bound([*history[:-1], (300.0, 400.0)], 400.0, 300.0, 240.0, PARAMS)
    assert bound is not None
    assert (bound.peak, bound.rise) == (400.0, 100.0)
    assert bound.limit == pytest.approx(400.0 * 1.1 + 100.0)


def test_no_bound_without_a_sample_a_horizon_old_or_when_disabled() -> None:
    assert peak_bound([(200.0, 10.0), (300.0, 20.0)], 20.0, 300.0, 240.0, PARAMS) is None
    disabled = ScalingParameters(peak_window_seconds=0.0)
    assert peak_bound([(0.0, 10.0), (300.0, 20.0)], 20.0, 300.0, 240.0, disabled) is None


def test_bursts_are_not_planned_beyond_their_observed_peak() -> None:
    """The Holt trend of a burst's rise and its widened band planned several times the peak."""
    rates = BURST * 6
    unbounded = run(rates, ScalingParameters(**{**PARAMS.__dict__, "peak_window_seconds": 0.0}))
    bounded = run(rates, PARAMS)
    late = slice(len(BURST) * 3, None)  # once a burst is older than the horizon
    assert max(d.forecast_requests_per_second or 0.0 for d in unbounded[late]) > 2 * 300.0
    assert max(d.forecast_requests_per_second or 0.0 for d in bounded[late]) <= 300.0 * 1.1 + 1e-9
    assert max(d.desired_replicas for d in bounded[late]) <= 33
    capped = [d.reason for d in bounded[late] if "capped at" in d.reason]
    assert capped
    assert "(peak 300.0 req/s within 900 s + 10%)" in capped[0]


def test_a_sustained_rise_is_not_cut() -> None:
    """On a ramp the bound keeps the rise of the last horizon, so the forecast decides."""
    ramp = [10.0 + 2.0 * i for i in range(60)]
    bounded = run(ramp, PARAMS)
    unbounded = run(ramp, ScalingParameters(**{**PARAMS.__dict__, "peak_window_seconds": 0.0}))
    assert [d.desired_replicas for d in bounded] == [d.desired_replicas for d in unbounded]
    assert not [d.reason for d in bounded if "capped at" in d.reason]
    assert bounded[-1].forecast_requests_per_second is not None
    assert bounded[-1].forecast_requests_per_second > ramp[-1]
