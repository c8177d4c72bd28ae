"""Builders shared by the policy tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from forescale.metrics.observation import Observation
from forescale.policy import Decision, PolicyState, ReplicaCounts, ScalingParameters, decide

#: A load test at 12 req/s of 1,000-token prompts and 200-token outputs: context 1,100
#: (the spec's three capacity seeds; the token tests size today's mix against it).
LOAD_TEST = ScalingParameters(
    capacity_requests_per_second=12.0,
    capacity_tokens_per_second=2400.0,
    capacity_prompt_tokens_per_second=12_000.0,
    max_replicas=64,
)


def observation(
    t: float, rate: float, replicas: int, waiting: float = 0.0, **signals: float
) -> Observation:
    values: dict[str, float] = {
        "completion_rate": rate,
        "running": rate,
        "ttft_p95": 0.2,
        "generation_token_rate": rate * 100,
    }
    values.update(signals)
    return Observation(
        deployment="ns/llm",
        timestamp=t,
        replicas_reporting=replicas,
        arrival_rate=rate,
        waiting=waiting,
        **values,
    )


def run(
    rates: Sequence[float | None],
    params: ScalingParameters,
    replicas: int = 2,
    interval: float = 15.0,
    startups: Mapping[int, tuple[float, ...]] | None = None,
) -> list[Decision]:
    """Feed one observation per interval, applying each decision (pods Ready at once).

    A rate of None is a metrics gap (the arrival rate missing). ``startups`` maps a step to
    the pod start times the counts report at it (what the policy learns its cold start
    from)."""
    state = PolicyState()
    decisions = []
    for step, rate in enumerate(rates):
        now = step * interval
        started = (startups or {}).get(step, ())
        obs = observation(now, rate or 0.0, replicas)
        if rate is None:
            obs = dataclasses.replace(obs, arrival_rate=None)
        decision = decide(
            [obs],
            state,
            params,
            ReplicaCounts(replicas, replicas, startup_seconds=started),
            now,
        )
        decisions.append(decision)
        state, replicas = decision.state, decision.desired_replicas
    return decisions
