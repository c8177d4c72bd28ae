"""The token term sizes the traffic's level at today's mix; bursts are sized in requests.

The envelope and the peak bound are learned over request rates, and the requests capacity
from intervals that met the SLO: the headroom for a burst is in requests. The token term is
for a mix heavier than the load test's for as long as it lasts. Multiplied, the two asked
for a burst at the heaviest mix on top of the heaviest rate.
"""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import pairwise

from forescale.policy import PolicyKind, PolicyState, ReplicaCounts, ScalingParameters, decide

from .support import LOAD_TEST, observation

#: The shared load test (12 req/s, context 1,100), predictive, a 60 s scale-down window.
PARAMS = replace(LOAD_TEST, scale_down_stabilization_seconds=60.0)
#: Today's mix: 280 output tokens per request on the same prompts, context 1,140, so a
#: replica generates 2,400 x 1,100 / 1,140 = 2,316 tokens/s, 8.3 req/s against 12.
OUTPUT_TOKENS = 280.0


def _bursty(steps: int) -> list[float]:
    """100 req/s with a minute at 130 req/s every four minutes."""
    return [130.0 if step % 16 >= 12 else 100.0 for step in range(steps)]


def _decisions(
    rates: list[float],
    params: ScalingParameters,
    *,
    flat_work: bool = False,
    fleet: list[int] | None = None,
) -> list[tuple[float, int, str]]:
    """(arrival rate, replicas required, reason) per interval, at today's mix, the fleet
    at what each decision asked (TTFT outside the SLO: the requests capacity stays 12);
    ``fleet`` collects what each decision asked."""
    state, replicas, out = PolicyState(), 4, []
    for step, rate in enumerate(rates):
        now = 15.0 * step
        obs = observation(
            now,
            rate,
            replicas,
            prompt_token_rate=1000.0 * rate,
            generation_token_rate=OUTPUT_TOKENS * (100.0 if flat_work else rate),
            ttft_p95=5.0,
        )
        decision = decide([obs], state, params, ReplicaCounts(replicas, replicas), now)
        state, replicas = decision.state, decision.desired_replicas
        if fleet is not None:
            fleet.append(replicas)
        assert decision.required_replicas is not None
        out.append((rate, decision.required_replicas, decision.reason))
    return out


def test_a_bursts_headroom_is_not_multiplied_by_a_heavier_mix() -> None:
    """Bursts of light requests on a heavier mix (conv's shape): 100 req/s of 280 output
    tokens with a minute at 130 req/s of 215 every four minutes, the same 28,000 tokens/s
    throughout, which 28,000 / 2,316 = 12.1 replicas generate. Between bursts the plan is
    the forecast x the learned envelope (1.31), 128-131 req/s, 10.6-10.9 replicas in
    requests (12 req/s and 4 tolerated waiting per 60 s), and the level's 100 req/s at the
    smoothed mix (259-266 tokens each: the bursts' lighter requests weigh in) 11.0-11.3
    replicas, 10.9-11.2 net of the rate's 1.3 % counting noise: the fleet asks 11 or 12,
    and never runs fewer than 12 (the scale-down leaves the same margin). Multiplied, the
    plan at today's mix asked 15-16. In a burst the arrivals are the level, sized at the
    smoothed mix (about 260 tokens each: 15)."""
    fleet: list[int] = []
    decisions = _decisions(_bursty(240), PARAMS, flat_work=True, fleet=fleet)
    # From the second interval after a burst (the first still reads it): what each
    # decision asked, and what the fleet then ran.
    settled = [
        (required, ran)
        for ((before, _, _), _), ((rate, required, _), ran) in pairwise(
            list(zip(decisions, fleet, strict=True))[-48:]
        )
        if rate == before == 100.0
    ]
    assert {required for required, _ in settled} == {11, 12}, settled
    assert min(ran for _, ran in settled) == 12, settled


def test_a_lasting_heavier_mix_is_still_sized_by_the_token_term() -> None:
    """Steady 100 req/s at today's mix: requests alone say 100 / 12.07 = 9 replicas; the
    token term's 100 / (2,316 / 280 + 4 / 60) = 11.99, so 12, holds, and the Event says
    why in numbers."""
    decisions = _decisions([100.0] * 120, PARAMS)
    _, required, reason = decisions[-1]
    assert required == 12, reason
    assert "280 output tokens per request" in reason
    assert "100.0 req/s at this mix need" in reason
    light = _decisions([100.0] * 120, replace(PARAMS, capacity_tokens_per_second=None))
    assert light[-1][1] == math.ceil(100.0 / (12.0 + 1.0 / 60.0 * PARAMS.slo_queue_per_replica))


def test_a_need_within_the_levels_counting_noise_adds_no_replica() -> None:
    """Steady 100.5 req/s at today's mix need 100.5 / 8.34 = 12.05 replicas, known to the
    rate's counting noise over the 60 s window (1 / sqrt(6,030) = 1.3 %): 11.90 net of it,
    so 12 replicas, and the Event gives both figures. At 102.6 req/s (12.30, 12.14 net)
    the 13th comes."""
    _, required, reason = _decisions([100.5] * 120, PARAMS)[-1]
    assert required == 12, reason
    assert "need 12.05 replicas, 11.90 net of the rate's 1.3% counting noise" in reason
    _, required, reason = _decisions([102.6] * 120, PARAMS)[-1]
    assert required == 13, reason


def test_reactive_sizes_its_demand_at_todays_mix() -> None:
    """Reactive's demand is the level: the token term sizes it whole, 130 req/s at 280
    tokens each, 130 / 8.34 = 15.6: 16 (requests alone: 130 / 12.07, 11)."""
    decisions = _decisions([130.0] * 40, replace(PARAMS, policy=PolicyKind.REACTIVE))
    assert decisions[-1][1] == 16, decisions[-1][2]
