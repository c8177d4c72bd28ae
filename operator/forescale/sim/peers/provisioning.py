"""Non-autoscalers that bound the comparison: a clairvoyant oracle and fixed peak provisioning.

The oracle is the GPU-hours yardstick (it knows the future); fixed provisioning at the
peak is the SLO yardstick (it never lacks capacity, and pays for it all the time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forescale.sim.scaler import ScalerInput, ScalerOutput
from forescale.sim.traces import IntArray, Trace


@dataclass
class OracleScaler:
    """Clairvoyant provisioning: the GPU-hours yardstick, not a deployable autoscaler.

    It knows every future arrival. The replicas a moment needs are the next minute's
    request and token rates divided by one replica's planning rates (the tightest, rounded
    up; see :func:`need_per_second`); at each tick it asks
    for the most any moment needs from now until a (p99) cold start plus one interval
    ahead, so capacity is Ready when the load arrives and released as soon as it passes.
    """

    need: IntArray
    """Replicas needed, per second of the trace (see :func:`need_per_second`)."""
    horizon_seconds: float
    min_replicas: int
    max_replicas: int
    name: str = "oracle"
    interval_seconds: float = 15.0

    def decide(self, view: ScalerInput) -> ScalerOutput:
        start = int(view.now)
        end = start + math.ceil(self.horizon_seconds) + 1
        window = self.need[start:end]
        desired = int(window.max()) if len(window) else self.min_replicas
        return ScalerOutput(min(max(desired, self.min_replicas), self.max_replicas))


@dataclass
class FixedScaler:
    """Fixed provisioning at the trace's peak need: no autoscaling at all."""

    replicas: int
    name: str = "fixed"
    interval_seconds: float = 15.0

    def decide(self, view: ScalerInput) -> ScalerOutput:
        return ScalerOutput(self.replicas)


def need_per_second(
    trace: Trace, per_replica: tuple[float, float, float], window_seconds: float = 60.0
) -> IntArray:
    """Replicas each second needs over the following window.

    ``per_replica`` is what one replica is planned to sustain in (requests, prompt tokens,
    generated tokens) per second; the tightest of the three counts, because a production
    mix drifts (the conv trace's mean output varies 2x between its 5-minute blocks).
    """
    seconds = max(1, math.ceil(trace.duration) + 1)
    width = int(window_seconds)
    bins = np.floor(trace.arrivals).astype(np.int64)
    # Near the end the window is cut short by the trace: average over what remains.
    span = np.clip(seconds - np.arange(seconds), 1, width).astype(np.float64)
    need = np.zeros(seconds)
    weights = (None, trace.prompt_tokens, trace.output_tokens)
    for weight, capacity in zip(weights, per_replica, strict=True):
        counts = np.bincount(bins, weights=weight, minlength=seconds)[:seconds]
        cumulative = np.concatenate([[0.0], np.cumsum(np.concatenate([counts, np.zeros(width)]))])
        ahead = cumulative[width : width + seconds] - cumulative[:seconds]
        need = np.maximum(need, ahead / span / capacity)
    result: IntArray = np.ceil(need - 1e-9).astype(np.int64)
    return result
