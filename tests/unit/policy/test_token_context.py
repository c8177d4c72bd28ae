"""The token capacity follows the mix's context, not output tokens alone.

A decoding sequence reads its whole context (prompt + what it has generated) every step, and
the batch a replica runs is as large as its KV cache allows, so a replica's output tokens/s
fall as the context grows. The seeds are one load test's three rates; the context they were
measured at is (prompt tokens/s + output tokens/s / 2) / requests/s.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from forescale.policy import (
    PolicyKind,
    PolicyState,
    ReplicaCounts,
    ScalingParameters,
    decide,
    learning,
)
from forescale.policy.learning import learn

from .support import LOAD_TEST, observation

#: The shared load test (context 1,100), sized reactively: no envelope in the way.
PARAMS = replace(LOAD_TEST, policy=PolicyKind.REACTIVE)


def _required(prompt: float, output: float, params: ScalingParameters = PARAMS) -> int:
    """Replicas asked for 100 req/s of a mix after it has been learned."""
    state, replicas = PolicyState(), 8
    decision = None
    for step in range(40):
        obs = observation(
            15.0 * step,
            100.0,
            replicas,
            prompt_token_rate=100.0 * prompt,
            generation_token_rate=100.0 * output,
            ttft_p95=5.0,  # outside the SLO: nothing raises the capacity meanwhile
        )
        decision = decide([obs], state, params, ReplicaCounts(replicas, replicas), 15.0 * step)
        state = decision.state
    assert decision is not None and decision.required_replicas is not None
    return decision.required_replicas


def test_the_load_tests_context_comes_from_its_three_rates() -> None:
    assert learning.reference_context(PARAMS) == pytest.approx(1100.0)
    without = ScalingParameters(capacity_requests_per_second=12.0, capacity_tokens_per_second=2400)
    assert learning.reference_context(without) is None


def test_longer_prompts_need_more_replicas_than_output_tokens_alone_say() -> None:
    """Twice the prompts: context 2,100 against 1,100, so 1,257 tokens/s per replica.

    Output tokens alone (the same 200 per request as the load test) and requests both say 9;
    the calibrated replica model serves this mix at 0.55x the load test's rate.
    """
    assert _required(prompt=2000.0, output=200.0) == 16


def test_shorter_prompts_and_longer_outputs_are_sized_at_their_context() -> None:
    """Conv's early mix: 240 output tokens per request, 800-token prompts.

    Output tokens alone ask 100 x 240 / 2,400 = 10 replicas; at the shorter context a
    replica generates 2,400 x 1,100 / 920 = 2,870 tokens/s, and the requests term's 9 holds.
    """
    assert _required(prompt=800.0, output=240.0) == 9


def test_without_the_load_tests_prompts_output_tokens_count_alone() -> None:
    params = ScalingParameters(
        policy=PolicyKind.REACTIVE,
        capacity_requests_per_second=12.0,
        capacity_tokens_per_second=2400.0,
        max_replicas=64,
    )
    assert _required(prompt=800.0, output=240.0, params=params) == 10
    assert _required(prompt=2000.0, output=200.0, params=params) == 9


def test_a_token_sample_is_kept_at_the_load_tests_context() -> None:
    """Replicas generating 3,000 tokens/s within the SLO at twice the reference context
    would generate 6,000 at the load test's: the learned capacity is stored that way, and
    applied at today's context it is again 3,000."""
    params = ScalingParameters(
        capacity_requests_per_second=12.0,
        capacity_tokens_per_second=2400.0,
        capacity_prompt_tokens_per_second=12_000.0,
    )
    obs = observation(
        0.0, 20.0, 2, prompt_token_rate=20.0 * 2100.0, generation_token_rate=6000.0
    )  # 300 output tokens per request: context 2,100 + 150 = 2,250
    state = learn(PolicyState(), obs, ReplicaCounts(2, 2), params)
    assert state.prompt_tokens_per_request == pytest.approx(2100.0)
    factor = 2250.0 / 1100.0
    assert state.capacity_tokens_per_second == pytest.approx(3000.0 * factor)
    now = learning.tokens_per_second_now(state.capacity_tokens_per_second, state, params)
    assert now == pytest.approx(3000.0)


def test_prompt_tokens_per_request_weigh_by_completions() -> None:
    state = PolicyState()
    counts = ReplicaCounts(4, 4)
    for step in range(200):
        prompts = 1000.0 if step < 20 else 3000.0
        obs = observation(15.0 * step, 100.0, 4, prompt_token_rate=100.0 * prompts)
        state = learn(state, obs, counts, PARAMS)
    assert state.prompt_tokens_per_request == pytest.approx(3000.0, rel=0.01)
    idle = observation(3000.0, 0.5, 4, completion_rate=0.5, prompt_token_rate=5000.0)
    assert learn(state, idle, counts, PARAMS).prompt_tokens_per_request == pytest.approx(
        3000.0, rel=0.02
    )
