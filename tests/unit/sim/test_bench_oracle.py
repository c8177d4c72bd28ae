"""The feasible oracle: its plan, its replay at the target, and no policy beating it.

The oracle is the GPU-hours yardstick of the benchmark. If any policy reaches the oracle's
attainment with fewer GPU-hours on the same trace and seed, the oracle is not a lower bound
and every "x oracle" figure is wrong: this test runs every policy on a small flash-crowd
scenario (two seeds) and fails on such a run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from forescale.sim import bench_variants
from forescale.sim.bench import (
    BenchConfig,
    fleet_config,
    oracle_candidates,
    prepare,
    run_bench,
    run_oracle,
    score,
    search_oracle,
    size,
)
from forescale.sim.bench_frontier import oracle_violations
from forescale.sim.fleet import simulate
from forescale.sim.peers.provisioning import OracleScaler, fluid_gpu_seconds, oracle_plan
from forescale.sim.replica_profiles import get_profile
from forescale.sim.traces import Trace

PROFILE = get_profile("llama-3.1-8b-h100")
SMALL_FLASH = BenchConfig(
    profile=PROFILE,
    cold_start_seconds=60.0,
    peak_replicas=4.0,
    max_replicas=8,
    scenario_seconds=480.0,
    warmup_seconds=120.0,
)
"""An 8-minute flash at a peak need of 4: small enough to sweep in a unit test."""


def test_each_replica_starts_one_lead_ahead_and_short_gaps_are_kept() -> None:
    need = np.array([1] * 10 + [3] * 5 + [1] * 4 + [3] * 5 + [1] * 30, dtype=np.int64)
    plan = oracle_plan(need, lead_seconds=3, keep_gap_seconds=5)
    assert list(plan[:7]) == [1] * 7
    assert list(plan[7:10]) == [3, 3, 3]  # started 3 s before second 10 needs them
    assert list(plan[10:24]) == [3] * 14  # the 4 s gap (1 s after the lead) is bridged
    assert plan[24] == 1
    long_gap = oracle_plan(need, lead_seconds=0, keep_gap_seconds=3)
    assert list(long_gap[15:19]) == [1, 1, 1, 1]  # a 4 s gap is longer than 3 s: released


def test_fluid_bound_is_the_tightest_of_requests_and_tokens() -> None:
    trace = Trace("t", np.zeros(100), np.full(100, 1000, np.int64), np.full(100, 10, np.int64))
    # 100 requests at 1 req/s = 100 s; 100k prompt tokens at 500 tok/s = 200 s.
    assert fluid_gpu_seconds(trace, (1.0, 500.0, 1e9)) == pytest.approx(200.0)


def bursty_csv(path: Path) -> Path:
    """14 minutes of 2 req/s with a 10 s burst of 6 req/s more in every minute.

    The bursts are shorter than a minute: an oracle that provisions each minute's mean need
    (the benchmark's oracle before issue 9) met the SLO for 53 % of this trace's requests.
    """
    rng = np.random.default_rng(0)
    arrivals: list[float] = []
    for minute in range(14):
        start = 60.0 * minute
        arrivals += list(start + rng.uniform(0, 60, 120))
        arrivals += list(start + 20 + rng.uniform(0, 10, 60))
    rows = "".join(f"{a:.3f},200,150\n" for a in sorted(arrivals))
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + rows, encoding="utf-8")
    return path


def test_the_oracle_meets_the_target_on_a_trace_bursty_within_the_minute(tmp_path: Path) -> None:
    config = BenchConfig(
        profile=PROFILE,
        cold_start_seconds=60.0,
        peak_replicas=4.0,
        max_replicas=16,
        warmup_seconds=120.0,
        copy_jitter_seconds=0.5,
    )
    spec = str(bursty_csv(tmp_path / "bursty.csv"))
    prepared = prepare(spec, config, 0, size(spec, config))
    result, _ = run_oracle(prepared, config)
    attainment = score(prepared, result, config.slo_ttft_seconds, {})["slo_attainment"]
    assert isinstance(attainment, float) and attainment >= 0.99


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    config = SMALL_FLASH
    policies = [p for p in bench_variants.POLICIES]
    outcome = run_bench(["flash"], policies, config, sweep=True, seeds=2, points=2, jobs=2)
    return outcome.rows


def test_the_oracle_meets_the_target_on_its_replay(rows: list[dict[str, object]]) -> None:
    oracle = [r for r in rows if r["policy"] == "oracle"]
    assert len(oracle) == 2
    assert all(float(str(r["slo_attainment"])) >= 0.99 for r in oracle)


def test_no_policy_beats_the_oracle_at_equal_or_higher_attainment(
    rows: list[dict[str, object]],
) -> None:
    assert len({r["policy"] for r in rows}) == len(bench_variants.POLICIES)
    beating = [
        (r["policy"], r["variant"], r["knob_value"], r["seed"], r["slo_attainment"], r["gpu_hours"])
        for r in oracle_violations(rows)
    ]
    assert beating == []


def test_a_replay_that_cannot_meet_the_target_stops_early_and_is_never_feasible() -> None:
    config = SMALL_FLASH
    prepared = prepare("flash", config, 0, size("flash", config))
    starved = np.ones(int(prepared.trace.duration) + 2, dtype=np.int64)  # one replica, always
    fleet = replace(
        fleet_config(prepared, config, initial=1), abort_after_misses=10, miss_ttft_seconds=2.0
    )
    result = simulate(prepared.trace, OracleScaler(starved, 15.0, 1, 8), fleet)
    assert result.aborted
    assert result.timeline.time[-1] < prepared.trace.duration - 60  # stopped well before the end
    full = simulate(
        prepared.trace, OracleScaler(starved, 15.0, 1, 8), replace(fleet, abort_after_misses=None)
    )
    assert not full.aborted
    assert score(prepared, full, 2.0, {})["slo_attainment"] < 0.99  # the abort was right


def test_an_oracle_that_cannot_meet_the_target_is_reported_from_a_whole_replay() -> None:
    """At most one replica, the flash crowd cannot be served at 99 % by any plan: the
    search's most generous replay stops early, and the pick must be that plan replayed to
    the end (a stopped replay counts every later request as dropped: 0.8 % attainment on
    a held-out code window where the whole replay serves most of them)."""
    config = replace(SMALL_FLASH, max_replicas=1)
    prepared = prepare("flash", config, 0, size("flash", config))
    pick = search_oracle(prepared, config)
    assert not pick.feasible
    assert not pick.result.aborted
    assert pick.result.timeline.time[-1] >= prepared.trace.duration - 30
    attained = float(str(score(prepared, pick.result, 2.0, {})["slo_attainment"]))
    assert 0.1 < attained < 0.99
    whole = simulate(
        prepared.trace,
        OracleScaler(pick.candidate.plan, config.control_interval_seconds, 1, 1),
        fleet_config(prepared, config),
    )
    assert pick.result.gpu_seconds == pytest.approx(whole.gpu_seconds)


def test_the_search_covers_several_windows_and_capacities_above_the_slo_rate() -> None:
    config = SMALL_FLASH
    prepared = prepare("flash", config, 0, size("flash", config))
    candidates = oracle_candidates(prepared, config)
    assert {c.window_seconds for c in candidates} == {15.0, 30.0, 60.0}
    slo_share = (
        prepared.capacity.slo_requests_per_second / prepared.capacity.planning_requests_per_second
    )
    assert max(c.share for c in candidates) > 2 * slo_share
    costs = [c.cost for c in candidates]
    assert costs == sorted(costs)
