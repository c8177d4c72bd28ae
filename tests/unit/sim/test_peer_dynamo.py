"""The Dynamo planner peer: its Kalman predictor, its interval, and the replica arithmetic.

Source: ai-dynamo/dynamo ``components/src/dynamo/planner/`` (``core/load/predictors.py``,
``core/throughput_scaling.py``, ``config/defaults.py``): a local-linear-trend Kalman filter
(q_level 1, q_trend 0.1, r 10) predicts the next interval's request count; replicas are
``ceil(predicted rps / engine rps at the SLA)``, decided every 180 s.
"""

from __future__ import annotations

import pytest

from forescale.metrics.observation import Observation
from forescale.policy.parameters import ReplicaCounts
from forescale.sim.peers.dynamo import DynamoPlanner, LocalTrendKalman
from forescale.sim.peers.limits import ScaleDownLimiter
from forescale.sim.scaler import ScalerInput


def view(now: float, rate: float, desired: int = 1) -> ScalerInput:
    obs = Observation("d", now, replicas_reporting=1, arrival_rate=rate)
    return ScalerInput(now, ReplicaCounts(desired, desired), obs, (), lambda w: 0.0)


def test_kalman_follows_a_constant_and_extrapolates_a_trend() -> None:
    flat = LocalTrendKalman()
    for _ in range(20):
        flat.add(100.0)
    assert flat.predict_next() == pytest.approx(100.0, abs=0.5)
    rising = LocalTrendKalman()
    for step in range(30):
        rising.add(100.0 + 10.0 * step)
    # The next value of the line is 400; a trend model predicts close to it.
    assert rising.predict_next() == pytest.approx(400.0, abs=5.0)


def test_leading_idle_intervals_are_skipped() -> None:
    kalman = LocalTrendKalman()
    kalman.add(0.0)
    kalman.add(0.0)
    assert kalman.points == 0
    kalman.add(50.0)
    assert kalman.points == 1 and kalman.predict_next() == 50.0


def test_replicas_are_the_predicted_rate_over_one_engine_and_held_between_intervals() -> None:
    planner = DynamoPlanner(1, 32, requests_per_second_at_slo=10.0)
    assert planner.decide(view(0.0, 45.0, desired=3)).desired_replicas == 3  # nothing yet
    for now in (15.0, 30.0, 165.0):
        assert planner.decide(view(now, 45.0, desired=3)).desired_replicas == 3
    decided = planner.decide(view(180.0, 45.0, desired=3))
    assert decided.desired_replicas == 5  # ceil(45 / 10)
    assert decided.forecast_requests_per_second == pytest.approx(45.0)
    assert planner.decide(view(195.0, 300.0, desired=5)).desired_replicas == 5  # held


def test_the_uniform_scale_down_limits_a_planner_drop() -> None:
    planner = ScaleDownLimiter(DynamoPlanner(1, 32, requests_per_second_at_slo=10.0))
    planner.decide(view(0.0, 10.0, desired=12))
    out = planner.decide(view(180.0, 10.0, desired=12))
    assert out.desired_replicas == 12  # the planner says 1; the window still holds 12
    out = planner.decide(view(300.0, 10.0, desired=12))
    assert out.desired_replicas == 8  # 300 s later: at most 4 pods per 60 s
    assert planner.decide(view(315.0, 10.0, desired=8)).desired_replicas == 8
    assert planner.decide(view(360.0, 10.0, desired=8)).desired_replicas == 4
