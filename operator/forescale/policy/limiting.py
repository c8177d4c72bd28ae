"""Guards between a recommendation and a replica count: stabilization and step limits.

They follow the Kubernetes HPA's ``behavior`` semantics on purpose, so that an SRE who knows
HPA reads them without a manual: each direction changes per period by at most the larger of
a pod step and a percentage of the replicas at the period's start; scale-up goes only to the
lowest recommendation of its stabilization window (0 s by default), scale-down only to the
highest of its own. Scaling
up is cheap to undo, scaling down during a dip that a spike follows costs a cold start, so
the asymmetry is deliberate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from forescale.policy.parameters import ScalingParameters


@dataclass(frozen=True)
class Limited:
    replicas: int
    limited_by: str | None
    """Which guard changed the recommendation (None when none did)."""


def _within(
    events: tuple[tuple[float, int], ...], now: float, window: float
) -> tuple[tuple[float, int], ...]:
    return tuple((t, n) for t, n in events if now - t < window)


def _recommended(
    recommendations: tuple[tuple[float, int], ...], now: float, window: float
) -> list[int]:
    """The recommendations of a stabilization window, the current one always among them:
    a window of 0 s (the API allows it, as HPA does) acts on it alone."""
    return [n for t, n in recommendations if now - t < window or t == now]


def remember(
    events: tuple[tuple[float, int], ...], now: float, value: int, window: float
) -> tuple[tuple[float, int], ...]:
    """Append ``(now, value)`` and drop entries older than ``window`` seconds."""
    return (*_within(events, now, window), (now, value))


def limit_up(
    current: int,
    recommended: int,
    scale_ups: tuple[tuple[float, int], ...],
    params: ScalingParameters,
    now: float,
) -> Limited:
    """Cap a scale-up by the step/percent allowed in the current period."""
    added = sum(n for _, n in _within(scale_ups, now, params.scale_up_period_seconds))
    period_start = max(current - added, 0)
    allowed = max(
        params.scale_up_max_step, math.ceil(period_start * params.scale_up_max_percent / 100)
    )
    ceiling = min(period_start + allowed, params.max_replicas)
    if recommended <= ceiling:
        return Limited(recommended, None)
    if ceiling <= current:
        return Limited(
            current,
            f"scale-up limit reached for this {params.scale_up_period_seconds:.0f} s period",
        )
    return Limited(
        ceiling,
        f"limited to +{allowed} per {params.scale_up_period_seconds:.0f} s from {period_start}",
    )


def limit_down(
    current: int,
    recommendations: tuple[tuple[float, int], ...],
    scale_downs: tuple[tuple[float, int], ...],
    params: ScalingParameters,
    now: float,
) -> Limited:
    """Scale down to the window's highest recommendation, at most a step per period.

    ``recommendations`` must already contain the current one.
    """
    window_s, period_s = params.scale_down_stabilization_seconds, params.scale_down_period_seconds
    stabilized = max(_recommended(recommendations, now, window_s))
    if stabilized >= current:
        return Limited(
            current,
            f"stabilized: {stabilized} recommended within the last {window_s:.0f} s",
        )
    removed = sum(n for _, n in _within(scale_downs, now, params.scale_down_period_seconds))
    period_start = current + removed
    step = max(
        params.scale_down_max_step,
        math.floor(period_start * params.scale_down_max_percent / 100),
    )
    allowed = step - removed
    if allowed <= 0:
        return Limited(
            current,
            f"scale-down limit of {step} per {period_s:.0f} s reached",
        )
    if current - stabilized > allowed:
        return Limited(
            current - allowed,
            f"limited to -{step} per {period_s:.0f} s",
        )
    return Limited(stabilized, None)


def stabilize_up(
    recommended: int,
    recommendations: tuple[tuple[float, int], ...],
    params: ScalingParameters,
    now: float,
) -> int:
    """Scale up only to the lowest recommendation of the scale-up stabilization window.

    ``recommendations`` must already contain the current one; a window of 0 returns
    ``recommended`` unchanged (the default: scale-up acts at once).
    """
    window = params.scale_up_stabilization_seconds
    if window <= 0:
        return recommended
    return min(_recommended(recommendations, now, window))
