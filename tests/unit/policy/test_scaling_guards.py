"""Pending replicas, stabilization, step limits, min/max and the policy kinds."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

from forescale.policy import (
    Action,
    PolicyKind,
    PolicyState,
    ReplicaCounts,
    ScalingParameters,
    decide,
)
from forescale.policy.deciding import rate_tolerance

from .support import observation, run

PARAMS = ScalingParameters(min_replicas=1, max_replicas=40, capacity_requests_per_second=10.0)


def test_scale_up_reason_carries_the_numbers() -> None:
    obs = observation(0.0, 50.0, 2, completion_rate=20.0)
    decision = decide([obs], PolicyState(), PARAMS, ReplicaCounts(2, 2), 0.0)
    assert decision.action is Action.SCALE_UP
    assert decision.desired_replicas == 5
    assert decision.reason.startswith(
        "Scaled up from 2 to 5: demand 50.0 req/s (the first 60 s rate window is still filling)"
    )
    assert "capacity 20.0 req/s of 2 replicas" in decision.reason


def test_the_horizon_is_cold_start_plus_interval_plus_observation_lag() -> None:
    """180 s cold start + 15 s interval + 45 s lag of the observed rate = 240 s."""
    decisions = run([50.0] * 14, PARAMS)
    assert decisions[-1].horizon_seconds == 240.0
    assert "forecast 50.0 req/s x burst envelope" in decisions[-1].reason
    assert "req/s in 240 s" in decisions[-1].reason
    # The lag is half the rate window plus a scrape: a 15 s window read every 5 s lags 12.5 s.
    shorter = run(
        [50.0] * 10, replace(PARAMS, rate_window_seconds=15.0, scrape_interval_seconds=5.0)
    )
    assert shorter[-1].horizon_seconds == 180.0 + 15.0 + 12.5


def test_a_filling_rate_window_is_not_extrapolated() -> None:
    """A new deployment's rate climbs while Prometheus' window fills: those partial-window
    samples never reach the forecaster, which then waits for 8 samples; a rise after that
    is extrapolated."""
    rates = [10.0, 20.0, 30.0, 40.0, 40.0, 40.0, 40.0]
    filling = run(rates, PARAMS)
    assert all("still filling" in d.reason for d in filling[:4])  # t < 60 s
    assert all("warming up" in d.reason for d in filling[4:])
    assert [d.forecast_requests_per_second for d in filling] == rates  # planned as observed
    assert filling[-1].state.forecaster.samples == 3
    warm = run([40.0] * 16 + [60.0, 80.0, 100.0], PARAMS)
    assert "warming up" not in warm[-1].reason
    planned = warm[-1].forecast_requests_per_second
    assert planned is not None and planned > 100.0  # the rise is extrapolated


def test_pending_replicas_absorb_the_backlog() -> None:
    obs = observation(0.0, 20.0, 2, waiting=600.0)
    alone = decide([obs], PolicyState(), PARAMS, ReplicaCounts(2, 2, pending=0), 0.0)
    loading = decide([obs], PolicyState(), PARAMS, ReplicaCounts(4, 2, pending=2), 0.0)
    # 600 waiting / (10 req/s x 30 s) = 2 replicas of backlog on top of 2 for the demand.
    assert alone.desired_replicas == 4
    assert loading.desired_replicas == 4
    assert loading.action is Action.HOLD


def test_no_scale_down_while_replicas_load() -> None:
    params = ScalingParameters(
        capacity_requests_per_second=10.0, scale_down_stabilization_seconds=0
    )
    decision = decide(
        [observation(0.0, 5.0, 4)], PolicyState(), params, ReplicaCounts(8, 4, 4), 0.0
    )
    assert decision.desired_replicas == 8
    assert "still loading" in decision.reason


def test_scale_up_is_limited_per_period() -> None:
    params = ScalingParameters(
        max_replicas=100,
        capacity_requests_per_second=1.0,
        scale_up_max_step=4,
        scale_up_max_percent=100,
    )

    def obs(t: float) -> object:
        return observation(t, 90.0, 3, completion_rate=3.0)

    first = decide([obs(0.0)], PolicyState(), params, ReplicaCounts(3, 3), 0.0)  # type: ignore[list-item]
    assert first.desired_replicas == 7  # max(4 pods, 100 % of 3) added
    assert "limited to +4" in first.reason
    again = decide([obs(5.0)], first.state, params, ReplicaCounts(7, 3, 4), 5.0)  # type: ignore[list-item]
    assert again.desired_replicas == 7  # same 15 s period: no more
    later = decide([obs(20.0)], again.state, params, ReplicaCounts(7, 3, 4), 20.0)  # type: ignore[list-item]
    assert later.desired_replicas == 14  # new period: +100 % of 7


#: 100 req/s for a minute, then 10 req/s for 15 minutes: a fleet of 10 with 9 to shed.
AFTER_A_BURST = [100.0] * 4 + [10.0] * 60
#: Scale-down in steps of 2 per minute after a 120 s window.
STEPPING = ScalingParameters(
    max_replicas=40,
    capacity_requests_per_second=10.0,
    attainment=0.9,  # 10 windows of history make the envelope trusted
    scale_down_stabilization_seconds=120,
    scale_down_max_step=2,
    scale_down_period_seconds=60,
)


def test_scale_down_waits_for_the_stabilization_window_and_steps() -> None:
    decisions = run(AFTER_A_BURST, STEPPING, replicas=10)
    replicas = [d.desired_replicas for d in decisions]
    drop = next(i for i, r in enumerate(replicas) if r < 10)
    assert drop * 15 >= 120 + 3 * 15  # highest recommendation of the window kept
    steps = [a - b for a, b in itertools.pairwise(replicas) if a > b]
    assert max(steps) <= 2
    assert replicas[-1] <= 3  # 10 req/s at 10 req/s per replica, plus the forecast's margin


def test_a_zero_second_scale_down_window_acts_on_the_current_recommendation() -> None:
    """The API accepts ``scaleDown.stabilizationWindowSeconds: 0`` (as HPA does): the
    decision then scales down to the current recommendation, step-limited, instead of
    failing on an empty window (it raised ``max() arg is an empty sequence``)."""
    at_once = replace(STEPPING, scale_down_stabilization_seconds=0)
    decisions = run(AFTER_A_BURST, at_once, replicas=10)
    replicas = [d.desired_replicas for d in decisions]
    drop = next(i for i, r in enumerate(replicas) if r < 10)
    # Only the one horizon of history the plan needs holds it (no 120 s window on top).
    slow = run(AFTER_A_BURST, STEPPING, replicas=10)
    slow_drop = next(i for i, d in enumerate(slow) if d.desired_replicas < 10)
    assert drop < slow_drop
    assert replicas[-1] <= 3


def test_min_and_max_bound_the_decision() -> None:
    params = ScalingParameters(min_replicas=2, max_replicas=6, capacity_requests_per_second=1.0)
    obs = observation(0.0, 1000.0, 5, completion_rate=5.0)
    up = decide([obs], PolicyState(), params, ReplicaCounts(5, 5), 0.0)
    assert up.desired_replicas == 6


def test_predictive_leads_reactive_on_a_ramp() -> None:
    ramp = [10.0 + 2.0 * i for i in range(30)]
    predictive = run(ramp, PARAMS)
    reactive = run(ramp, ScalingParameters(**{**PARAMS.__dict__, "policy": PolicyKind.REACTIVE}))
    assert predictive[-1].desired_replicas > reactive[-1].desired_replicas
    assert predictive[-1].forecast_requests_per_second is not None
    assert predictive[-1].forecast_requests_per_second > ramp[-1]


def test_a_spike_scales_up_at_once_beyond_the_current_rate() -> None:
    decisions = run([20.0] * 20 + [60.0], PARAMS, replicas=2)
    # 20 req/s plus the Poisson prior's headroom (21.6 req/s at p99) on 10 req/s replicas.
    assert decisions[-2].desired_replicas == 3
    assert decisions[-1].action is Action.SCALE_UP
    assert decisions[-1].required_replicas is not None
    # 60 req/s on 2 replicas taught a capacity of 30 req/s: 2 replicas serve it right now.
    # The plan is for the rate to go on rising as fast as it just rose (+40 req/s).
    assert decisions[-1].required_replicas > 2
    assert decisions[-1].forecast_requests_per_second is not None
    assert decisions[-1].forecast_requests_per_second >= 60.0 + 40.0


def test_fixed_policy_keeps_the_count_spec_replicas_set() -> None:
    """``fixed`` has one meaning everywhere: no autoscaling, the Deployment's count stands."""
    params = ScalingParameters(min_replicas=1, max_replicas=8, policy=PolicyKind.FIXED)
    obs = observation(0.0, 500.0, 3)
    decision = decide([obs], PolicyState(), params, ReplicaCounts(3, 3), 0.0)
    assert decision.desired_replicas == 3
    assert decision.action is Action.HOLD
    assert "fixed policy" in decision.reason


def test_policy_accepts_the_crd_string() -> None:
    assert ScalingParameters(policy="reactive").policy is PolicyKind.REACTIVE  # type: ignore[arg-type]


def test_state_survives_json() -> None:
    decisions = run([10.0 + i for i in range(20)], PARAMS)
    state = decisions[-1].state
    assert state.arrival_history and state.completion_rate is not None
    assert PolicyState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_state_written_before_the_peak_bound_still_loads() -> None:
    state = run([10.0 + i for i in range(20)], PARAMS)[-1].state
    data = state.to_dict()
    del data["arrival_history"], data["completion_rate"]
    loaded = PolicyState.from_dict(data)
    assert loaded.arrival_history == () and loaded.completion_rate is None


def test_decisions_are_deterministic() -> None:
    rates = [10.0, 30.0, 25.0, 80.0, 10.0, 12.0]
    first = [(d.desired_replicas, d.reason) for d in run(rates, PARAMS)]
    second = [(d.desired_replicas, d.reason) for d in run(rates, PARAMS)]
    assert first == second


def test_a_need_hovering_at_a_whole_number_does_not_flap() -> None:
    """The demo's flap: at a constant load the need moved across 3.0 (2.95 <-> 3.05, a
    token estimate's drift) and the fleet went 4 -> 3 -> 4. A scale-down needs the need
    plus the counting noise of its rate (here 3 req/s over 60 s: 7.5 %, at most 10 %) to
    fit the lower count, so the fleet holds 4; without the tolerance (the mechanism off)
    it flaps. A well-measured need (300 req/s: 0.75 %) still runs its fleet hot."""
    params = ScalingParameters(
        policy=PolicyKind.REACTIVE, max_replicas=40, capacity_requests_per_second=1.0
    )
    per_replica = 1.0 + params.slo_queue_per_replica / params.rate_window_seconds
    rates = ([2.95 * per_replica] * 30 + [3.05 * per_replica] * 4) * 3
    replicas = [d.desired_replicas for d in run(rates, params, replicas=4)]
    assert replicas == [4] * len(rates)
    assert "tolerance" in run([2.95 * per_replica] * 30, params, replicas=4)[-1].reason
    assert run([2.5 * per_replica] * 30, params, replicas=4)[-1].desired_replicas == 3
    busy = replace(params, capacity_requests_per_second=100.0)
    per_replica = 100.0 + params.slo_queue_per_replica / params.rate_window_seconds
    assert run([2.95 * per_replica] * 30, busy, replicas=4)[-1].desired_replicas == 3


def test_a_backlog_asks_at_most_one_new_replica_per_replica_holding_it() -> None:
    """Queued requests stay on the replicas that hold them (the router assigns at arrival):
    new replicas only take the arrivals off them. 80 req/s at 10 req/s each needs 8, and
    10,000 waiting on 2 Ready replicas add at most 2, not the 33 a 30 s drain would ask."""
    params = ScalingParameters(max_replicas=40, capacity_requests_per_second=10.0)
    obs = observation(0.0, 80.0, 2, waiting=10_000.0, completion_rate=20.0)
    decision = decide([obs], PolicyState(), params, ReplicaCounts(2, 2), 0.0)
    per_replica = 10.0 + params.slo_queue_per_replica / params.rate_window_seconds
    assert decision.required_replicas == math.ceil(80.0 / per_replica) + 2


def test_replicas_ready_after_the_queue_stopped_growing_hold_none_of_it() -> None:
    """A queue of 10,000 built on 2 replicas. 10 more are Ready and the queue shrinks: they
    take the arrivals (80 req/s need 8 at 10 each) and hold none of it, so the 2 holders
    are what the queue keeps busy, and the 4 spare cover them: 8 (9 with the scale-down's
    tolerance), not the 16 of one holder per Ready replica (a step's queue built on 2
    replicas asked 16 for a need of 9)."""
    params = ScalingParameters(max_replicas=40, capacity_requests_per_second=10.0)
    per_replica = 10.0 + params.slo_queue_per_replica / params.rate_window_seconds
    built = observation(0.0, 80.0, 2, waiting=10_000.0, completion_rate=20.0)
    first = decide([built], PolicyState(), params, ReplicaCounts(2, 2), 0.0)
    joined = observation(15.0, 80.0, 12, waiting=9_500.0, completion_rate=80.0)
    after = decide([built, joined], first.state, params, ReplicaCounts(12, 12), 15.0)
    assert (first.state.queue_holders, after.state.queue_holders) == (2, 2)
    few = decide([built, joined], first.state, params, ReplicaCounts(4, 4), 15.0)
    assert "(backlog 9500 waiting on the 2 replicas that served while it grew;" in few.reason
    tolerance = 1 + rate_tolerance(80.0, params.rate_window_seconds)
    assert after.required_replicas == math.ceil(80.0 / per_replica * tolerance) == 9
    assert "backlog" not in after.reason


def test_a_queue_is_held_by_the_replicas_serving_through_an_interval_it_grew_in() -> None:
    """The queue grew from 10,000 to 12,000 while 2 replicas served and 10 joined: the 10
    were not there through the interval, so 2 hold it. Growing again with all 12 serving
    through the next interval, any of the 12 may; once it is gone, none does."""
    params = ScalingParameters(max_replicas=40, capacity_requests_per_second=10.0)
    readings = [
        (observation(0.0, 80.0, 2, waiting=10_000.0, completion_rate=20.0), 2),
        (observation(15.0, 80.0, 12, waiting=12_000.0, completion_rate=80.0), 2),
        (observation(30.0, 130.0, 12, waiting=14_000.0, completion_rate=120.0), 12),
        (observation(45.0, 80.0, 12, waiting=0.0, completion_rate=80.0), 0),
    ]
    holders = []
    state, seen = PolicyState(), []
    for obs, _ in readings:
        counts = ReplicaCounts(obs.replicas_reporting, obs.replicas_reporting)
        state = decide([*seen[-1:], obs], state, params, counts, obs.timestamp).state
        seen.append(obs)
        holders.append(state.queue_holders)
    assert holders == [expected for _, expected in readings]


def test_spare_ready_replicas_count_against_the_backlog_term() -> None:
    """9 Ready replicas at 10 req/s each for 50 req/s of arrivals leave 4 spare: they
    already take the arrivals off the replicas holding a 10,000-request queue, so of the
    9 replicas the backlog term may ask (one per Ready one) 4 are there: 5 + 5 = 10, not
    14 (a flash crowd's queue pinned on the old replicas asked 4 more, Ready after the
    crowd). On a saturated fleet (90 req/s) none is spare: 9 + 9 = 18."""
    params = ScalingParameters(max_replicas=40, capacity_requests_per_second=10.0)
    per_replica = 10.0 + params.slo_queue_per_replica / params.rate_window_seconds
    spare = observation(0.0, 50.0, 9, waiting=10_000.0, completion_rate=50.0)
    decision = decide([spare], PolicyState(), params, ReplicaCounts(9, 9), 0.0)
    assert decision.required_replicas == math.ceil(50.0 / per_replica + 9 - (9 - 5))
    busy = observation(0.0, 90.0, 9, waiting=10_000.0, completion_rate=90.0)
    decision = decide([busy], PolicyState(), params, ReplicaCounts(9, 9), 0.0)
    assert decision.required_replicas == math.ceil(90.0 / per_replica) + 9


def test_a_draining_queue_counts_its_holders_from_the_drain() -> None:
    """Once a queue drains, the drain shows how many replicas hold it: completions 20 req/s
    above arrivals at 10 req/s each are 2 replicas working their queue, whether 16 or 12
    are Ready (a step's 33,000 queued requests drained at two replicas' worth on 12-16
    Ready). 60 req/s need 6 and the holders 2: 8 (9 with the scale-down's tolerance), not
    the 12 that one holder per Ready replica, less the 10 spare, would keep."""
    params = ScalingParameters(max_replicas=40, capacity_requests_per_second=10.0)
    per_replica = 10.0 + params.slo_queue_per_replica / params.rate_window_seconds
    obs = observation(0.0, 60.0, 16, waiting=33_000.0, completion_rate=80.0)
    decision = decide([obs], PolicyState(), params, ReplicaCounts(16, 16), 0.0)
    tolerance = 1 + rate_tolerance(60.0, params.rate_window_seconds)
    assert decision.required_replicas == math.ceil((60.0 / per_replica + 2.0) * tolerance)
    assert "backlog 33000 waiting, draining at 20.0 req/s (2.0 replicas hold it)" in (
        decision.reason
    )


def test_a_queue_gone_within_the_horizon_asks_only_that_arrivals_and_holders_fit() -> None:
    """The plan provisions for the peak within the horizon; the holders are busy now. A
    queue the drain clears before the horizon ends (900 at 9 req/s: 100 s of 240) asks
    only that today's arrivals and its 0.9 holders fit in the plan's fleet (60 req/s at
    10 each and 0.9 holders: 6.86, 7 with the scale-down's tolerance); one that outlasts
    it (33,000: 3,667 s) adds its holders to the plan (6.24 + 0.9: 8)."""
    params = ScalingParameters(max_replicas=40, capacity_requests_per_second=10.0)
    per_replica = 10.0 + params.slo_queue_per_replica / params.rate_window_seconds
    tolerance = 1 + rate_tolerance(60.0, params.rate_window_seconds)
    warm = run([60.0] * 20, params, replicas=8)[-1]
    counts = ReplicaCounts(8, 8)
    short = observation(300.0, 60.0, 8, waiting=900.0, completion_rate=69.0)
    long = observation(300.0, 60.0, 8, waiting=33_000.0, completion_rate=69.0)
    soon = decide([short], warm.state, params, counts, 300.0)
    later = decide([long], warm.state, params, counts, 300.0)
    assert soon.forecast_requests_per_second is not None
    needed = soon.forecast_requests_per_second / per_replica
    assert needed > 60.0 / per_replica  # the plan's headroom over today's arrivals
    fit = max(needed, 60.0 / per_replica + 0.9)
    assert soon.required_replicas == math.ceil(fit * tolerance) == 7
    assert later.required_replicas == math.ceil((needed + 0.9) * tolerance) == 8
    assert "gone within the 240 s horizon" in soon.reason
    assert "(0.9 replicas hold it)" in later.reason


def test_on_a_saturated_fleet_the_drain_does_not_count_the_holders() -> None:
    """With no Ready replica spare for the arrivals (160 req/s on 16 at 10 each), every
    replica takes arrivals and may hold part of the queue: the 10 req/s drain would count
    1 holder where 16 may hold it, so the rule while the queue builds holds (one per
    Ready replica less the spare: 14.97 + 15.06, 31, not the 16 of 0.94 holders)."""
    params = ScalingParameters(max_replicas=40, capacity_requests_per_second=10.0)
    obs = observation(0.0, 160.0, 16, waiting=33_000.0, completion_rate=170.0)
    decision = decide([obs], PolicyState(), params, ReplicaCounts(16, 16), 0.0)
    cap = decision.capacity_requests_per_second  # learned from the saturated fleet
    assert cap is not None
    per_replica = cap + params.slo_queue_per_replica / params.rate_window_seconds
    spare = 16 - 160.0 / cap
    assert 0 < spare < 1
    assert decision.required_replicas == math.ceil(160.0 / per_replica + 16 - spare) == 31
    assert "draining" not in decision.reason


def test_scale_down_waits_one_horizon_of_history_not_a_whole_window() -> None:
    """A fleet started above its need (10 replicas for 20 req/s at 10 each) scales down
    once the policy has watched one horizon (180 s cold start + 15 s interval + 45 s lag
    = 240 s), not the whole 300 s stabilization window: its plan covers the peak within a
    horizon, and the window keeps the highest recommendation it has (steady ran 9
    replicas for a need of 7.8 until 300 s)."""
    params = ScalingParameters(max_replicas=40, capacity_requests_per_second=10.0)
    assert params.scale_down_stabilization_seconds == 300
    decisions = run([20.0] * 30, params, replicas=10)
    drop = next(i for i, d in enumerate(decisions) if d.desired_replicas < 10)
    assert drop * 15 == 240
    assert "one horizon" in decisions[drop - 1].reason
