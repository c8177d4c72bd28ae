"""The base the envelope multiplies: the forecaster's highest point over the horizon, with
its trend only where the trend is more than noise, and never below the level."""

from __future__ import annotations

from dataclasses import replace

from forescale.policy.deciding import base_forecast
from forescale.policy.forecasting import ForecasterState, SmoothingParameters, update

SMOOTH = SmoothingParameters()
STEPS = 16  # a 240 s horizon at 15 s
WINDOW = 60.0


def fit(series: list[float]) -> ForecasterState:
    state = ForecasterState()
    for value in series:
        state = update(state, SMOOTH, value)
    return state


def test_a_falling_trend_does_not_lower_the_base_below_the_level() -> None:
    """A dip from 50 to 30 req/s fits a steep falling trend; extrapolated, the base was far
    below the level (on the Azure conv trace: 19 req/s for arrivals of 37), and the burst
    windows measured against it taught a 3.3x envelope."""
    state = fit([50.0] * 20 + [45.0, 40.0, 35.0, 30.0])
    assert state.trend < -2.0
    assert base_forecast(state, SMOOTH, STEPS, WINDOW) >= state.level


def test_a_steady_climb_is_extrapolated() -> None:
    state = fit([100.0 + 2.0 * t for t in range(40)])
    assert base_forecast(state, SMOOTH, STEPS, WINDOW) > state.level + 10 * 2.0


def test_a_trend_within_the_traffic_s_own_noise_is_not_extrapolated() -> None:
    """Bursts shorter than a cold start (0 to 300 req/s and back every 5 minutes) are far
    burstier than a Poisson stream: the rising edge of the next burst fits a steep trend
    that the forecaster's own error shows is noise. Against counting noise alone it was
    extrapolated over the horizon."""
    burst = [0.0] * 12 + [50.0, 150.0, 250.0, 300.0, 250.0, 150.0, 50.0, 0.0]
    state = fit(burst * 4 + [0.0] * 12 + [50.0, 150.0])
    assert state.trend > 10.0
    flat = replace(state, trend=0.0)
    assert base_forecast(state, SMOOTH, STEPS, WINDOW) == base_forecast(flat, SMOOTH, STEPS, WINDOW)
