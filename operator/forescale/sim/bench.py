"""The benchmark: replay traces against every autoscaler and score SLO and GPU cost.

For each trace (a file, or a synthetic scenario name):

1. Measure what one replica of the profile sustains for the trace's request mix
   (``sizing.measure``): saturated throughput, and the highest rate within the TTFT SLO.
2. Scale the trace's rate so its busiest minute needs ``peak_replicas`` replicas at the
   planning rate (scenarios are generated at that peak directly).
3. Run every policy on the same trace with the same fleet settings and seed, each run
   starting from the replicas the first minutes need, already Ready (no policy is
   punished for the cold start of the very first pods).
4. Score: share of requests whose TTFT is within the SLO (dropped requests count as
   misses), TTFT percentiles of finished requests, GPU-hours, GPU-hours over the oracle's,
   scale events (changes of the desired count), peak waiting requests, dropped requests.

Targets chosen by a user (capacity seeds, per-pod concurrency targets) are derived from the
same measurement for every policy; peers otherwise run their documented defaults.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forescale.policy.parameters import PolicyKind, ScalingParameters
from forescale.sim import scenarios, sizing
from forescale.sim.fleet import ColdStart, FleetConfig, RunResult, simulate
from forescale.sim.peers.forescale import ForescaleScaler
from forescale.sim.peers.hpa import HpaScaler
from forescale.sim.peers.keda import KedaScaler
from forescale.sim.peers.kpa import KpaScaler
from forescale.sim.peers.phpa import PhpaScaler
from forescale.sim.peers.provisioning import FixedScaler, OracleScaler, need_per_second
from forescale.sim.replica_model import ReplicaProfile
from forescale.sim.scaler import Scaler
from forescale.sim.traces import (
    COPY_JITTER_SECONDS,
    IntArray,
    Trace,
    load_trace,
    peak_rate,
    scale_rate,
    window,
)

POLICIES: tuple[str, ...] = (
    "forescale",
    "reactive",
    "hpa",
    "keda",
    "kpa",
    "phpa",
    "fixed",
    "oracle",
)
RESULT_FIELDS: tuple[str, ...] = (
    "trace",
    "policy",
    "requests",
    "slo_attainment",
    "ttft_p50",
    "ttft_p95",
    "ttft_p99",
    "gpu_hours",
    "gpu_hours_over_oracle",
    "scale_events",
    "peak_waiting",
    "dropped",
)
#: Window of the busiest-minute rate that rate scaling targets (``traces.peak_rate``).
RATE_WINDOW_SECONDS = 60.0
#: z of the cold-start quantile the oracle provisions ahead by (p99).
ORACLE_COLD_START_Z = 2.33


@dataclass(frozen=True)
class BenchConfig:
    profile: ReplicaProfile
    cold_start_seconds: float = 180.0
    cold_start_sigma: float = 0.1
    slo_ttft_seconds: float = 2.0
    peak_replicas: float = 16.0
    max_replicas: int = 32
    scenario_seconds: float = 1800.0
    window_start: float = 0.0
    window_end: float | None = None
    skip_bad_rows: bool = False
    copy_jitter_seconds: float = COPY_JITTER_SECONDS
    mix_path: str | None = None
    """Trace whose request sizes the synthetic scenarios draw from (default: chat mix)."""
    control_interval_seconds: float = 15.0
    seed: int = 0


@dataclass(frozen=True)
class PreparedTrace:
    name: str
    trace: Trace
    capacity: sizing.ReplicaCapacity
    rate_factor: float
    """Multiplier applied to the source trace's rate (1 for scenarios)."""


@dataclass(frozen=True)
class PolicyRun:
    trace: str
    policy: str
    result: RunResult


def prepare(spec: str, config: BenchConfig) -> PreparedTrace:
    """Load or synthesize trace ``spec`` and scale it to the configured peak need."""
    slo, seed = config.slo_ttft_seconds, config.seed
    if spec in scenarios.SCENARIOS:
        mix = (
            load_trace(config.mix_path, skip_bad_rows=config.skip_bad_rows)
            if config.mix_path
            else scenarios.default_mix(seed)
        )
        capacity = sizing.measure(config.profile, mix, slo, seed)
        peak = config.peak_replicas * capacity.planning_requests_per_second
        trace = scenarios.synthesize(spec, peak, config.scenario_seconds, seed, mix)
        return PreparedTrace(spec, trace, capacity, 1.0)
    source = load_trace(spec, skip_bad_rows=config.skip_bad_rows)
    if config.window_start > 0 or config.window_end is not None:
        source = window(source, config.window_start, config.window_end)
    name = Path(spec).stem
    if len(source) == 0:
        raise ValueError(f"{spec}: no requests in the selected window")
    capacity = sizing.measure(config.profile, source, slo, seed)
    factor = (
        config.peak_replicas * capacity.planning_requests_per_second / max(peak_rate(source), 1e-9)
    )
    if source.duration < RATE_WINDOW_SECONDS:
        # No busiest minute to scale: multiplying a trace this short would only pile copies
        # of its few requests into one jitter window. Replay it as recorded.
        factor = 1.0
    scaled = scale_rate(source, factor, seed, config.copy_jitter_seconds)
    return PreparedTrace(name, scaled, capacity, factor)


def oracle_need(prepared: PreparedTrace) -> IntArray:
    return need_per_second(prepared.trace, prepared.capacity.planning_rates)


def build_scaler(policy: str, prepared: PreparedTrace, config: BenchConfig) -> Scaler:
    capacity = prepared.capacity
    low, high = 1, config.max_replicas
    if policy in ("forescale", "reactive"):
        params = ScalingParameters(
            min_replicas=low,
            max_replicas=high,
            policy=PolicyKind.PREDICTIVE if policy == "forescale" else PolicyKind.REACTIVE,
            slo_ttft_p95_seconds=config.slo_ttft_seconds,
            capacity_requests_per_second=capacity.saturated_requests_per_second,
            capacity_tokens_per_second=capacity.saturated_tokens_per_second,
            cold_start_seconds=config.cold_start_seconds,
            control_interval_seconds=config.control_interval_seconds,
        )
        return ForescaleScaler(params, name=policy)
    target = capacity.planning_concurrency
    if policy == "hpa":
        return HpaScaler(low, high, target_inflight_per_pod=target)
    if policy == "keda":
        return KedaScaler(low, high)
    if policy == "kpa":
        return KpaScaler(low, high, target_concurrency=target)
    if policy == "phpa":
        return PhpaScaler(low, high, target_inflight_per_pod=target)
    need = oracle_need(prepared)
    if policy == "fixed":
        return FixedScaler(max(1, int(need.max())))
    if policy == "oracle":
        horizon = ColdStart(config.cold_start_seconds, config.cold_start_sigma).quantile(
            ORACLE_COLD_START_Z
        )
        return OracleScaler(need, horizon + config.control_interval_seconds, low, high)
    raise ValueError(f"unknown policy {policy!r}; known: {', '.join(POLICIES)}")


def fleet_config(prepared: PreparedTrace, config: BenchConfig) -> FleetConfig:
    need = oracle_need(prepared)
    head = math.ceil(config.cold_start_seconds + config.control_interval_seconds)
    initial = max(1, int(need[: head + 1].max())) if len(need) else 1
    return FleetConfig(
        profile=config.profile,
        cold_start=ColdStart(config.cold_start_seconds, config.cold_start_sigma),
        initial_replicas=min(initial, config.max_replicas),
        max_replicas=config.max_replicas,
        seed=config.seed,
    )


def run_policy(policy: str, prepared: PreparedTrace, config: BenchConfig) -> PolicyRun:
    scaler = build_scaler(policy, prepared, config)
    result = simulate(prepared.trace, scaler, fleet_config(prepared, config))
    return PolicyRun(prepared.name, policy, result)


def _percentile(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def score(
    run: PolicyRun, slo_ttft_seconds: float, oracle_gpu_hours: float | None
) -> dict[str, object]:
    """One results.json row."""
    ttft = run.result.ttft
    finished = ttft[~np.isnan(ttft)]
    requests = len(ttft)
    within = int(np.count_nonzero(finished <= slo_ttft_seconds))
    gpu_hours = run.result.gpu_seconds / 3600
    ratio = gpu_hours / oracle_gpu_hours if oracle_gpu_hours else None
    return {
        "trace": run.trace,
        "policy": run.policy,
        "requests": requests,
        "slo_attainment": within / requests if requests else 1.0,
        "ttft_p50": _percentile(finished, 50),
        "ttft_p95": _percentile(finished, 95),
        "ttft_p99": _percentile(finished, 99),
        "gpu_hours": gpu_hours,
        "gpu_hours_over_oracle": ratio,
        "scale_events": run.result.scale_events,
        "peak_waiting": run.result.peak_waiting,
        "dropped": run.result.dropped,
    }


@dataclass(frozen=True)
class TraceOutcome:
    prepared: PreparedTrace
    runs: tuple[PolicyRun, ...]
    """The requested policies' runs, in the requested order."""
    rows: tuple[dict[str, object], ...]


def run_bench(
    specs: Sequence[str],
    policies: Sequence[str],
    config: BenchConfig,
    jobs: int = 1,
    on_run: Callable[[str, str], None] = lambda trace, policy: None,
) -> list[TraceOutcome]:
    """Every policy on every trace. The oracle always runs: it is the GPU-hours yardstick.

    Runs are independent and seeded, so ``jobs > 1`` (processes) gives identical results.
    """
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policies {', '.join(unknown)}; known: {', '.join(POLICIES)}")
    order = ("oracle", *(p for p in policies if p != "oracle"))
    prepared = [prepare(spec, config) for spec in specs]
    tasks = [(trace, policy) for trace in prepared for policy in order]
    results: dict[tuple[str, str], PolicyRun] = {}
    if jobs <= 1:
        for trace, policy in tasks:
            results[trace.name, policy] = run_policy(policy, trace, config)
            on_run(trace.name, policy)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(run_policy, policy, trace, config): (trace.name, policy)
                for trace, policy in tasks
            }
            for future in as_completed(futures):
                key = futures[future]
                results[key] = future.result()
                on_run(*key)
    outcomes = []
    for trace in prepared:
        oracle_hours = results[trace.name, "oracle"].result.gpu_seconds / 3600
        runs = tuple(results[trace.name, policy] for policy in policies)
        rows = tuple(score(run, config.slo_ttft_seconds, oracle_hours) for run in runs)
        outcomes.append(TraceOutcome(trace, runs, rows))
    return outcomes
