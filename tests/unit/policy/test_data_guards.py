"""Missing, stale or broken data never moves the replica count (except into min/max)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from forescale.policy import Action, PolicyState, ReplicaCounts, ScalingParameters, decide

from .support import observation

PARAMS = ScalingParameters(min_replicas=2, max_replicas=10, capacity_requests_per_second=10.0)
COUNTS = ReplicaCounts(4, 4)


def corrupt(field: str, value: float) -> object:
    """An observation whose signal was broken after validation (a buggy reader)."""
    obs = observation(100.0, 50.0, 4)
    object.__setattr__(obs, field, value)
    return obs


@pytest.mark.parametrize("field", ["arrival_rate", "waiting", "ttft_p95", "running"])
@pytest.mark.parametrize("value", [math.nan, -1.0, math.inf])
def test_invalid_signals_hold_with_the_reason(field: str, value: float) -> None:
    decision = decide([corrupt(field, value)], PolicyState(), PARAMS, COUNTS, 100.0)  # type: ignore[list-item]
    assert decision.action is Action.HOLD
    assert decision.desired_replicas == 4
    assert field in decision.reason and "invalid" in decision.reason


def test_no_observation_holds() -> None:
    decision = decide([], PolicyState(), PARAMS, COUNTS, 0.0)
    assert (decision.action, decision.desired_replicas) == (Action.HOLD, 4)
    assert "no observation" in decision.reason


def test_stale_observation_holds() -> None:
    decision = decide([observation(0.0, 500.0, 4)], PolicyState(), PARAMS, COUNTS, 100.0)
    assert decision.desired_replicas == 4
    assert "stale" in decision.reason
    assert "read 100 s ago" in decision.reason


def test_not_fresh_observation_holds() -> None:
    obs = replace(observation(100.0, 500.0, 4), fresh=False)
    decision = decide([obs], PolicyState(), PARAMS, COUNTS, 100.0)
    assert decision.desired_replicas == 4
    # A read taken just now whose samples are old: the reason says so, not "0 s old".
    assert "no new samples" in decision.reason


def test_missing_arrival_rate_holds() -> None:
    obs = replace(observation(100.0, 500.0, 4), arrival_rate=None)
    decision = decide([obs], PolicyState(), PARAMS, COUNTS, 100.0)
    assert decision.desired_replicas == 4
    assert "missing arrival_rate" in decision.reason


def test_nobody_reporting_holds() -> None:
    obs = replace(observation(100.0, 0.0, 4), replicas_reporting=0)
    assert "no replica" in decide([obs], PolicyState(), PARAMS, COUNTS, 100.0).reason


def test_holding_still_respects_min_replicas() -> None:
    decision = decide([], PolicyState(), PARAMS, ReplicaCounts(0, 0), 0.0)
    assert decision.desired_replicas == 2
    assert decision.action is Action.SCALE_UP


def test_invalid_counts_hold_and_never_scale_to_zero() -> None:
    decision = decide(
        [observation(100.0, 5.0, 4)], PolicyState(), PARAMS, ReplicaCounts(-3, 4), 100.0
    )
    assert decision.desired_replicas == 2
    assert "replica counts invalid" in decision.reason


def test_held_decisions_do_not_learn() -> None:
    state = PolicyState()
    decision = decide([corrupt("arrival_rate", math.nan)], state, PARAMS, COUNTS, 100.0)  # type: ignore[list-item]
    assert decision.state == state
