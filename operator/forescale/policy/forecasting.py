"""Holt / Holt-Winters forecasting of a regularly sampled load series, with an upper bound.

Why this forecaster: the load an LLM deployment sees is a level that drifts (trend) and,
over days, repeats (season). Additive Holt-Winters captures both in a handful of numbers,
updates in O(season) per sample, needs no training phase and no library beyond the
standard one, and its state is small enough to persist in a Kubernetes annotation. The
trend is damped (``phi < 1``) because the forecast is extrapolated over a cold start of
minutes: an undamped trend fitted on a burst would run away.

The upper bound is the point forecast plus ``z`` times the exponentially weighted standard
deviation of the one-step-ahead errors, widened with the horizon like a random walk
(``sqrt(h)``). It is not a formal prediction interval of the ETS model (that needs the
model's variance recursion); it is a cheap, monotone and well-behaved quantile estimate
that is good enough to size a safety margin.

The functions are pure: state in, new state out. Samples are assumed to arrive one per
control interval; the caller converts a horizon in seconds into a number of steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from forescale.policy.envelope import amount

#: Standard normal quantiles for the confidence levels a spec may ask for.
_Z_BY_QUANTILE: dict[float, float] = {
    0.5: 0.0,
    0.8: 0.8416,
    0.9: 1.2816,
    0.95: 1.6449,
    0.99: 2.3263,
}


def z_score(quantile: float) -> float:
    """Standard normal quantile for ``quantile`` in [0.5, 1), by bisection on ``erf``."""
    if quantile in _Z_BY_QUANTILE:
        return _Z_BY_QUANTILE[quantile]
    if not 0.5 <= quantile < 1.0:
        raise ValueError(f"quantile must be in [0.5, 1), got {quantile}")
    low, high = 0.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < quantile:
            low = mid
        else:
            high = mid
    return (low + high) / 2


@dataclass(frozen=True)
class SmoothingParameters:
    """Smoothing constants of the additive Holt-Winters recursions."""

    alpha: float = 0.6
    """Level smoothing: high reacts fast to a new level."""
    beta: float = 0.3
    """Trend smoothing."""
    gamma: float = 0.1
    """Season smoothing (unused without a season)."""
    phi: float = 0.98
    """Trend damping per step: 1 is Holt's linear trend, below 1 flattens far forecasts."""
    error_smoothing: float = 0.1
    """Weight of the newest squared one-step error in the error variance."""
    season_length: int = 0
    """Samples per season; 0 disables seasonality (Holt's method)."""

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma", "error_smoothing"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if not 0.0 < self.phi <= 1.0:
            raise ValueError(f"phi must be within (0, 1], got {self.phi}")
        if self.season_length < 0 or self.season_length == 1:
            raise ValueError(f"season_length must be 0 or >= 2, got {self.season_length}")


@dataclass(frozen=True)
class ForecasterState:
    """Everything the recursions remember: a few floats plus one value per season slot."""

    samples: int = 0
    level: float = 0.0
    trend: float = 0.0
    season: tuple[float, ...] = ()
    """Seasonal offsets, indexed by ``samples % season_length`` (empty until initialised)."""
    warmup: tuple[float, ...] = ()
    """The first season's raw samples, kept only until the season can be initialised."""
    error_variance: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "samples": self.samples,
            "level": self.level,
            "trend": self.trend,
            "season": list(self.season),
            "warmup": list(self.warmup),
            "error_variance": self.error_variance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ForecasterState:
        return cls(
            samples=int(_amount(data, "samples")),
            level=_number(data, "level"),
            trend=_number(data, "trend"),
            season=_numbers(data, "season"),
            warmup=_numbers(data, "warmup"),
            error_variance=_amount(data, "error_variance"),
        )


@dataclass(frozen=True)
class Forecast:
    """A forecast over a horizon: the mean and upper bound at the horizon's worst step."""

    mean: float
    upper: float
    steps: int


def _number(data: dict[str, object], key: str) -> float:
    value = data[key]
    if not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _amount(data: dict[str, object], key: str) -> float:
    return amount(_number(data, key), key)


def _numbers(data: dict[str, object], key: str) -> tuple[float, ...]:
    values = data[key]
    if not isinstance(values, list):
        raise ValueError(f"{key} must be a list, got {values!r}")
    out = []
    for value in values:
        if not isinstance(value, (int, float)):
            raise ValueError(f"{key} holds a non-number {value!r}")
        out.append(float(value))
    return tuple(out)


def _seasonal(state: ForecasterState, params: SmoothingParameters, ahead: int) -> float:
    if not state.season:
        return 0.0
    return state.season[(state.samples + ahead - 1) % params.season_length]


def _damped_sum(phi: float, steps: int) -> float:
    """phi + phi^2 + ... + phi^steps (equals ``steps`` when phi is 1)."""
    if phi == 1.0:
        return float(steps)
    return phi * (1 - phi**steps) / (1 - phi)


def predict(state: ForecasterState, params: SmoothingParameters, ahead: int) -> float:
    """Point forecast ``ahead`` steps after the last sample (``ahead >= 1``)."""
    if state.samples == 0:
        return 0.0
    if params.season_length and not state.season:
        return sum(state.warmup) / len(state.warmup)
    return (
        state.level + _damped_sum(params.phi, ahead) * state.trend + _seasonal(state, params, ahead)
    )


def update(state: ForecasterState, params: SmoothingParameters, value: float) -> ForecasterState:
    """Absorb one sample and return the new state."""
    if not math.isfinite(value):
        raise ValueError(f"cannot forecast from a non-finite sample {value!r}")
    m = params.season_length
    if state.samples == 0:
        return ForecasterState(samples=1, level=value, warmup=(value,) if m else ())
    if m and not state.season:
        warmup = (*state.warmup, value)
        if len(warmup) < m:
            return replace(state, samples=state.samples + 1, warmup=warmup)
        level = sum(warmup) / m
        # The warm-up season's index i holds sample i, so offsets line up with samples % m.
        return ForecasterState(
            samples=state.samples + 1,
            level=level,
            trend=0.0,
            season=tuple(v - level for v in warmup),
            error_variance=sum((v - level) ** 2 for v in warmup) / m,
        )
    error = value - predict(state, params, 1)
    season_now = _seasonal(state, params, 1)
    level = params.alpha * (value - season_now) + (1 - params.alpha) * (
        state.level + params.phi * state.trend
    )
    trend = params.beta * (level - state.level) + (1 - params.beta) * params.phi * state.trend
    season = state.season
    if m:
        slot = state.samples % m
        new_offset = params.gamma * (value - level) + (1 - params.gamma) * season_now
        season = (*season[:slot], new_offset, *season[slot + 1 :])
    variance = (
        1 - params.error_smoothing
    ) * state.error_variance + params.error_smoothing * error**2
    return ForecasterState(
        samples=state.samples + 1,
        level=level,
        trend=trend,
        season=season,
        error_variance=variance,
    )


def forecast(state: ForecasterState, params: SmoothingParameters, steps: int, z: float) -> Forecast:
    """The largest point forecast over steps 1..``steps``, and its upper bound.

    Capacity must cover the whole horizon, not only its end, so the worst step counts; a
    falling forecast therefore never sizes below the next step's demand.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    sigma = math.sqrt(max(state.error_variance, 0.0))
    best_mean = -math.inf
    best_upper = -math.inf
    for ahead in range(1, steps + 1):
        mean = max(predict(state, params, ahead), 0.0)
        upper = mean + z * sigma * math.sqrt(ahead)
        best_mean = max(best_mean, mean)
        best_upper = max(best_upper, upper)
    return Forecast(mean=best_mean, upper=best_upper, steps=steps)
