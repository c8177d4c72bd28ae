"""What one replica of a profile sustains for a given request mix, and so what a load needs.

Two numbers, both measured on the shared replica model rather than derived by formula (the
model's batching, chunked prefill and KV-dependent step time make a formula wrong):

* **saturated**: requests/s and generated tokens/s of a burst of the mix's requests all
  submitted at once (vLLM's ``--request-rate inf`` benchmark). It is the most one replica
  completes; the autoscalers are seeded with it, as a user would from a load test.
* **within SLO**: the highest Poisson arrival rate of the mix at which one replica keeps the
  TTFT p99 within the SLO over ten minutes (bisection, seeded). A vLLM replica's TTFT has a
  cliff rather than a slope (continuous batching absorbs load until the batch or KV cache
  is full, then the queue grows without bound), so this rate sits just below saturation;
  p99 over a long trial keeps it on the stable side of the cliff.
* **planning**: 95 % of that rate (``PLANNING_UTILIZATION``): a fleet run exactly at the
  cliff fails the SLO on Poisson noise and router imbalance alone (measured: an oracle
  provisioning at 100 % met the SLO for 81 % of a diurnal scenario's requests, at 95 % for
  all). This defines what a load *needs*: a trace
  "needs N replicas at its peak" when its busiest minute's rate is N times this rate. The
  oracle provisions with it too, and the per-pod concurrency targets of HPA-like peers are
  the requests one replica holds in flight at this rate (Little's law).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from forescale.sim.replica_model import ReplicaEngine, ReplicaProfile, SimRequest
from forescale.sim.traces import Trace

#: Requests drawn from the mix for each measurement.
SAMPLE_REQUESTS = 2000
#: Bisection steps for the SLO rate (the bracket shrinks 2^-n).
BISECTION_STEPS = 9
#: Share of the within-SLO rate a replica is planned at (see the module docstring).
PLANNING_UTILIZATION = 0.95
#: Minimum virtual seconds and requests of each Poisson trial.
TRIAL_SECONDS = 600.0
TRIAL_REQUESTS = 3000


@dataclass(frozen=True)
class ReplicaCapacity:
    saturated_requests_per_second: float
    saturated_tokens_per_second: float
    """Generated (output) tokens per second at saturation."""
    slo_requests_per_second: float
    """Highest Poisson rate with TTFT p99 within the SLO."""
    planning_requests_per_second: float
    """The within-SLO rate times ``PLANNING_UTILIZATION``: what "needs" is measured in."""
    planning_concurrency: float
    """Mean requests in flight at the planning rate: a per-pod concurrency target."""
    mean_prompt_tokens: float
    mean_output_tokens: float

    @property
    def planning_rates(self) -> tuple[float, float, float]:
        """Planned per-replica (requests, prompt tokens, generated tokens) per second."""
        rate = self.planning_requests_per_second
        return rate, rate * self.mean_prompt_tokens, rate * self.mean_output_tokens


def draw_mix(trace: Trace, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``count`` (prompt, output) token pairs drawn from ``trace``: the load test's requests."""
    if len(trace) == 0:
        raise ValueError("cannot size replicas for an empty request mix")
    index = rng.integers(0, len(trace), count)
    return list(
        zip(trace.prompt_tokens[index].tolist(), trace.output_tokens[index].tolist(), strict=True)
    )


def saturated_rates(profile: ReplicaProfile, mix: list[tuple[int, int]]) -> tuple[float, float]:
    """(requests/s, generated tokens/s) of one replica given ``mix`` all at once."""
    engine = ReplicaEngine(profile)
    for index, (prompt, output) in enumerate(mix):
        engine.submit(SimRequest(index, 0.0, prompt, output), 0.0)
    end = 0.0
    while (event := engine.next_event_time()) is not None:
        engine.advance(event)
        end = event
    return len(mix) / end, sum(output for _, output in mix) / end


class Trial(NamedTuple):
    """One replica under Poisson arrivals (the first fifth of the requests is warm-up)."""

    ttft_p99: float
    in_flight: float
    """Mean requests in flight (Little's law on the measured latency)."""
    kv_blocked: int
    """Admission attempts the KV cache stopped with a sequence slot free."""
    preemptions: int
    """Sequences preempted because the running ones' next tokens did not fit."""


def trial(profile: ReplicaProfile, mix: list[tuple[int, int]], rate: float, seed: int) -> Trial:
    """One replica of ``profile`` under Poisson arrivals of ``mix`` at ``rate``."""
    rng = np.random.default_rng(seed)
    count = max(TRIAL_REQUESTS, math.ceil(rate * TRIAL_SECONDS))
    arrivals = np.cumsum(rng.exponential(1.0 / rate, count)).tolist()
    engine = ReplicaEngine(profile)
    requests = []
    for index, arrival in enumerate(arrivals):
        while (event := engine.next_event_time()) is not None and event <= arrival:
            engine.advance(event)
        engine.advance(arrival)
        prompt, output = mix[index % len(mix)]
        request = SimRequest(index, arrival, prompt, output)
        engine.submit(request, arrival)
        requests.append(request)
    while (event := engine.next_event_time()) is not None:
        engine.advance(event)
    measured = requests[count // 5 :]
    ttfts = [r.ttft or 0.0 for r in measured]
    span = measured[-1].arrival - measured[0].arrival
    in_flight = sum(r.latency or 0.0 for r in measured) / span if span > 0 else 0.0
    return Trial(float(np.percentile(ttfts, 99)), in_flight, engine.kv_blocked, engine.preemptions)


def measure(
    profile: ReplicaProfile, trace: Trace, slo_ttft_seconds: float, seed: int
) -> ReplicaCapacity:
    """Saturated and within-SLO capacity of one replica for ``trace``'s request mix."""
    rng = np.random.default_rng(seed)
    mix = draw_mix(trace, SAMPLE_REQUESTS, rng)
    saturated_rps, saturated_tps = saturated_rates(profile, mix)
    low, high = 0.05 * saturated_rps, 1.2 * saturated_rps
    for step in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if trial(profile, mix, middle, seed + step).ttft_p99 <= slo_ttft_seconds:
            low = middle
        else:
            high = middle
    planning = PLANNING_UTILIZATION * low
    concurrency = trial(profile, mix, planning, seed).in_flight
    return ReplicaCapacity(
        saturated_rps,
        saturated_tps,
        low,
        planning,
        concurrency,
        mean_prompt_tokens=float(np.mean([prompt for prompt, _ in mix])),
        mean_output_tokens=float(np.mean([output for _, output in mix])),
    )


def concurrency_at(
    profile: ReplicaProfile, trace: Trace, rates: list[float], seed: int
) -> list[float]:
    """Mean requests one replica holds in flight at each Poisson arrival rate of ``rates``.

    This is what a load test at that rate shows an SRE (Little's law on the measured
    latency), and so the per-pod in-flight target that rate corresponds to.
    """
    mix = draw_mix(trace, SAMPLE_REQUESTS, np.random.default_rng(seed))
    return [trial(profile, mix, rate, seed).in_flight for rate in rates]
