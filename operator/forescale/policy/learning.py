"""Online learning of what the policy cannot be told reliably: capacity and cold start.

Capacity. A spec's capacity seed is a guess made on another GPU, model version or request
mix; what the policy sizes by is the rate at which one replica still meets the TTFT SLO.
Two kinds of interval bound it. Unsaturated intervals that meet the SLO give a *lower
bound*: replicas that served X req/s within it can serve at least X. Saturated intervals
(the queue building for a whole rate window with every Ready replica busy and no replica
joining or leaving) measure a replica's throughput, which is an *upper bound*: no replica
serves more within the SLO than it completes at all. It is not the rate within the SLO
itself: a saturated replica runs a full batch, and its throughput is above the rate at
which its queue stays short (the replica model: 38-40 req/s saturated on the chat mix
against 35.7 within the SLO). Smoothing saturated samples into the capacity raised it
to 39 on the held-out ``stairs`` shape, and the next step found 5 replicas where 6 were
needed (with round 16's queue holders, stairs 71.30 -> 83.47 % and mixshift 68.65 ->
72.58 %; docs/policy.md). So a saturated sample only ever lowers the capacity, and at
once: a mix whose outputs doubled shows its halved capacity within a minute of
saturating, not over the 2.5 minutes an average took. It bounds the capacity at the mix
it was measured at: an interval within the SLO at a lighter mix raises the capacity again
in the ratio of their work per request (output tokens x context), to at most the load
test's (``_relaxed``). The throughput itself is kept
apart (``saturated_requests_per_second``, smoothed): it is the rate at which a replica
works off a queue it holds (``deciding``'s backlog term).

Context. Output tokens are not all alike: a decoding sequence holds its prompt and what it
has generated so far in the KV cache, and each decode step reads all of it. With continuous
batching the batch a replica runs is as large as its KV cache allows, so the output tokens a
replica generates per second fall as the context per sequence grows (prompt + half the output,
on average over a request's decode). The token capacity is therefore kept at the load test's
context (``spec.scaling.capacity.promptTokensPerSecond`` gives its prompts) and applied at the
observed one: ``tokens/s now = tokens/s at the load test x its context / today's context``.
Measured on the calibrated replica model (docs/policy.md, round 5) over 13 mixes of 0.25-3x
a chat trace's prompts and outputs, the capacity's mean error fell from 33 % (output tokens
alone: 54 % low for longer outputs with short prompts, 88 % high for longer prompts) to 16 %.
Prefill time is not modelled: around a prefill-heavy code trace's mix the error fell only
from 62 % to 45 %, and a mix of long prompts and very short outputs still reads far too
high; the requests term and the saturated samples bound those.

Cold start. The forecast horizon is the pod-creation-to-Ready time. It depends on the
cluster (image cache, node provisioning, model download), so it is learned from the pods the
operator watches: the 90th percentile of the last few observed starts, seeded from the spec.
"""

from __future__ import annotations

import math
from dataclasses import replace

from forescale.metrics.observation import Observation
from forescale.policy.parameters import ReplicaCounts, ScalingParameters
from forescale.policy.state import STARTUP_SAMPLES, PolicyState

#: Weight of a new saturated throughput sample.
CAPACITY_SMOOTHING = 0.3
#: Weight of a new tokens-per-request sample.
TOKENS_SMOOTHING = 0.05
#: Percentile of observed starts used as the cold start.
STARTUP_PERCENTILE = 0.9
#: A mix is lighter than the one the request capacity was lowered at once its work per
#: request is below that mix's by more than this share (counting noise stays within it).
MIX_TOLERANCE = 0.1


def _ewma(old: float | None, sample: float, weight: float) -> float:
    return sample if old is None else (1 - weight) * old + weight * sample


def _at_most(old: float | None, bound: float) -> float:
    return bound if old is None else min(old, bound)


def percentile(values: tuple[float, ...], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of a non-empty tuple."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def cold_start_seconds(state: PolicyState, params: ScalingParameters) -> float:
    if not state.startup_seconds:
        return params.cold_start_seconds
    return percentile(state.startup_seconds, STARTUP_PERCENTILE)


def horizon_seconds(state: PolicyState, params: ScalingParameters) -> float:
    return (
        cold_start_seconds(state, params)
        + params.control_interval_seconds
        + params.observation_lag_seconds
    )


def capacity(state: PolicyState, params: ScalingParameters) -> tuple[float | None, float | None]:
    """Per-replica (requests/s, generated tokens/s at the load test's context): learned, else
    the spec's seeds. ``tokens_per_second_now`` applies the second at today's context."""
    rps = state.capacity_requests_per_second or params.capacity_requests_per_second
    tps = state.capacity_tokens_per_second or params.capacity_tokens_per_second
    return rps, tps


def drain_rate(state: PolicyState, capacity_rps: float) -> float:
    """Requests/s one replica completes while saturated (working a queue): learned from
    saturated intervals, else ``capacity_rps`` (the capacity within the SLO, at most it)."""
    return state.saturated_requests_per_second or capacity_rps


def work_per_request(prompt: float | None, output: float | None) -> float | None:
    """What a request of a mix costs a replica in the token model: its output tokens, each
    generated at a rate that falls with the context (``_context``). A replica's request
    capacity at two mixes is in the inverse ratio of their work per request."""
    context = _context(prompt, output)
    return None if context is None or output is None else output * context


def _relaxed(
    rps: float | None, lowered_at: float | None, interval: float | None, ceiling: float | None
) -> tuple[float | None, float | None]:
    """The request capacity and the work per request it is tied to, after an interval that
    met the SLO at a lighter mix.

    A saturated replica's throughput lowers the request capacity at once, at the mix it was
    measured at; it is no bound on a lighter mix. An interval that met the SLO with each
    request costing less than then by more than ``MIX_TOLERANCE`` raises the capacity in the
    inverse ratio of the work per request, to at most the load test's (``ceiling``; or what
    it is, if learned above it). Only such an interval: one with a queue (a fleet working
    off a backlog completes the short requests first) reads the mix lighter than it is, and
    at a heavier mix's onset the interval reads heavier (its long requests are generating,
    not yet completed). Without it a heavy hour's halved capacity stayed halved after the mix
    returned, and the fleet ran 10 replicas where 4 served the same rate (outputs doubled for
    9 minutes, docs/policy.md, round 17).
    """
    if rps is None or lowered_at is None or interval is None:
        return rps, lowered_at
    if interval >= lowered_at * (1 - MIX_TOLERANCE):
        return rps, lowered_at
    raised = rps * lowered_at / interval
    if ceiling is not None and raised >= max(ceiling, rps):
        return max(ceiling, rps), None
    return raised, interval


def reference_context(params: ScalingParameters) -> float | None:
    """Mean context tokens per sequence of the load test the seeds came from, if stated."""
    rps, tps = params.capacity_requests_per_second, params.capacity_tokens_per_second
    prompts = params.capacity_prompt_tokens_per_second
    if rps is None or tps is None or prompts is None:
        return None
    return (prompts + tps / 2) / rps


def context(state: PolicyState) -> float | None:
    """Mean context tokens per sequence of today's mix (prompt + half the output)."""
    return _context(state.prompt_tokens_per_request, state.tokens_per_request)


def _context(prompt: float | None, output: float | None) -> float | None:
    return None if prompt is None or output is None else prompt + output / 2


def context_factor(state: PolicyState, params: ScalingParameters) -> float:
    """Today's context over the load test's: 1 when either is unknown (tokens counted alone)."""
    return _factor(context(state), params)


def _factor(today: float | None, params: ScalingParameters) -> float:
    reference = reference_context(params)
    if reference is None or today is None or today <= 0:
        return 1.0
    return today / reference


def tokens_per_second_now(
    tps: float | None, state: PolicyState, params: ScalingParameters
) -> float | None:
    """A token capacity kept at the load test's context, at today's context."""
    return None if tps is None else tps / context_factor(state, params)


def _per_request(
    per_request: float | None,
    completions: float | None,
    smoothed_completions: float,
    rate: float,
) -> float:
    """Tokens per request after one more interval: the token ``rate`` smoothed in, over the
    completions smoothed the same way (``per_request x completions`` is the smoothed rate)."""
    if per_request is None or not completions:
        return rate / smoothed_completions
    return _ewma(per_request * completions, rate, TOKENS_SMOOTHING) / smoothed_completions


def learn(
    state: PolicyState,
    obs: Observation,
    counts: ReplicaCounts,
    params: ScalingParameters,
    *,
    window_filled: bool = True,
) -> PolicyState:
    """Fold one new, validated observation and the counts into the learned quantities.

    ``window_filled`` is False while the rate window began before the first observation:
    the replicas have just begun serving, and the tokens of requests still running are
    divided by the few that completed (`make demo`: 173 output tokens per request read at
    5 s for 64 sent, and the token term scaled a steady 1 req/s from 1 to 2 replicas), so
    no ratio of rates is learned from it.
    """
    startups = (*state.startup_seconds, *counts.startup_seconds)[-STARTUP_SAMPLES:]
    tokens_per_request = state.tokens_per_request
    prompt_per_request = state.prompt_tokens_per_request
    completion_rate = state.completion_rate
    completions = obs.completion_rate
    if window_filled and completions and obs.generation_token_rate is not None:
        # Ratios of smoothed rates, not smoothed ratios: each interval weighs by how many
        # requests it completed. In a near-idle interval a few completions divide the
        # tokens still generated for requests that started earlier, and one such ratio
        # (41 tokens per request against 28) would size the token term 47 % higher.
        first = tokens_per_request is None or not completion_rate
        smoothed = completions if first else _ewma(completion_rate, completions, TOKENS_SMOOTHING)
        tokens_per_request = _per_request(
            None if first else tokens_per_request,
            completion_rate,
            smoothed,
            obs.generation_token_rate,
        )
        if obs.prompt_token_rate is not None:
            prompt_per_request = _per_request(
                None if first else prompt_per_request,
                completion_rate,
                smoothed,
                obs.prompt_token_rate,
            )
        completion_rate = smoothed
    rps, tps = capacity(state, params)
    # Token samples are measured at today's context and kept at the load test's.
    factor = _factor(_context(prompt_per_request, tokens_per_request), params)
    serving = obs.replicas_reporting
    waiting = obs.waiting or 0.0
    saturated = (
        counts.ready > 0
        and serving == counts.ready
        and waiting >= params.slo_queue_per_replica * counts.ready
        and (obs.running or 0.0) >= counts.ready
        # Building, not draining: a queue left behind on a few replicas while new ones
        # idle would read as a low capacity.
        and (obs.arrival_rate or 0.0) >= (completions or 0.0)
    )
    since, since_ready = state.saturated_since, state.saturated_ready
    drain = state.saturated_requests_per_second
    lowered_at = state.capacity_requests_work
    interval_work = (
        work_per_request(
            obs.prompt_token_rate / completions, obs.generation_token_rate / completions
        )
        if completions
        and obs.prompt_token_rate is not None
        and obs.generation_token_rate is not None
        else None
    )
    if saturated:
        if since is None or since_ready != counts.ready:
            since, since_ready = obs.timestamp, counts.ready
        elif obs.timestamp - since >= params.saturation_min_seconds and completions:
            sample = completions / serving
            drain = _ewma(drain or rps, sample, CAPACITY_SMOOTHING)
            if rps is None or sample < rps:
                # The bound holds at this interval's mix (``_relaxed``).
                lowered_at = interval_work
            rps = _at_most(rps, sample)
            if obs.generation_token_rate:
                tps = _at_most(tps, obs.generation_token_rate / serving * factor)
    else:
        since, since_ready = None, 0
        within_slo = (
            obs.ttft_p95 is not None
            and obs.ttft_p95 <= params.slo_ttft_p95_seconds
            and (
                params.slo_e2e_p95_seconds is None
                or (obs.e2e_p95 is not None and obs.e2e_p95 <= params.slo_e2e_p95_seconds)
            )
        )
        if within_slo and serving > 0 and completions:
            rps, lowered_at = _relaxed(
                rps, lowered_at, interval_work, params.capacity_requests_per_second
            )
            if rps is None or completions / serving > rps:
                lowered_at = None  # measured within the SLO at today's mix: no bound
            rps = max(rps or 0.0, completions / serving)
            # Only raise a token capacity someone stated or measured: starting one from an
            # unsaturated interval would call today's light load "capacity" and the token
            # term would then ask for replicas nobody needs.
            if obs.generation_token_rate and tps is not None:
                tps = max(tps, obs.generation_token_rate / serving * factor)
    return replace(
        state,
        startup_seconds=startups,
        tokens_per_request=tokens_per_request,
        prompt_tokens_per_request=prompt_per_request,
        completion_rate=completion_rate,
        capacity_requests_per_second=rps,
        capacity_requests_work=lowered_at,
        capacity_tokens_per_second=tps,
        saturated_requests_per_second=drain,
        saturated_since=since,
        saturated_ready=since_ready,
    )
