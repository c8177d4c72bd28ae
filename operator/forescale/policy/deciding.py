"""The scaling decision: observations, state, spec and counts in; a Decision out.

The rule, for the ``predictive`` policy:

1. **Trust the data or hold.** No observation, a stale or non-fresh one, no replica
   reporting, or any NaN/infinite/negative signal: keep the current count (inside
   min/max) and say why. Zero is what a broken exporter reads as, and zero load is exactly
   what would make an autoscaler scale down.
2. **Learn** capacity and cold start from the new observation (``learning``), feed the
   arrival rate to the Holt forecaster and to its slot of the traffic's cycle
   (``season``), close the burst-envelope windows whose horizon has passed and open one
   with this decision's base (``envelope``); where the forecast runs below ``min_replicas``'
   capacity (the floor), open one in the floor's own envelope too, against the forecast.
3. **Demand** is the peak expected within the horizon (learned cold start + one control
   interval + the lag of the observed rate): the forecaster's base times the burst envelope
   at the SLO's attainment quantile (a Poisson prior until a window has closed; below the
   floor, once it rests on evidence, the forecast times the floor's envelope when that is
   lower), the
   envelope's headroom bounded by the highest rate the deployment has shown, with a fast
   path for arrivals beyond the envelope (``demand``); and at least a rise both of the
   last two cycles showed at this time of the cycle, which the bound does not cap.
4. **Replicas** = demand / one replica's capacity within the SLO in requests/s, or, when
   known and larger, the traffic's level (the forecast without the envelope's headroom) at
   the rate today's mix allows in generated tokens/s at today's context (prompt + half the
   output, against the load test's; ``learning``), plus what drains the waiting queue within
   ``backlog_drain_seconds``. Replicas still loading count as supply: they absorb the
   backlog term, so a queue that builds while pods load does not add more pods. Once the
   queue drains, the drain rate counts the replicas that hold it, not the Ready count.
5. **Guards**: HPA-style step limits and stabilization windows in both directions, no
   scale-down while pods load or before the policy has watched a full stabilization
   window, min/max.

``reactive`` is the same rule on the current arrival rate (no forecast, no envelope);
``fixed`` keeps the count ``spec.replicas`` set (no autoscaling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from forescale.metrics.observation import SIGNALS, Observation
from forescale.policy import demand as planning
from forescale.policy import envelope, learning, season
from forescale.policy.decision import Action, Decision
from forescale.policy.demand import peak_bound
from forescale.policy.forecasting import (
    ForecasterState,
    SmoothingParameters,
    forecast,
    predict,
    update,
)
from forescale.policy.limiting import limit_down, limit_up, remember, stabilize_up
from forescale.policy.parameters import PolicyKind, ReplicaCounts, ScalingParameters
from forescale.policy.state import PolicyState

#: Samples the forecaster needs before its trend and the spike path are trusted (it takes
#: none while the first rate window fills, see ``_absorb``). Until then: current demand.
FORECAST_WARMUP_SAMPLES = 8
#: A trend is extrapolated only when it adds more than this many standard deviations of
#: the rate window's counting noise over the horizon.
TREND_SIGNIFICANCE_SIGMAS = 3.0
#: Scale down only when the need, raised by one standard deviation of the counting noise
#: of the rate it is measured from (``1 / sqrt(rate x window)``), fits the lower count, and
#: by at most the HPA's 10 % tolerance: a need hovering at a whole number (3.0 +- a token
#: estimate's drift at 2 req/s) must not take a replica away and give it back a moment
#: later, and a fleet at 271 req/s, whose need is known to 0.8 %, may still run at 98 %.
#: The token term's need of the level takes the same tolerance the other way
#: (``_replicas_for``); the plan's does not.
RATE_TOLERANCE = 0.1


@dataclass(frozen=True)
class Seasonal:
    """What the season says this decision: the base (0: no recurring rise), the outlook it
    came from, and where a rise the last two cycles showed at this time ends."""

    base: float
    outlook: season.Outlook | None
    ceiling: season.Ceiling | None


def rate_tolerance(rate: float, window_seconds: float) -> float:
    """How well a need measured from ``rate`` is known: the rate's counting noise over the
    window, at most 10 % (the margin a scale-down leaves, and the token term's scale-up)."""
    requests = rate * window_seconds
    if requests <= 0:
        return RATE_TOLERANCE
    return min(RATE_TOLERANCE, 1.0 / math.sqrt(requests))


def _floor(state: PolicyState, params: ScalingParameters) -> float:
    """The lowest base the shared envelope is measured against: the request rate
    ``min_replicas`` serve, as the sizing counts it (``_serving_rate``).

    A burst from near idle is many times its base; measured against zero it would be
    infinite. Below this floor the fleet is at its minimum anyway, so the shared envelope's
    ratios and plans use the floor instead (learning and planning alike, so they stay
    consistent); the floor's own envelope measures against the forecast, and a plan below
    the floor uses it once it has the evidence and plans lower (``_envelope_for``). It is the
    rate the sizing turns back into exactly ``min_replicas``: at the requests capacity
    alone, a mix heavier than the load test's made the floor itself ask for more through
    the token term (`make demo`: 65 output tokens per request against the load test's 64
    planned 2.2 req/s for a steady 1 req/s, and 1.05 replicas rounded up to 2).
    """
    cap_rps, cap_tps = learning.capacity(state, params)
    if cap_rps is None:
        return 0.0
    tps_now = learning.tokens_per_second_now(cap_tps, state, params)
    rate, _ = _serving_rate(cap_rps, tps_now, state.tokens_per_request, params)
    return rate * params.min_replicas


def _envelope_for(  # noqa: PLR0917 (each a different quantity)
    state: PolicyState,
    forecast: float,
    seasonal_rate: float,
    lowest: float,
    mean: float,
    horizon: float,
    params: ScalingParameters,
) -> tuple[float, float, float | None, bool]:
    """The base a plan multiplies, the envelope, the learned quantile (None: the prior) and
    whether they are the floor's own (``PolicyState.floor_envelope``).

    The shared envelope over ``max(forecast, lowest)`` (the floor), unless the forecast
    (with the season's rate) runs below the floor, the floor's envelope rests on evidence
    (``envelope.trusted``) and its plan, over the forecast itself (``below_floor``), is lower.

    Why two. The shared envelope's quantile is carried by the busy minutes (its weights are
    requests), and its ratios are peaks over those minutes' own forecasts. Applied to the
    floor, a base the traffic does not reach, it held ``min_replicas`` + 1 all night on
    BurstGPT's conversation log at 0.8-8 req/s ("forecast 12.2 req/s x burst envelope 1.22
    = 14.8 req/s"), half of a day's GPU-hours over ``keda`` @ 0.9. Below the floor the
    windows measure their peaks against the forecast, as the busy ones do: a quiet night
    then plans its own noise, which ``min_replicas`` covers, and a burst from idle is
    learned at its full size (base and ratio multiply back to the peak it reached).

    Why only lower. A plan just below the floor must not exceed the plan just above it
    (the shared envelope over a forecast at the floor): the floor is where the fleet's
    minimum begins, not a threshold past which the traffic turns burstier. Where the
    floor's windows peaked further above their forecast than the shared plan reaches (the
    Azure code trace, whose quiet minutes are the gaps before its bursts: 6.7-9.2x at the
    median), the shared plan stands, as before the floor's envelope existed: using the
    floor's whenever it rested on evidence moved code's 0.5 knob point from 93.15 % at
    5.78 GPU-hours to 100 % at 6.67, and a fixed fleet beat every forescale point on two
    held-out code windows.
    """
    base = max(forecast, lowest)
    window = params.rate_window_seconds
    ratio, learned = envelope.envelope(
        state.envelope, base, mean, window, horizon, params.attainment
    )
    idle = below_floor(max(forecast, seasonal_rate), lowest, params)
    if idle is not None and envelope.trusted(state.floor_envelope, params.attainment):
        lower, quantile = envelope.envelope(
            state.floor_envelope, idle, mean, window, horizon, params.attainment
        )
        if idle * lower < base * ratio:
            return idle, lower, quantile, True
    return base, ratio, learned, False


def below_floor(forecast: float, floor: float, params: ScalingParameters) -> float | None:
    """The base a window below the floor opens with, and the plan there multiplies; None
    where the forecast (the season's base included) reaches the floor (``_floor``).

    One test for learning (``_absorb``) and planning (``_envelope_for``), so the floor's
    envelope plans exactly where it learned. The base is the forecast, but at least one
    request per rate window (the least non-zero rate the window reads), so a burst from
    silence is a finite ratio that the same base multiplies back to the burst's size."""
    if forecast >= floor:
        return None
    return max(forecast, 1.0 / params.rate_window_seconds)


def _serving_rate(
    cap_rps: float,
    tps_now: float | None,
    tokens_per_request: float | None,
    params: ScalingParameters,
) -> tuple[float, bool]:
    """Requests/s one replica serves within the SLO over a rate window, and whether the
    token term is what limits it.

    Demand is a peak of rates over the rate window: a replica may end such a window with
    the queue it tolerates (slo.queuePerReplica), so it serves that many more requests per
    window than its steady capacity without the queue counting as building. In tokens, at
    today's output tokens per request and today's context (``learning``), it serves
    ``tokens/s / tokens per request`` requests/s; the lower of the two is returned (the
    floor and the backlog size arrivals at today's mix; ``_replicas_for`` the plan).
    """
    slack = params.slo_queue_per_replica / params.rate_window_seconds
    by_requests = cap_rps + slack
    if tps_now and tokens_per_request:
        by_tokens = (tps_now + slack * tokens_per_request) / tokens_per_request
        if by_tokens < by_requests:
            return by_tokens, True
    return by_requests, False


def _replicas_for(  # noqa: PLR0917 (the plan, its level, the two capacities, the noise)
    demand: float,
    level: float,
    cap_rps: float,
    per_replica: float,
    by_tokens: bool,
    params: ScalingParameters,
    tolerance: float,
) -> tuple[float, bool]:
    """Replicas for the plan's ``demand`` at the requests capacity, or for its ``level`` at
    the rate today's mix allows (``_serving_rate``) if that is more; and whether it is.

    The level's need is a mean measured through the rate's counting noise, so it adds a
    replica only beyond that noise (``tolerance``, the level's ``rate_tolerance``; the
    scale-down leaves the same margin the other way, so a need hovering at a whole number
    neither adds a replica nor takes one away): conv's 60.2 req/s at its mix read 6.09
    replicas and ran a 7th that a rate-target KEDA never ran, both at 100 %. The plan
    takes no tolerance: it already is the attainment quantile's, set by the knob.

    The token term sizes the level, not the envelope's peak. The envelope and the peak
    bound are learned over request rates, and the requests capacity from intervals that
    met the SLO, bursts' mixes included: the headroom for a burst is in requests. The
    token term is for a mix heavier than the load test's for as long as it lasts, which
    the level carries. Multiplied, the two asked for a burst at the heaviest mix on top of
    the heaviest rate, and a burst's mix is not the mean's: conv's output tokens per
    request fall from 268 to 183 as its rate climbs from 55 to 86 req/s. With the product,
    conv ran 7-8 replicas where a rate-target KEDA ran 6, both at 100 % (7.79 against 6.49
    GPU-h; 7.00 with the level, code 8.19 -> 7.64, 5 seeds, attainment unchanged).
    """
    by_requests = demand / _serving_rate(cap_rps, None, None, params)[0]
    at_mix = level / per_replica / (1 + tolerance)
    if by_tokens and at_mix > by_requests:
        return at_mix, True
    return by_requests, False


def _aside(notes: Sequence[str]) -> str:
    """The notes an Event adds after its numbers, in parentheses (nothing if none)."""
    return f" ({'; '.join(notes)})" if notes else ""


def _queue_holders(holders: int, previous: Observation | None, obs: Observation) -> int:
    """The replicas that were serving while the waiting queue grew: the most that can hold it.

    The router assigns each request at arrival, so a queue stays on the replicas it grew on;
    a replica Ready after it stopped growing takes arrivals and holds none of it. The count
    is kept while the queue lasts and grows with it: each interval in which the queue grew
    adds the replicas serving through that interval (those at both ends of it). Without an
    earlier reading every serving replica may hold part of it.
    """
    waiting = obs.waiting or 0.0
    if waiting <= 0:
        return 0
    if previous is not None and previous.waiting is not None and waiting > previous.waiting:
        return max(holders, min(previous.replicas_reporting, obs.replicas_reporting))
    return holders or obs.replicas_reporting


def _backlog_replicas(  # noqa: PLR0917 (the queue, the fleet, and the sizing's figures)
    waiting: float,
    arrival: float,
    completions: float | None,
    counts: ReplicaCounts,
    cap_rps: float,
    drain_rps: float,
    holders: int,
    needed: float,
    per_replica: float,
    horizon: float,
    params: ScalingParameters,
) -> tuple[float, str]:
    """Replicas the waiting queue takes out of serving arrivals, on top of ``needed``, and
    the note that says so.

    The queue is pinned to the replicas that hold it (the router assigns at arrival): new
    replicas drain it only by taking the arrivals off them, so at most one new replica per
    holder helps, however long the queue (asking more held 16 replicas for a one-minute
    need of 7 on a step). While the queue builds, any replica serving while it grew may
    hold part of it (``holders``, ``_queue_holders``), none that became Ready after: a
    step's queue built on 2 replicas, and counting the 10 that joined once it had stopped
    growing asked 16 replicas for a need of 9 and 2 holders. Ready replicas the arrivals
    leave spare already take the arrivals off the holders (the router sends each request
    to the least loaded), so new replicas add nothing the spare ones do not (flash: 9
    Ready for 180 req/s, 4 of them spare, and a pinned queue on the 3 old ones asked 4
    more, Ready after the crowd).

    Once it drains (completions above arrivals), the drain itself counts the holders: each
    works its own queue at a saturated replica's throughput (``drain_rps``) and takes no
    arrivals, so the queue shrinks by holders x that throughput (step: 12-16 Ready drained
    33,000 requests at 75-80 req/s, two replicas' worth, whether 12 or 16 were Ready; never
    more holders than drain what is left within ``backlog_drain_seconds``). The holders
    are busy now; the plan (``needed``) is for the peak within the horizon. A queue that
    will be gone before the horizon ends asks only that today's arrivals and the holders
    fit together; one that outlasts it keeps its holders out of the plan's fleet too. The
    drain counts the holders only while at least one Ready replica is spare for the
    arrivals: on a saturated fleet every replica takes arrivals and may hold part of the
    queue, the drain understates them, and the rule while it builds holds (counted from
    the drain there too, `reactive` on ramp at 1.0 lost 2.0 points and on diurnal 1.5).
    """
    held_by = min(counts.ready, holders)
    backlog = min(waiting / (drain_rps * params.backlog_drain_seconds), float(held_by))
    spare = max(0.0, counts.ready - arrival / cap_rps)
    if completions is not None and completions > arrival and spare >= 1.0:
        drain = completions - arrival
        working = min(drain / drain_rps, backlog)
        note = f"backlog {waiting:.0f} waiting, draining at {drain:.1f} req/s"
        note += f" ({working:.1f} replicas hold it)"
        if waiting / drain <= horizon:
            note += f", gone within the {horizon:.0f} s horizon"
            return max(0.0, arrival / per_replica + working - needed), note
        return working, note
    note = f"backlog {waiting:.0f} waiting"
    if held_by < counts.ready:
        note += f" on the {held_by} replicas that served while it grew"
    return max(0.0, backlog - counts.pending - spare), note


def _absorb(  # noqa: PLR0917 (one new sample and everything it updates)
    state: PolicyState,
    obs: Observation,
    previous: Observation | None,
    arrival: float,
    counts: ReplicaCounts,
    params: ScalingParameters,
    smooth: SmoothingParameters,
) -> tuple[PolicyState, Seasonal | None, float | None]:
    """Learn from one new observation (``previous``: the one before it, if kept): capacity,
    cold start, forecaster, season, envelope, peaks, the queue's holders. Also the season's
    base and the forecaster's (``base_forecast``) this decision plans with (None while the
    forecaster warms up), so the decision asks neither a second time (walking the horizon
    twice made 18.5 % of a decision's Python calls, docs/benchmarks.md)."""
    first = obs.timestamp if state.first_observation_at is None else state.first_observation_at
    # A rate over a window that began before the first sample is a partial window: a new
    # deployment (or a restarted scrape) reads as a steep rise that is no load's, and its
    # ratios of rates (tokens per request) are those of replicas that just began serving.
    filled = obs.timestamp - first >= params.rate_window_seconds
    state = learning.learn(state, obs, counts, params, window_filled=filled)
    horizon = learning.horizon_seconds(state, params)
    steps = max(1, math.ceil(horizon / params.control_interval_seconds))
    forecaster = state.forecaster
    cycle = state.season
    if filled:
        forecaster = update(forecaster, smooth, arrival)
        cycle = season.observe(
            cycle,
            obs.timestamp,
            arrival,
            params.season_period_seconds,
            params.control_interval_seconds,
        )
    base = seasonal = trended = None
    below: float | None = None  # the base of a window opened below the floor
    if forecaster.samples >= FORECAST_WARMUP_SAMPLES:
        # The base a window opens with is the one this decision plans with: the season's
        # recurring rise included, so a rise it foresaw teaches the envelope no burst.
        seasonal = seasonal_base(forecaster, cycle, obs.timestamp, horizon, params)
        trended = base_forecast(forecaster, smooth, steps, params.rate_window_seconds)
        forecast = max(trended, seasonal.base)
        floor = _floor(state, params)
        below = below_floor(forecast, floor, params)
        base = max(forecast, floor)
    half_life = params.memory_half_life_seconds
    remembered = state.remembered_peak
    if remembered is not None and state.last_observation_at is not None:
        remembered *= 0.5 ** ((obs.timestamp - state.last_observation_at) / half_life)
    peak = max(remembered or 0.0, arrival)
    # Keep one horizon of arrival rates and remembered peaks (and a few intervals more: the
    # bound needs one that old): the bound's rise is the rise above the peak a horizon ago,
    # the Poisson prior's mean rate the arrivals' mean over the horizon.
    keep = horizon + 4 * params.control_interval_seconds
    # A window's ratio is over the highest base the scale-down stabilization still holds.
    held = min(horizon, params.scale_down_stabilization_seconds)
    absorbed = replace(
        state,
        forecaster=forecaster,
        season=cycle,
        envelope=envelope.observe(
            state.envelope,
            obs.timestamp,
            arrival,
            base,
            horizon,
            half_life,
            held,
        ),
        # Every open window sees the arrivals; only those opened below the floor teach it.
        floor_envelope=envelope.observe(
            state.floor_envelope,
            obs.timestamp,
            arrival,
            below,
            horizon,
            half_life,
            held,
        ),
        remembered_peak=peak,
        queue_holders=_queue_holders(state.queue_holders, previous, obs),
        last_observation_at=obs.timestamp,
        first_observation_at=first,
        last_arrival_rate=arrival,
        arrival_history=tuple(
            (t, rate, peak_then)
            for t, rate, peak_then in (*state.arrival_history, (obs.timestamp, arrival, peak))
            if t > obs.timestamp - keep
        ),
        noise_history=tuple(
            (t, variance)
            for t, variance in (
                *state.noise_history,
                (obs.timestamp, _reading_variance(forecaster, params.rate_window_seconds)),
            )
            if t > obs.timestamp - keep
        ),
    )
    return absorbed, seasonal, trended


def _reading_variance(forecaster: ForecasterState, window: float) -> float:
    """The variance of one reading of the rate: the rate window's counting noise (a Poisson
    count over ``window`` seconds) or the forecaster's one-step error, the larger."""
    return max(max(forecaster.level, 0.0) / window, forecaster.error_variance)


def _climb_variance(state: PolicyState, at: float, horizon: float, window: float) -> float:
    """The variance of one reading a climb is judged against: the counting noise now, or
    the forecaster's one-step error as it was one horizon ago, before the rise.

    Not today's one-step error: a climb makes the forecaster err by its own rise at every
    step, so the bar it had to clear rose with it (ramp, seed 0: the standard deviation of
    the difference of two readings from 1.5 to 3.9 req/s within 60 s of the climb's
    start, and the climb was recognised only 90 s in). The error measured before
    the rise still holds the bursts of traffic burstier than Poisson (Azure code).
    """
    counting = max(state.forecaster.level, 0.0) / window
    before = [variance for t, variance in state.noise_history if t <= at - horizon]
    if before:
        then = before[-1]
    elif state.noise_history:
        then = state.noise_history[0][1]
    else:
        then = state.forecaster.error_variance
    return max(counting, then)


def base_forecast(
    forecaster: ForecasterState, smooth: SmoothingParameters, steps: int, window: float
) -> float:
    """The planned base: the highest point forecast over the horizon (no band: the burst
    envelope, learned against this same base, is the margin).

    The trend counts only when what it adds over the horizon exceeds
    ``TREND_SIGNIFICANCE_SIGMAS`` standard deviations of the noise it is fitted to: the
    rate window's counting noise (a Poisson count over ``window`` seconds; at a few
    requests per second that noise alone fits a trend which, extrapolated over a cold
    start, plans for twice the load) or the forecaster's measured error, the larger.

    A falling trend never lowers the base below the flat forecast (the level): capacity
    shed now is not back for a cold start, and a trend fitted to a dip overshoots it (on
    the Azure conv trace a dip from 47 to 37 req/s extrapolated to a base of 19 req/s, and
    the windows measured against it taught a 3.3x envelope that held the fleet high).
    """
    flat = replace(forecaster, trend=0.0)
    level = forecast(flat, smooth, steps, 0.0).mean
    rise = predict(forecaster, smooth, steps) - predict(flat, smooth, steps)
    # Over ``steps`` samples the noise of the level a trend is fitted to adds up like a
    # random walk. The noise is the larger of the rate window's counting noise and the
    # forecaster's own one-step error: traffic burstier than Poisson (the Azure code
    # trace's bursts, shorter than a cold start) fits steep trends at every burst edge, and
    # those are noise to extrapolate, not a climb.
    per_step = _reading_variance(forecaster, window)
    noise = math.sqrt(per_step * steps)
    if rise <= TREND_SIGNIFICANCE_SIGMAS * noise:
        return level
    return max(forecast(forecaster, smooth, steps, 0.0).mean, level)


def seasonal_base(
    forecaster: ForecasterState,
    cycle: season.SeasonState,
    at: float,
    horizon: float,
    params: ScalingParameters,
) -> Seasonal:
    """The highest reading both of the last two cycles rose to over the coming horizon at
    this time of the cycle, at today's scale (0 and no outlook: no such rise,
    ``season.ahead``), and where a rise they showed at this time ends.

    Not times the trended base: a recurring rise already under way is in the trend too,
    and the two are alternatives (the plan takes the higher), not factors.
    """
    look, top = season.ahead(cycle, at, horizon, params.rate_window_seconds, forecaster.level)
    if look is None:
        return Seasonal(0.0, None, top)
    return Seasonal(min(look.rate, _season_limit(look, params)), look, top)


def _season_limit(look: season.Outlook, params: ScalingParameters) -> float:
    """The most a recurring rise plans for: the higher of the cycles' highest readings at
    this time, plus the peak bound's margin.

    Today's scale is a ratio of two slots' means, and a slot that was nearly idle in the
    past cycles (0.05 req/s before a job) against a busier one today (5 req/s) made
    it 77x: the job's 80 req/s became 5,019, which no bound caps (the season's plan is
    not the envelope's headroom). As with the bound, a quiet slot's ratio must not
    multiply a busy one into a rate nobody ever sent.
    """
    return (1 + params.peak_margin) * max(high for _, high in look.rises)


def _recurring(
    seasonal: Seasonal, params: ScalingParameters
) -> tuple[planning.Recurring | None, planning.Recurring | None]:
    """The season's floor for the plan and its ceiling for a spike's fast path."""
    period = params.season_period_seconds
    look, top = seasonal.outlook, seasonal.ceiling
    floor = None
    if look is not None and seasonal.base > 0:
        limited = ""
        if seasonal.base < look.rate:
            limited = f", at most their highest + {params.peak_margin:.0%}"
        floor = planning.Recurring(
            seasonal.base, f"{look.explain(period)}{limited}: {seasonal.base:.1f} req/s"
        )
    ends = None if top is None else planning.Recurring(top.rate, top.explain(period))
    return floor, ends


def smoothing(params: ScalingParameters) -> SmoothingParameters:
    # The forecaster's own (sample-counting) season is not used: the cycle is ``season``'s.
    return SmoothingParameters()


def _clamp(replicas: int, params: ScalingParameters) -> int:
    return min(max(replicas, params.min_replicas), params.max_replicas)


def _action(current: int, desired: int) -> Action:
    if desired > current:
        return Action.SCALE_UP
    if desired < current:
        return Action.SCALE_DOWN
    return Action.HOLD


def hold(current: int, why: str, state: PolicyState, params: ScalingParameters) -> Decision:
    """Keep ``current`` (within min/max) and the state unchanged, saying ``why``: for data
    the policy cannot decide on, and for the operator when the policy itself failed."""
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
        return hold(current, f"replica counts invalid ({'; '.join(problems)})", state, params)
    current = counts.desired
    if params.policy is PolicyKind.FIXED:
        return hold(current, "fixed policy, spec.replicas sets the count", state, params)
    obs = observations[-1] if observations else None
    problem = _data_problem(obs, params, now)
    if problem is not None or obs is None:
        return hold(current, problem or "no observation yet", state, params)
    arrival = float(obs.arrival_rate or 0.0)
    waiting = float(obs.waiting or 0.0)
    smooth = smoothing(params)
    expected = predict(state.forecaster, smooth, 1) if state.forecaster.samples else arrival
    last = (
        (state.last_observation_at, state.last_arrival_rate)
        if state.last_observation_at is not None and state.last_arrival_rate is not None
        else None
    )
    seasonal: Seasonal | None = None
    trended: float | None = None
    if state.last_observation_at is None or obs.timestamp > state.last_observation_at:
        previous = observations[-2] if len(observations) > 1 else None
        state, seasonal, trended = _absorb(state, obs, previous, arrival, counts, params, smooth)
    cap_rps, cap_tps = learning.capacity(state, params)
    if cap_rps is None:
        return hold(
            current, "per-replica capacity unknown: set capacity in the spec", state, params
        )
    tps_now = learning.tokens_per_second_now(cap_tps, state, params)
    per_replica, by_tokens = _serving_rate(cap_rps, tps_now, state.tokens_per_request, params)
    horizon = learning.horizon_seconds(state, params)
    steps = max(1, math.ceil(horizon / params.control_interval_seconds))
    notes: list[str] = []
    measured = arrival  # the rate the need is measured from (its counting noise)
    warming = state.forecaster.samples < FORECAST_WARMUP_SAMPLES
    if params.policy is PolicyKind.PREDICTIVE and warming:
        demand = level = arrival
        if state.forecaster.samples == 0:
            why = f"the first {params.rate_window_seconds:.0f} s rate window is still filling"
        else:
            why = f"forecaster warming up, {state.forecaster.samples} of"
            why += f" {FORECAST_WARMUP_SAMPLES} samples"
        label = f"demand {demand:.1f} req/s ({why})"
    elif params.policy is PolicyKind.PREDICTIVE:
        seasonal = seasonal or seasonal_base(
            state.forecaster, state.season, obs.timestamp, horizon, params
        )
        # The prior's noise is that of the traffic's rate, estimated by the mean arrival
        # rate over the last horizon (the forecaster's level follows single noisy readings).
        recent = [rate for t, rate, _ in state.arrival_history if t > obs.timestamp - horizon]
        mean = sum(recent) / len(recent) if recent else arrival
        # A spike departs from the recent level: the one-step forecast alone dips on noise.
        expected = max(expected, mean)
        measured = mean
        if trended is None:
            trended = base_forecast(state.forecaster, smooth, steps, params.rate_window_seconds)
        base, ratio, learned, at_floor = _envelope_for(
            state,
            trended,
            seasonal.base,
            per_replica * params.min_replicas,  # _floor, from the rate computed above
            mean,
            horizon,
            params,
        )
        floor, ends = _recurring(seasonal, params)
        bound = peak_bound(
            state.arrival_history,
            arrival,
            obs.timestamp,
            horizon,
            params,
            remembered_peak=state.remembered_peak or 0.0,
            noise=math.sqrt(
                2 * _climb_variance(state, obs.timestamp, horizon, params.rate_window_seconds)
            ),
        )
        plan = planning.predictive(
            arrival,
            expected,
            last,
            obs.timestamp,
            base,
            ratio,
            learned,
            at_floor or envelope.trusted(state.envelope, params.attainment),
            bound,
            horizon,
            cap_rps,
            params,
            planning.queue_arrivals(observations, params.rate_window_seconds),
            floor,
            ends,
            at_floor=at_floor,
        )
        demand, label = plan.rate, plan.label
        level = min(demand, max(base, arrival))
    else:
        demand = level = arrival
        label = f"demand {demand:.1f} req/s"
    level_tolerance = rate_tolerance(level, params.rate_window_seconds)
    needed, by_tokens = _replicas_for(
        demand, level, cap_rps, per_replica, by_tokens, params, level_tolerance
    )
    token_note = ""
    if by_tokens and tps_now and state.tokens_per_request:
        context, reference = learning.context(state), learning.reference_context(params)
        at_context = (
            ""
            if context is None or reference is None
            else f" at {context:.0f} tokens of context ({cap_tps:.0f} at the load test's"
            f" {reference:.0f})"
        )
        token_note = (
            f"; {state.tokens_per_request:.0f} output tokens per request at {tps_now:.0f}"
            f" tokens/s per replica{at_context}: {level:.1f} req/s at this mix need"
            f" {level / per_replica:.2f} replicas, {needed:.2f} net of the rate's"
            f" {level_tolerance:.1%} counting noise"
        )
    backlog_extra, backlog_note = _backlog_replicas(
        waiting, arrival, obs.completion_rate, counts, cap_rps,
        learning.drain_rate(state, cap_rps), state.queue_holders, needed, per_replica, horizon,
        params,
    )  # fmt: skip
    if backlog_extra > 0:
        notes.append(backlog_note)
    required = _clamp(math.ceil(needed + backlog_extra - 1e-9), params)
    if required < current:
        tolerance = rate_tolerance(measured, params.rate_window_seconds)
        tolerant = math.ceil((needed + backlog_extra) * (1 + tolerance) - 1e-9)
        if tolerant >= current:
            notes.append(
                f"{needed + backlog_extra:.2f} replicas needed, within the"
                f" {tolerance:.1%} scale-down tolerance of {current}"
            )
        required = _clamp(min(current, max(required, tolerant)), params)
    window = max(params.scale_down_stabilization_seconds, params.scale_up_stabilization_seconds)
    recommendations = remember(state.recommendations, now, required, window)
    state = replace(state, recommendations=recommendations)
    supply = current * cap_rps
    explain = (
        f"{label} vs capacity {supply:.1f} req/s of {current} replicas"
        f" ({cap_rps:.1f} req/s each within the SLO{token_note})"
    )

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
            capacity_tokens_per_second=tps_now,
        )

    if required > current:
        target = stabilize_up(required, recommendations, params, now)
        if target < required:
            notes.append(
                f"stabilized: {target} recommended within the last"
                f" {params.scale_up_stabilization_seconds:.0f} s"
            )
        limited = limit_up(current, max(target, current), state.scale_ups, params, now)
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
            return sized(
                desired,
                f"Scaled up from {current} to {desired}: {explain}{_aside(notes)}",
                state,
            )
        return sized(
            current,
            f"Holding at {current}: {required} needed for {explain}; {'; '.join(notes)}",
            state,
        )
    if required < current:
        since = state.first_observation_at
        watched = now - (now if since is None else since)
        if counts.pending > 0:
            why = f"{counts.pending} replicas still loading"
            desired = current
        elif watched < min(params.scale_down_stabilization_seconds, horizon):
            # The plan covers the peak within one horizon: once the policy has watched one,
            # its recommendations cover what the fleet must hold, and the stabilization
            # window keeps the highest of those it has (the HPA's semantics). Waiting for a
            # whole window beyond the horizon ran the start's fleet longer (steady: 9
            # replicas for a need of 7.8 until 300 s, 0.007 GPU-h that tied a fixed fleet).
            why = f"only {watched:.0f} s of history, scale-down needs {horizon:.0f} s (one horizon)"
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
            detail = _aside([*notes, why] if why else notes)
            return sized(
                desired, f"Scaled down from {current} to {desired}: {explain}{detail}", state
            )
        return sized(
            current,
            f"Holding at {current}: {required} would do for {explain}{_aside(notes)}, but {why}",
            state,
        )
    return sized(current, f"Holding at {current}: {explain}{_aside(notes)}", state)
