"""The scaling decision: observations, state, spec and counts in; a Decision out.

The rule, for the ``predictive`` policy:

1. **Trust the data or hold.** No observation, a stale or non-fresh one, no replica
   reporting, or any NaN/infinite/negative signal: keep the current count (inside
   min/max) and say why. Zero is what a broken exporter reads as, and zero load is exactly
   what would make an autoscaler scale down.
2. **Learn** capacity and cold start from the new observation (see ``learning``), and feed
   the arrival rate to the Holt(-Winters) forecaster.
3. **Demand** over the horizon (learned cold start + one control interval + the lag of the
   observed rate) is the larger of
   the current arrival rate and the forecast's upper quantile. A **fast path** handles
   sudden spikes the smoothed forecast lags on: when arrivals exceed ``spike_ratio`` times
   the level the forecaster expected, or the queue builds, or TTFT breaks the SLO, the
   current rise is extrapolated over the horizon (at most doubling the current rate).
   Both are **bounded by what was observed**: the highest arrival rate of the last
   ``peak_window_seconds`` plus ``peak_margin``, plus the rise of the arrival rate over the
   last horizon above the peak seen before it (a rise is assumed to go on as fast over the
   next horizon). A Holt trend fitted on a one-minute burst, or a band widened by burst
   variance, would otherwise plan for several times any rate the deployment has seen.
4. **Replicas** = demand / (per-replica capacity x target utilization), in requests/s and,
   when known, generated tokens/s (the larger wins), plus what drains the waiting queue
   within ``backlog_drain_seconds``. Replicas still loading count as supply: they absorb
   the backlog term, so a queue that builds while pods load does not add more pods.
5. **Guards**: scale-up step limits, slow stabilized scale-down (never while pods load,
   never before the policy has watched a full stabilization window), min/max.

``reactive`` is the same rule on the current arrival rate (no forecast, no extrapolation);
``fixed`` always asks for ``min_replicas``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from forescale.metrics.observation import SIGNALS, Observation
from forescale.policy import learning
from forescale.policy.decision import Action, Decision
from forescale.policy.forecasting import (
    SmoothingParameters,
    forecast,
    predict,
    update,
    z_score,
)
from forescale.policy.limiting import limit_down, limit_up, remember
from forescale.policy.parameters import PolicyKind, ReplicaCounts, ScalingParameters
from forescale.policy.state import PolicyState

#: Samples the forecaster needs before its trend and the spike path are trusted. A rate
#: window that is still filling (a new deployment, a restarted scrape) looks like a steep
#: rise; two minutes of 15 s samples cover a 60 s window twice. Until then: current demand.
FORECAST_WARMUP_SAMPLES = 8
#: The fast path extrapolates a spike to at most this multiple of the current arrival rate.
SPIKE_EXTRAPOLATION_CAP = 2.0


@dataclass(frozen=True)
class PeakBound:
    """The most demand the observed arrivals justify over the horizon."""

    limit: float
    peak: float
    """Highest arrival rate within the peak window (the current one included)."""
    rise: float
    """How far the current rate exceeds the peak seen before the last horizon."""


def peak_bound(
    history: Sequence[tuple[float, float]],
    arrival: float,
    at: float,
    horizon: float,
    params: ScalingParameters,
) -> PeakBound | None:
    """Bound on planned demand from (time, rate) ``history`` (which includes ``at``).

    ``peak x (1 + peak_margin) + rise``, where ``rise`` is the current rate's excess over
    the highest rate observed at least one horizon ago: the load may go on rising over the
    next horizon as fast as it rose over the last one, and may come back to any peak of the
    window, but nothing the arrivals never showed is planned for. None (no bound) when the
    bound is disabled or no observation is a horizon old yet.
    """
    if params.peak_window_seconds <= 0:
        return None
    before = [rate for t, rate in history if t <= at - horizon]
    if not before:
        return None
    peak = max([arrival, *(rate for _, rate in history)])
    rise = max(0.0, arrival - max(before))
    return PeakBound(peak * (1 + params.peak_margin) + rise, peak, rise)


def smoothing(params: ScalingParameters) -> SmoothingParameters:
    return SmoothingParameters(season_length=params.season_length_intervals)


def _clamp(replicas: int, params: ScalingParameters) -> int:
    return min(max(replicas, params.min_replicas), params.max_replicas)


def _action(current: int, desired: int) -> Action:
    if desired > current:
        return Action.SCALE_UP
    if desired < current:
        return Action.SCALE_DOWN
    return Action.HOLD


def _hold(current: int, why: str, state: PolicyState, params: ScalingParameters) -> Decision:
    desired = _clamp(current, params)
    if desired != current:
        verb = "up" if desired > current else "down"
        reason = f"Scaled {verb} from {current} to {desired} to respect min/max replicas; {why}"
    else:
        reason = f"Holding at {current}: {why}"
    return Decision(
        desired_replicas=desired,
        action=_action(current, desired),
        reason=reason,
        state=state,
        horizon_seconds=learning.horizon_seconds(state, params),
    )


def _bad_signal(obs: Observation) -> str | None:
    for name in ("timestamp", *SIGNALS):
        value = getattr(obs, name)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            return f"{name} is {value!r}"
    return None


def _data_problem(obs: Observation | None, params: ScalingParameters, now: float) -> str | None:
    if obs is None:
        return "no observation yet"
    bad = _bad_signal(obs)
    if bad is not None:
        return f"invalid metric ({bad}), not acting on it"
    age = now - obs.timestamp
    limit = params.staleness_limit_seconds
    if age > limit:
        return f"metrics are stale (read {age:.0f} s ago, limit {limit:.0f} s)"
    if not obs.fresh:
        # The read is recent but its newest sample is not: scrapes have stopped arriving.
        return f"metrics are stale (no new samples within {limit:.0f} s)"
    if obs.replicas_reporting <= 0:
        return "no replica reports metrics"
    missing = [name for name in ("arrival_rate", "waiting") if getattr(obs, name) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    return None


def decide(
    observations: Sequence[Observation],
    state: PolicyState,
    params: ScalingParameters,
    counts: ReplicaCounts,
    now: float,
) -> Decision:
    """Decide the replica count for one LLMDeployment. Pure and deterministic."""
    problems = counts.problems
    if problems:
        current = counts.desired if isinstance(counts.desired, int) and counts.desired > 0 else 0
        return _hold(current, f"replica counts invalid ({'; '.join(problems)})", state, params)
    current = counts.desired
    if params.policy is PolicyKind.FIXED:
        desired = params.min_replicas
        if desired == current:
            return _hold(current, "fixed policy", state, params)
        verb = "up" if desired > current else "down"
        return replace(
            _hold(current, "", state, params),
            desired_replicas=desired,
            action=_action(current, desired),
            reason=f"Scaled {verb} from {current} to {desired}: fixed policy at minReplicas",
        )
    obs = observations[-1] if observations else None
    problem = _data_problem(obs, params, now)
    if problem is not None or obs is None:
        return _hold(current, problem or "no observation yet", state, params)
    arrival = float(obs.arrival_rate or 0.0)
    waiting = float(obs.waiting or 0.0)
    smooth = smoothing(params)
    expected = predict(state.forecaster, smooth, 1) if state.forecaster.samples else arrival
    previous = state
    if state.last_observation_at is None or obs.timestamp > state.last_observation_at:
        state = learning.learn(state, obs, counts, params)
        state = replace(
            state,
            forecaster=update(state.forecaster, smooth, arrival),
            last_observation_at=obs.timestamp,
            first_observation_at=state.first_observation_at or obs.timestamp,
            last_arrival_rate=arrival,
            arrival_history=tuple(
                (t, rate)
                for t, rate in (*state.arrival_history, (obs.timestamp, arrival))
                if t > obs.timestamp - params.peak_window_seconds
            ),
        )
    cap_rps, cap_tps = learning.capacity(state, params)
    if cap_rps is None:
        return _hold(
            current, "per-replica capacity unknown: set capacity in the spec", state, params
        )
    horizon = learning.horizon_seconds(state, params)
    steps = max(1, math.ceil(horizon / params.control_interval_seconds))
    queue_building = waiting >= params.slo_queue_per_replica * max(counts.ready, 1)
    slow = obs.ttft_p95 is not None and obs.ttft_p95 > params.slo_ttft_p95_seconds
    surprise = arrival > params.spike_ratio * expected and arrival > 0.5 * cap_rps
    spike = surprise or queue_building or slow
    notes: list[str] = []
    warming = state.forecaster.samples < FORECAST_WARMUP_SAMPLES
    if params.policy is PolicyKind.PREDICTIVE and warming:
        demand = arrival
        label = (
            f"demand {demand:.1f} req/s (forecaster warming up,"
            f" {state.forecaster.samples} of {FORECAST_WARMUP_SAMPLES} samples)"
        )
    elif params.policy is PolicyKind.PREDICTIVE:
        predicted = forecast(state.forecaster, smooth, steps, z_score(params.forecast_quantile))
        demand = max(predicted.upper, arrival)
        label = f"forecast {demand:.1f} req/s in {horizon:.0f} s"
        last_rate, last_at = previous.last_arrival_rate, previous.last_observation_at
        if spike and last_rate is not None and last_at is not None and obs.timestamp > last_at:
            slope = max(arrival - last_rate, 0.0) / (obs.timestamp - last_at)
            extrapolated = min(arrival + slope * horizon, SPIKE_EXTRAPOLATION_CAP * arrival)
            if extrapolated > demand:
                demand = extrapolated
                label = (
                    f"spike: arrivals {arrival:.1f} req/s rising to {demand:.1f} req/s"
                    f" in {horizon:.0f} s"
                )
        bound = peak_bound(state.arrival_history, arrival, obs.timestamp, horizon, params)
        if bound is not None and demand > bound.limit:
            demand = max(bound.limit, arrival)
            rise = (
                f" + rise {bound.rise:.1f} req/s over the last {horizon:.0f} s"
                if bound.rise > 0
                else ""
            )
            label = (
                f"{label}, capped at {demand:.1f} req/s (peak {bound.peak:.1f} req/s"
                f" within {params.peak_window_seconds:.0f} s + {params.peak_margin:.0%}{rise})"
            )
    else:
        demand = arrival
        label = f"demand {demand:.1f} req/s"
    utilization = params.target_utilization
    needed = demand / (cap_rps * utilization)
    if cap_tps and state.tokens_per_request:
        needed = max(needed, demand * state.tokens_per_request / (cap_tps * utilization))
    backlog = waiting / (cap_rps * params.backlog_drain_seconds)
    backlog_extra = max(0.0, backlog - counts.pending)
    if backlog_extra > 0:
        notes.append(f"backlog {waiting:.0f} waiting")
    required = _clamp(math.ceil(needed + backlog_extra - 1e-9), params)
    recommendations = remember(
        state.recommendations, now, required, params.scale_down_stabilization_seconds
    )
    state = replace(state, recommendations=recommendations)
    supply = current * cap_rps * utilization
    explain = f"{label} vs capacity {supply:.1f} req/s of {current} replicas"

    def sized(desired: int, reason: str, new_state: PolicyState) -> Decision:
        return Decision(
            desired_replicas=desired,
            action=_action(current, desired),
            reason=reason,
            state=new_state,
            horizon_seconds=horizon,
            forecast_requests_per_second=demand,
            required_replicas=required,
            capacity_requests_per_second=cap_rps,
        )

    if required > current:
        limited = limit_up(current, required, state.scale_ups, params, now)
        desired = limited.replicas
        if limited.limited_by:
            notes.append(limited.limited_by)
        if desired > current:
            state = replace(
                state,
                scale_ups=remember(
                    state.scale_ups, now, desired - current, params.scale_up_period_seconds
                ),
            )
            detail = f" ({'; '.join(notes)})" if notes else ""
            return sized(
                desired, f"Scaled up from {current} to {desired}: {explain}{detail}", state
            )
        return sized(
            current,
            f"Holding at {current}: {required} needed for {explain}; {'; '.join(notes)}",
            state,
        )
    if required < current:
        watched = now - (state.first_observation_at or now)
        if counts.pending > 0:
            why = f"{counts.pending} replicas still loading"
            desired = current
        elif watched < params.scale_down_stabilization_seconds:
            why = f"only {watched:.0f} s of history, scale-down needs a full stabilization window"
            desired = current
        else:
            limited = limit_down(current, recommendations, state.scale_downs, params, now)
            desired, why = limited.replicas, limited.limited_by or ""
        if desired < current:
            state = replace(
                state,
                scale_downs=remember(
                    state.scale_downs, now, current - desired, params.scale_down_period_seconds
                ),
            )
            detail = f" ({why})" if why else ""
            return sized(
                desired, f"Scaled down from {current} to {desired}: {explain}{detail}", state
            )
        return sized(
            current, f"Holding at {current}: {required} would do for {explain}, but {why}", state
        )
    return sized(current, f"Holding at {current}: {explain}", state)
