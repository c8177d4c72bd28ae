"""Per-replica capacity is raised by load served within the SLO and bounded by saturation."""

from __future__ import annotations

import pytest

from forescale.policy import PolicyState, ReplicaCounts, ScalingParameters
from forescale.policy.learning import capacity, cold_start_seconds, drain_rate, learn

from .support import observation, run

PARAMS = ScalingParameters(capacity_requests_per_second=10.0, capacity_tokens_per_second=1000.0)


def test_a_saturated_fleet_lowers_the_capacity_to_its_throughput_at_once() -> None:
    """4 replicas saturated at 24 req/s complete 6 each: no replica serves more within the
    SLO, so the first sample after a full window (60 s) sets the capacity to 6, not a step
    of the way there (an average at 30 % a sample read 8.8)."""
    state = PolicyState()
    counts = ReplicaCounts(4, 4)
    for step in range(5):
        obs = observation(15.0 * step, 30.0, 4, waiting=100.0, completion_rate=24.0, running=200.0)
        state = learn(state, obs, counts, PARAMS)
    assert capacity(state, PARAMS)[0] == pytest.approx(6.0)
    assert drain_rate(state, 6.0) == pytest.approx(0.7 * 10.0 + 0.3 * 6.0)


def test_a_saturated_throughput_above_the_capacity_does_not_raise_it() -> None:
    """A saturated replica runs a full batch and completes more than it serves within the
    SLO (the replica model: 38-40 req/s against 35.7 on the chat mix). 12 req/s each
    leaves the capacity at 10 and is the rate a replica works off a queue at."""
    state = PolicyState()
    counts = ReplicaCounts(4, 4)
    for step in range(20):
        obs = observation(15.0 * step, 60.0, 4, waiting=100.0, completion_rate=48.0, running=200.0)
        state = learn(state, obs, counts, PARAMS)
    assert capacity(state, PARAMS) == (10.0, 1000.0)
    assert drain_rate(state, 10.0) == pytest.approx(12.0, rel=0.01)


def test_saturation_needs_a_full_window_before_it_counts() -> None:
    state = PolicyState()
    counts = ReplicaCounts(4, 4)
    for step in range(3):  # 30 s of saturation < saturation_min_seconds
        obs = observation(15.0 * step, 30.0, 4, waiting=100.0, completion_rate=24.0, running=200.0)
        state = learn(state, obs, counts, PARAMS)
    assert capacity(state, PARAMS)[0] == 10.0


def test_a_draining_queue_is_not_saturation() -> None:
    state = PolicyState()
    counts = ReplicaCounts(4, 4)
    for step in range(12):
        obs = observation(15.0 * step, 20.0, 4, waiting=100.0, completion_rate=24.0, running=200.0)
        state = learn(state, obs, counts, PARAMS)
    assert capacity(state, PARAMS)[0] == 10.0


def test_load_served_within_slo_raises_a_low_seed() -> None:
    obs = observation(0.0, 60.0, 4, completion_rate=60.0, generation_token_rate=8000.0)
    state = learn(PolicyState(), obs, ReplicaCounts(4, 4), PARAMS)
    assert capacity(state, PARAMS) == (15.0, 2000.0)


def test_light_load_does_not_invent_a_token_capacity() -> None:
    """Without a stated token capacity, an unsaturated interval is no measurement of one."""
    params = ScalingParameters(capacity_requests_per_second=10.0)
    obs = observation(0.0, 1.0, 4, completion_rate=1.0, generation_token_rate=100.0)
    state = learn(PolicyState(), obs, ReplicaCounts(4, 4), params)
    assert capacity(state, params) == (10.0, None)


def test_steady_light_load_without_a_token_seed_keeps_the_replicas() -> None:
    """1 req/s against 10 req/s per replica needs one replica, whatever the token rate."""
    params = ScalingParameters(capacity_requests_per_second=10.0, min_replicas=1, max_replicas=8)
    decisions = run([1.0] * 40, params, replicas=1)
    assert {d.desired_replicas for d in decisions} == {1}, [d.reason for d in decisions]


def test_load_served_outside_slo_does_not_raise_it() -> None:
    obs = observation(0.0, 60.0, 4, completion_rate=60.0, ttft_p95=9.0)
    state = learn(PolicyState(), obs, ReplicaCounts(4, 4), PARAMS)
    assert capacity(state, PARAMS)[0] == 10.0


def test_cold_start_is_learned_from_observed_pod_starts() -> None:
    assert cold_start_seconds(PolicyState(), PARAMS) == PARAMS.cold_start_seconds
    obs = observation(0.0, 10.0, 2)
    counts = ReplicaCounts(2, 2, startup_seconds=(60.0, 62.0, 64.0, 66.0, 300.0))
    state = learn(PolicyState(), obs, counts, PARAMS)
    assert 100 < cold_start_seconds(state, PARAMS) < 300


def test_a_near_idle_interval_does_not_move_tokens_per_request() -> None:
    """Tokens per request is a ratio of smoothed rates: each interval weighs by completions.

    In a near-idle interval a few completions divide the tokens still generated for
    requests that started earlier; as a smoothed ratio, one such interval moved the
    estimate by a fifth of its excess and the token term asked for replicas nobody needed.
    """
    state = PolicyState()
    counts = ReplicaCounts(4, 4)
    for step in range(20):
        obs = observation(15.0 * step, 100.0, 4, generation_token_rate=2800.0)
        state = learn(state, obs, counts, PARAMS)
    assert state.tokens_per_request == pytest.approx(28.0)
    idle = observation(300.0, 0.5, 4, completion_rate=0.5, generation_token_rate=200.0)
    state = learn(state, idle, counts, PARAMS)
    assert state.tokens_per_request == pytest.approx(28.0, rel=0.01)


def test_a_lasting_change_of_mix_is_learned() -> None:
    state = PolicyState()
    counts = ReplicaCounts(4, 4)
    for step in range(200):
        tokens = 2800.0 if step < 20 else 4000.0
        obs = observation(15.0 * step, 100.0, 4, generation_token_rate=tokens)
        state = learn(state, obs, counts, PARAMS)
    assert state.tokens_per_request == pytest.approx(40.0, rel=0.01)


def _saturated_at_a_heavy_mix() -> PolicyState:
    """4 replicas saturated by 30 req/s complete 6 each with 400 output tokens per request
    on 200-token prompts: the request capacity is lowered to 6 at a work per request of
    400 x (200 + 400 / 2) = 160,000."""
    state = PolicyState()
    for step in range(5):
        obs = observation(
            15.0 * step, 30.0, 4, waiting=100.0, completion_rate=24.0, running=200.0,
            generation_token_rate=24.0 * 400, prompt_token_rate=24.0 * 200,
        )  # fmt: skip
        state = learn(state, obs, ReplicaCounts(4, 4), PARAMS)
    assert capacity(state, PARAMS)[0] == pytest.approx(6.0)
    assert state.capacity_requests_work == pytest.approx(160_000.0)
    return state


def _served(state: PolicyState, output: float, *, ttft: float = 0.2, steps: int = 4) -> PolicyState:
    """Intervals of 16 req/s on 4 replicas (4 each, below any capacity here) at ``output``
    tokens per request on 200-token prompts."""
    for step in range(steps):
        obs = observation(
            100.0 + 15.0 * step, 16.0, 4, ttft_p95=ttft,
            generation_token_rate=16.0 * output, prompt_token_rate=16.0 * 200,
        )  # fmt: skip
        state = learn(state, obs, ReplicaCounts(4, 4), PARAMS)
    return state


def test_a_capacity_lowered_at_a_heavier_mix_returns_when_the_mix_does() -> None:
    """A saturated throughput bounds the request capacity at its mix, not at a lighter one.
    After the outputs halve back to 200 tokens (work 60,000) an interval within the SLO
    raises the capacity by 160,000 / 60,000, to at most the load test's 10 (it stayed at 6
    without the relaxation: the fleet ran 10 replicas where 4 served the same rate after
    9 minutes of doubled outputs)."""
    state = _served(_saturated_at_a_heavy_mix(), output=200.0, steps=1)
    assert capacity(state, PARAMS)[0] == pytest.approx(10.0)
    assert state.capacity_requests_work is None


def test_a_mix_between_raises_the_capacity_in_the_ratio_of_the_work() -> None:
    """300 output tokens (work 300 x 350 = 105,000): 6 x 160,000 / 105,000 = 9.14, tied to
    the new mix; then the light mix takes it to the load test's 10."""
    state = _served(_saturated_at_a_heavy_mix(), output=300.0, steps=1)
    assert capacity(state, PARAMS)[0] == pytest.approx(6.0 * 160_000 / 105_000)
    assert state.capacity_requests_work == pytest.approx(105_000.0)
    state = _served(state, output=200.0, steps=1)
    assert capacity(state, PARAMS)[0] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("output", "ttft"),
    [
        (400.0, 0.2),  # the same mix: the bound stands
        (380.0, 0.2),  # within the mix tolerance (work 148,200 against 160,000)
        (200.0, 5.0),  # a lighter mix outside the SLO: a backlog's completions mislead
    ],
)
def test_a_lowered_capacity_stays_without_a_lighter_mix_within_the_slo(
    output: float, ttft: float
) -> None:
    state = _served(_saturated_at_a_heavy_mix(), output=output, ttft=ttft)
    assert capacity(state, PARAMS)[0] == pytest.approx(6.0)
