"""Fixed provisioning and the clairvoyant oracle: hand-computed needs and look-ahead."""

from __future__ import annotations

import numpy as np

from forescale.policy.parameters import ReplicaCounts
from forescale.sim.peers.provisioning import FixedScaler, OracleScaler, need_per_second
from forescale.sim.scaler import ScalerInput
from forescale.sim.traces import Trace


def view(now: float) -> ScalerInput:
    return ScalerInput(now, ReplicaCounts(1, 1), None, (), lambda w: 0.0)


def trace(arrivals: list[float], prompt: int = 100, output: int = 10) -> Trace:
    n = len(arrivals)
    return Trace(
        "t", np.array(arrivals), np.full(n, prompt, np.int64), np.full(n, output, np.int64)
    )


def test_need_is_the_next_minutes_rate_over_the_tightest_capacity() -> None:
    """120 requests in second 0, one replica plans 1 req/s: 120 / 60 s / 1 = 2 replicas.

    By tokens: 120 x 100 prompt / 60 s / 50 tok/s = 4 replicas, the tighter one wins.
    """
    t = trace([0.5] * 120 + [200.0])
    by_requests = need_per_second(t, (1.0, 1e9, 1e9))
    assert by_requests[0] == 2
    assert by_requests[100] == 0  # nothing arrives in [100, 160)
    assert by_requests[150] == 1  # only the request at 200 ahead: 1/60 req/s rounds up to 1
    by_prompt = need_per_second(t, (1.0, 50.0, 1e9))
    assert by_prompt[0] == 4


def test_oracle_provisions_a_cold_start_ahead_and_releases_after() -> None:
    need = np.array([1] * 100 + [9] * 10 + [2] * 100, dtype=np.int64)
    oracle = OracleScaler(need, horizon_seconds=30.0, min_replicas=1, max_replicas=8)
    assert oracle.decide(view(50.0)).desired_replicas == 1  # 100 is beyond 50 + 31
    assert oracle.decide(view(75.0)).desired_replicas == 8  # 9 ahead, bounded to max 8
    assert oracle.decide(view(120.0)).desired_replicas == 2
    assert oracle.decide(view(500.0)).desired_replicas == 1  # past the trace: min


def test_fixed_never_moves() -> None:
    scaler = FixedScaler(7)
    assert {scaler.decide(view(t)).desired_replicas for t in (0.0, 15.0, 1e6)} == {7}
