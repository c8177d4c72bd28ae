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

    It knows every future arrival. The benchmark hands it a per-second plan
    (:func:`oracle_plan`: the need of short windows, each replica started one p99 cold
    start ahead and kept through short gaps); at each tick it asks for the most the plan
    holds from now until ``horizon_seconds`` ahead (the next tick).
    """

    need: IntArray
    """Replicas to run, per second of the trace (e.g. :func:`oracle_plan`)."""
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


def oracle_plan(need: IntArray, lead_seconds: float, keep_gap_seconds: float) -> IntArray:
    """Replicas to run each second so that the need of every second is met, in hindsight.

    Each replica (one level of the need curve) is started ``lead_seconds`` (a p99 cold start
    plus a control interval) before the first second that needs it, and a replica whose
    level falls idle for less than ``keep_gap_seconds`` (one cold start) is kept rather than
    stopped and restarted, as a person planning with the whole trace in hand would.
    """
    seconds = len(need)
    lead = max(0, math.ceil(lead_seconds))
    padded = np.concatenate([need, np.zeros(lead, dtype=np.int64)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, lead + 1)
    ahead = windows.max(axis=1)[:seconds]
    gap = math.ceil(keep_gap_seconds)
    plan = np.zeros(seconds, dtype=np.int64)
    for level in range(1, int(ahead.max(initial=0)) + 1):
        on = ahead >= level
        where = np.flatnonzero(on)
        if len(where) == 0:
            break
        holes = np.flatnonzero(np.diff(where) > 1)
        for hole in holes:
            start, end = where[hole] + 1, where[hole + 1]
            if end - start < gap:
                on[start:end] = True
        plan += on
    result: IntArray = plan.astype(np.int64)
    return result


def fluid_gpu_seconds(trace: Trace, per_replica: tuple[float, float, float]) -> float:
    """Total work over one replica's rate at the SLO: no autoscaler can spend less.

    The tightest of requests, prompt tokens and generated tokens, as if work could be split
    across replicas and over time at will (no cold start, no rounding, no queueing noise).
    """
    totals = (
        float(len(trace)),
        float(trace.prompt_tokens.sum()),
        float(trace.output_tokens.sum()),
    )
    return max(total / rate for total, rate in zip(totals, per_replica, strict=True))
