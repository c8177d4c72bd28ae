"""The forecaster recovers level, trend and season of synthetic series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forescale.policy.forecasting import (
    ForecasterState,
    SmoothingParameters,
    forecast,
    predict,
    update,
    z_score,
)


def fit(series: list[float], params: SmoothingParameters) -> ForecasterState:
    state = ForecasterState()
    for value in series:
        state = update(state, params, value)
    return state


def test_holt_recovers_a_linear_trend() -> None:
    params = SmoothingParameters(phi=1.0)
    state = fit([10 + 2 * t for t in range(60)], params)
    assert state.trend == pytest.approx(2.0, rel=0.01)
    assert predict(state, params, 10) == pytest.approx(10 + 2 * 69, rel=0.01)


def test_damped_trend_flattens_far_forecasts() -> None:
    damped = SmoothingParameters(beta=0.3, phi=0.9)
    state = fit([float(t) for t in range(60)], damped)
    near = predict(state, damped, 1) - 59
    far_gain = predict(state, damped, 100) - predict(state, damped, 50)
    assert near > 0.5
    assert far_gain < 0.1


def test_holt_winters_recovers_the_season() -> None:
    period = 12
    params = SmoothingParameters(alpha=0.3, beta=0.05, gamma=0.3, phi=1.0, season_length=period)
    shape = [5 * math.sin(2 * math.pi * i / period) for i in range(period)]
    series = [50 + 0.1 * t + shape[t % period] for t in range(20 * period)]
    state = fit(series, params)
    ahead = [predict(state, params, h) for h in range(1, period + 1)]
    truth = [
        50 + 0.1 * (len(series) - 1 + h) + shape[(len(series) - 1 + h) % period]
        for h in range(1, period + 1)
    ]
    assert np.max(np.abs(np.array(ahead) - np.array(truth))) < 0.5


def test_upper_bound_widens_with_noise_and_horizon() -> None:
    rng = np.random.default_rng(1)
    params = SmoothingParameters()
    quiet = fit([100.0] * 80, params)
    noisy = fit(list(100 + rng.normal(0, 10, 80)), params)
    z = z_score(0.95)
    assert forecast(quiet, params, 5, z).upper == pytest.approx(100.0, abs=1e-6)
    noisy_near = forecast(noisy, params, 1, z)
    noisy_far = forecast(noisy, params, 13, z)
    assert noisy_near.upper > noisy_near.mean + 5
    assert noisy_far.upper > noisy_near.upper


def test_state_round_trips_through_a_dict() -> None:
    params = SmoothingParameters(season_length=4)
    state = fit([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], params)
    assert ForecasterState.from_dict(state.to_dict()) == state


def test_z_scores() -> None:
    assert z_score(0.95) == pytest.approx(1.6449, abs=1e-4)
    assert z_score(0.975) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError):
        z_score(1.0)


def test_non_finite_samples_are_refused() -> None:
    with pytest.raises(ValueError):
        update(ForecasterState(), SmoothingParameters(), math.nan)
