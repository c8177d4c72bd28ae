"""The benchmark: replay traces against every autoscaler and score SLO and GPU cost.

For each trace (a file, or a synthetic scenario name):

1. Size one replica for the trace's request mix once (``sizing``, seed-independent, as a
   load test would): saturated throughput, the highest rate within the TTFT SLO, and the
   requests one replica holds in flight at each swept share of that rate. Every policy's
   target comes from these numbers (``bench_variants``: one procedure for all).
2. For each seed, build the trace: real traces are rate-scaled so their busiest minute
   needs ``peak_replicas`` replicas (the copies' jitter is seeded), scenarios are drawn
   (seeded). A **warm-up** of ``warmup_seconds`` is prepended (the trace's first minutes,
   mirrored, so the load is continuous): policies start with history, the fleet starts at
   what the first minutes need, and nothing before the trace's start is scored.
3. Run each (policy, variant, knob value) on it; the cold starts are drawn from the seed.
4. Score from the end of the warm-up: share of requests whose TTFT is within the SLO
   (dropped requests count as misses), TTFT percentiles, GPU-hours, scale events, dropped.

The **oracle** is a feasible hindsight plan (``provisioning.oracle_plan``), replayed like any
policy. Its search (``search_oracle``) builds the plans of several need windows (15, 30 and
60 s) at per-replica capacities from 0.8 to 2.4 times the planning rate (a pooled fleet
behind a least-loaded router runs hotter than one replica alone), orders them by what they
cost, and bisects that order for the cheapest plan whose replay meets
``attainment_target``; a replay that has already missed too many requests stops early.
Beside it, the **fluid bound**: the trace's work over one replica's within-SLO rate (a
reference, not a proof: pooled queues let a fleet run above one replica's SLO rate).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from forescale.sim import bench_variants, scenarios, sizing
from forescale.sim.fleet import ColdStart, FleetConfig, RunResult, Timeline, simulate
from forescale.sim.peers.provisioning import (
    FixedScaler,
    OracleScaler,
    fluid_gpu_seconds,
    need_per_second,
    oracle_plan,
)
from forescale.sim.replica_model import ReplicaProfile
from forescale.sim.sizing import ReplicaCapacity
from forescale.sim.traces import (
    COPY_JITTER_SECONDS,
    IntArray,
    Trace,
    TraceColumns,
    load_trace,
    peak_rate,
    scale_rate,
    window,
)

POLICIES = bench_variants.POLICIES
#: The columns of results.json, in order (the issue's interface, then two context columns).
RESULT_FIELDS: tuple[str, ...] = (
    "trace",
    "policy",
    "variant",
    "knob",
    "knob_value",
    "seed",
    "requests",
    "slo_attainment",
    "gpu_hours",
    "ttft_p50",
    "ttft_p95",
    "ttft_p99",
    "scale_events",
    "dropped",
    "gpu_hours_over_oracle",
    "peak_waiting",
    "second_crowd_attainment",
)
#: Window of the busiest-minute rate that rate scaling targets (``traces.peak_rate``).
RATE_WINDOW_SECONDS = 60.0
#: z of the cold-start quantile the oracle provisions ahead by (p99).
ORACLE_COLD_START_Z = 2.33
#: The oracle's search: per-replica capacities as shares of the planning rate (5 % steps
#: from 0.8 to about 2.4: above one replica's SLO rate too), need windows, and a cap on
#: replays (a bisection over about 70 distinct plans needs 7).
ORACLE_SHARES: tuple[float, ...] = tuple(round(0.8 * 1.05**i, 4) for i in range(23))
ORACLE_WINDOWS_SECONDS = (15.0, 30.0, 60.0)
ORACLE_MAX_REPLAYS = 9


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
    trace_columns: TraceColumns = field(default_factory=TraceColumns)
    """The trace files' column (or JSONL key) names: arrival, prompt tokens, output tokens."""
    copy_jitter_seconds: float = COPY_JITTER_SECONDS
    mix_path: str | None = None
    """Trace whose request sizes the synthetic scenarios draw from (default: chat mix)."""
    control_interval_seconds: float = 15.0
    seed: int = 0
    """The first seed (and the one sizing uses); a sweep runs seeds ``seed .. seed+n-1``."""
    warmup_seconds: float = 300.0
    attainment_target: float = 0.99


@dataclass(frozen=True)
class Sizing:
    """What the load test of one replica said for one trace's mix (seed-independent)."""

    spec: str
    name: str
    capacity: sizing.ReplicaCapacity
    rate_factor: float
    """Multiplier applied to the source trace's rate (1 for scenarios)."""
    inflight: tuple[tuple[float, float], ...]
    """(share of the within-SLO rate, mean requests in flight per replica at it)."""

    def inflight_at(self, share: float) -> float:
        for known, value in self.inflight:
            if math.isclose(known, share):
                return value
        raise KeyError(f"no in-flight measurement at {share} of the SLO rate")


@dataclass(frozen=True)
class PreparedTrace:
    name: str
    trace: Trace
    """Warm-up prefix followed by the trace, the trace starting at ``warmup_seconds``."""
    sizing: Sizing
    seed: int
    warmup_seconds: float
    peak_need: int
    """Replicas the busiest moment of the scored trace needs (planning rate, 60 s windows)."""

    @property
    def capacity(self) -> ReplicaCapacity:
        return self.sizing.capacity

    @property
    def rate_factor(self) -> float:
        return self.sizing.rate_factor

    @property
    def scored_requests(self) -> int:
        return int(np.count_nonzero(self.trace.arrivals >= self.warmup_seconds))


def _source(spec: str, config: BenchConfig, seed: int) -> Trace:
    if scenarios.is_scenario(spec):
        mix = _mix(config, config.seed)
        return scenarios.synthesize(spec, 1.0, config.scenario_seconds, seed, mix)
    source = load_trace(spec, config.trace_columns, skip_bad_rows=config.skip_bad_rows)
    if config.window_start > 0 or config.window_end is not None:
        source = window(source, config.window_start, config.window_end)
    if len(source) == 0:
        raise ValueError(f"{spec}: no requests in the selected window")
    return source


def _mix(config: BenchConfig, seed: int) -> Trace:
    if config.mix_path:
        return load_trace(config.mix_path, config.trace_columns, skip_bad_rows=config.skip_bad_rows)
    return scenarios.default_mix(seed)


def size(spec: str, config: BenchConfig) -> Sizing:
    """The load test of one replica for trace ``spec`` (seed ``config.seed``)."""
    slo, seed = config.slo_ttft_seconds, config.seed
    if scenarios.is_scenario(spec):
        mix = _mix(config, seed)
        name, factor = scenarios.display_name(spec), 1.0
    else:
        mix = _source(spec, config, seed)
        name = Path(spec).stem
    capacity = sizing.measure(config.profile, mix, slo, seed)
    if not scenarios.is_scenario(spec):
        target = config.peak_replicas * capacity.planning_requests_per_second
        factor = target / max(peak_rate(mix), 1e-9)
        if mix.duration < RATE_WINDOW_SECONDS:
            # No busiest minute to scale: multiplying a trace this short would only pile
            # copies of its few requests into one jitter window. Replay it as recorded.
            factor = 1.0
    shares = sorted({*bench_variants.UTILIZATIONS, bench_variants.DEFAULT_UTILIZATION})
    rates = [share * capacity.slo_requests_per_second for share in shares]
    inflight = sizing.concurrency_at(config.profile, mix, rates, seed)
    return Sizing(spec, name, capacity, factor, tuple(zip(shares, inflight, strict=True)))


def _with_warmup(trace: Trace, warmup: float) -> Trace:
    """``trace`` shifted by ``warmup`` after a mirror image of its first ``warmup`` seconds."""
    if warmup <= 0:
        return trace
    head = trace.arrivals < warmup
    mirrored = np.maximum(warmup - trace.arrivals[head] - 1e-3, 0.0)
    arrivals = np.concatenate([mirrored, trace.arrivals + warmup])
    prompts = np.concatenate([trace.prompt_tokens[head], trace.prompt_tokens])
    outputs = np.concatenate([trace.output_tokens[head], trace.output_tokens])
    order = np.argsort(arrivals, kind="stable")
    return Trace(trace.name, arrivals[order], prompts[order], outputs[order], trace.skipped_rows)


def prepare(
    spec: str, config: BenchConfig, seed: int | None = None, sized: Sizing | None = None
) -> PreparedTrace:
    """Trace ``spec`` for ``seed`` (default ``config.seed``), scaled, with its warm-up."""
    seed = config.seed if seed is None else seed
    sized = sized or size(spec, config)
    if scenarios.is_scenario(spec):
        peak = config.peak_replicas * sized.capacity.planning_requests_per_second
        mix = _mix(config, seed)
        base = scenarios.synthesize(spec, peak, config.scenario_seconds, seed, mix)
    else:
        base = scale_rate(
            _source(spec, config, seed), sized.rate_factor, seed, config.copy_jitter_seconds
        )
    need = need_per_second(base, sized.capacity.planning_rates)
    # A warm-up longer than the trace would mirror the whole trace and start it idle.
    warmup = min(config.warmup_seconds, math.floor(base.duration))
    trace = _with_warmup(base, warmup)
    return PreparedTrace(sized.name, trace, sized, seed, warmup, max(1, int(need.max(initial=1))))


@functools.lru_cache(maxsize=2)
def _prepared(spec: str, config: BenchConfig, seed: int, sized: Sizing) -> PreparedTrace:
    return prepare(spec, config, seed, sized)


def fleet_config(
    prepared: PreparedTrace, config: BenchConfig, initial: int | None = None
) -> FleetConfig:
    """The fleet starts Ready at what the first cold start needs (or ``initial``)."""
    if initial is None:
        need = need_per_second(prepared.trace, prepared.capacity.planning_rates)
        head = math.ceil(config.cold_start_seconds + config.control_interval_seconds)
        initial = max(1, int(need[: head + 1].max())) if len(need) else 1
    return FleetConfig(
        profile=config.profile,
        cold_start=ColdStart(config.cold_start_seconds, config.cold_start_sigma),
        initial_replicas=min(initial, config.max_replicas),
        max_replicas=config.max_replicas,
        seed=prepared.seed,
        account_from=prepared.warmup_seconds,
    )


def _percentile(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def score(
    prepared: PreparedTrace,
    result: RunResult,
    slo_ttft_seconds: float,
    labels: dict[str, object],
) -> dict[str, object]:
    """One results.json row (``gpu_hours_over_oracle`` is filled in once the oracle ran)."""
    scored = prepared.trace.arrivals >= prepared.warmup_seconds
    ttft = result.ttft[scored]
    finished = ttft[~np.isnan(ttft)]
    requests = len(ttft)
    within = int(np.count_nonzero(finished <= slo_ttft_seconds))
    return {
        "trace": prepared.name,
        **labels,
        "seed": prepared.seed,
        "requests": requests,
        "slo_attainment": within / requests if requests else 1.0,
        "gpu_hours": result.gpu_seconds / 3600,
        "ttft_p50": _percentile(finished, 50),
        "ttft_p95": _percentile(finished, 95),
        "ttft_p99": _percentile(finished, 99),
        "scale_events": result.scale_events,
        "dropped": int(np.count_nonzero(np.isnan(ttft))),
        "gpu_hours_over_oracle": None,
        "peak_waiting": result.peak_waiting,
        "second_crowd_attainment": None,
    }


def second_crowd(spec: str, prepared: PreparedTrace, config: BenchConfig) -> tuple[float, float]:
    """flash2's second crowd, in the prepared trace's time: from its onset to the end."""
    if spec != "flash2":
        raise ValueError(f"{spec} has no second crowd")
    onset = config.scenario_seconds / 3 + scenarios.FLASH2_GAP_SECONDS
    return prepared.warmup_seconds + onset, prepared.warmup_seconds + config.scenario_seconds


def segment_attainment(
    prepared: PreparedTrace, result: RunResult, slo_ttft_seconds: float, start: float, end: float
) -> float | None:
    """Attainment of the requests arriving in [start, end) (None when there are none)."""
    arrivals = prepared.trace.arrivals
    inside = (arrivals >= start) & (arrivals < end)
    ttft = result.ttft[inside]
    if len(ttft) == 0:
        return None
    within = np.count_nonzero(ttft[~np.isnan(ttft)] <= slo_ttft_seconds)
    return float(within / len(ttft))


@dataclass(frozen=True)
class Task:
    spec: str
    seed: int
    label: str
    """A variant label (``bench_variants``) or ``oracle``."""
    knob_value: float
    keep_timeline: bool


@dataclass(frozen=True)
class TaskResult:
    task: Task
    row: dict[str, object]
    timeline: Timeline | None
    oracle_capacity_share: float | None = None
    fluid_gpu_hours: float | None = None
    oracle_window_seconds: float | None = None


def _shifted(timeline: Timeline, by: float) -> Timeline:
    return replace(timeline, time=timeline.time - by)


@dataclass(frozen=True)
class OracleCandidate:
    window_seconds: float
    share: float
    """Per-replica capacity the plan assumes, as a share of the planning rate."""
    plan: IntArray
    cost: float
    """Replica-seconds the plan asks for over the scored trace, tick by tick."""


@dataclass(frozen=True)
class OraclePick:
    result: RunResult
    candidate: OracleCandidate
    feasible: bool
    replays: int


def oracle_candidates(prepared: PreparedTrace, config: BenchConfig) -> list[OracleCandidate]:
    """Every distinct plan of the search grid, cheapest first."""
    cold = ColdStart(config.cold_start_seconds, config.cold_start_sigma)
    lead = cold.quantile(ORACLE_COLD_START_Z) + config.control_interval_seconds
    requests, prompt, output = prepared.capacity.planning_rates
    interval = config.control_interval_seconds
    ticks = np.arange(interval, prepared.trace.duration, interval)
    scored = ticks >= prepared.warmup_seconds
    horizon = math.ceil(interval) + 1
    seen: set[bytes] = set()
    out = []
    for window_seconds in ORACLE_WINDOWS_SECONDS:
        for share in ORACLE_SHARES:
            rates = (share * requests, share * prompt, share * output)
            need = need_per_second(prepared.trace, rates, window_seconds)
            plan = oracle_plan(need, lead, config.cold_start_seconds)
            key = plan.tobytes()
            if key in seen:
                continue
            seen.add(key)
            # What OracleScaler asks for at each tick: the plan's most over the next tick.
            padded = np.concatenate([plan, np.zeros(horizon, dtype=np.int64)])
            windows = np.lib.stride_tricks.sliding_window_view(padded, horizon)
            asked = np.clip(windows.max(axis=1)[ticks.astype(np.int64)], 1, config.max_replicas)
            cost = float(asked[scored].sum() * interval)
            out.append(OracleCandidate(window_seconds, share, plan, cost))
    return sorted(out, key=lambda c: (c.cost, c.window_seconds, c.share))


def search_oracle(prepared: PreparedTrace, config: BenchConfig) -> OraclePick:
    """The cheapest candidate plan whose replay meets ``attainment_target``.

    Candidates are ordered by cost; the search replays the most generous one, then bisects
    the order (feasibility grows with cost, nearly monotonically: a plan for 60 s windows at
    a low share and one for 15 s windows at a high share can cost the same). Replays that
    cannot reach the target any more stop early (``FleetConfig.abort_after_misses``).
    The most generous plan is replayed to the end (it is the pick when even it misses the
    target, returned with ``feasible`` False; the report shows the oracle's attainment, so
    a reader sees it). Stopped early, its requests after the stop counted as dropped and
    its GPU-hours ended there: the held-out code windows (``make bench-holdout``) showed an
    oracle at 0.8 % of requests and 0.72x forescale's GPU-hours where max 16 replicas could
    not keep code's 15 s bursts within the SLO at 99 %.
    """
    candidates = oracle_candidates(prepared, config)
    scored = prepared.scored_requests
    budget = math.floor((1.0 - config.attainment_target) * scored + 1e-9)
    fleet = replace(
        fleet_config(prepared, config),
        abort_after_misses=budget,
        miss_ttft_seconds=config.slo_ttft_seconds,
    )
    replays = 0

    def replay(candidate: OracleCandidate, stop_early: bool = True) -> tuple[RunResult, bool]:
        nonlocal replays
        replays += 1
        scaler = OracleScaler(
            candidate.plan, config.control_interval_seconds, 1, config.max_replicas
        )
        result = simulate(
            prepared.trace, scaler, fleet if stop_early else replace(fleet, abort_after_misses=None)
        )
        if result.aborted:
            return result, False
        attained = score(prepared, result, config.slo_ttft_seconds, {})["slo_attainment"]
        assert isinstance(attained, float)
        return result, attained >= config.attainment_target

    low, high = -1, len(candidates) - 1
    best, ok = replay(candidates[high], stop_early=False)
    if not ok:
        return OraclePick(best, candidates[high], False, replays)
    while high - low > 1 and replays < ORACLE_MAX_REPLAYS:
        middle = (low + high) // 2
        result, ok = replay(candidates[middle])
        if ok:
            high, best = middle, result
        else:
            low = middle
    return OraclePick(best, candidates[high], True, replays)


def run_oracle(prepared: PreparedTrace, config: BenchConfig) -> tuple[RunResult, float]:
    """The oracle's replay and the capacity share it planned with (``search_oracle``)."""
    pick = search_oracle(prepared, config)
    return pick.result, pick.candidate.share


def run_task(task: Task, config: BenchConfig, sized: Sizing) -> TaskResult:
    prepared = _prepared(task.spec, config, task.seed, sized)
    share = fluid = window = None
    if task.label == "oracle":
        pick = search_oracle(prepared, config)
        result, share = pick.result, pick.candidate.share
        window = pick.candidate.window_seconds
        fluid = fluid_gpu_hours(prepared)
        labels: dict[str, object] = {
            "policy": "oracle",
            "variant": "",
            "knob": "capacity_share",
            "knob_value": share,
        }
    else:
        variant = bench_variants.BY_LABEL[task.label]
        scaler = variant.build(task.knob_value, prepared, config)
        # A fixed fleet is what it is from the start (no scale event to reach its size).
        initial = scaler.replicas if isinstance(scaler, FixedScaler) else None
        result = simulate(prepared.trace, scaler, fleet_config(prepared, config, initial))
        labels = {
            "policy": variant.policy,
            "variant": variant.variant,
            "knob": variant.knob,
            "knob_value": task.knob_value,
        }
    row = score(prepared, result, config.slo_ttft_seconds, labels)
    if task.spec == "flash2":
        start, end = second_crowd(task.spec, prepared, config)
        row["second_crowd_attainment"] = segment_attainment(
            prepared, result, config.slo_ttft_seconds, start, end
        )
    timeline = _shifted(result.timeline, prepared.warmup_seconds) if task.keep_timeline else None
    return TaskResult(task, row, timeline, share, fluid, window)


@dataclass
class TraceSummary:
    """Per trace: what the report needs besides the rows."""

    name: str
    sizing: Sizing
    base: PreparedTrace
    """The first seed's prepared trace (for the load curve of the figures)."""
    fluid_gpu_hours: float
    """Mean over seeds of the fluid lower bound."""
    oracle_capacity_shares: list[float] = field(default_factory=list)
    oracle_windows_seconds: list[float] = field(default_factory=list)
    timelines: dict[str, Timeline] = field(default_factory=dict)
    """label -> the first seed's run at the label's default knob."""


@dataclass
class BenchOutcome:
    rows: list[dict[str, object]]
    traces: list[TraceSummary]
    sweep: bool
    seeds: tuple[int, ...]
    labels: tuple[str, ...]
    """Variant labels run (oracle included), in table order."""


def fluid_gpu_hours(prepared: PreparedTrace) -> float:
    scored = prepared.trace.arrivals >= prepared.warmup_seconds
    trace = Trace(
        prepared.name,
        prepared.trace.arrivals[scored],
        prepared.trace.prompt_tokens[scored],
        prepared.trace.output_tokens[scored],
    )
    c = prepared.capacity
    rate = c.slo_requests_per_second
    per_replica = (rate, rate * c.mean_prompt_tokens, rate * c.mean_output_tokens)
    return fluid_gpu_seconds(trace, per_replica) / 3600


def _pick(values: tuple[float, ...], default: float, points: int | None) -> tuple[float, ...]:
    if points is None or points >= len(values):
        return values
    if points <= 1:
        return (default,)
    index = np.unique(np.round(np.linspace(0, len(values) - 1, points)).astype(int))
    chosen = {values[i] for i in index} | {default}
    return tuple(v for v in values if v in chosen)


def plan_tasks(
    specs: Sequence[str],
    policies: Sequence[str],
    seeds: Sequence[int],
    sweep: bool,
    points: int | None = None,
) -> tuple[list[Task], tuple[str, ...]]:
    variants = bench_variants.variants_of(list(policies), sweep)
    labels = (*(v.label for v in variants), "oracle")
    tasks: list[Task] = []
    for spec in specs:
        for seed in seeds:
            first = seed == seeds[0]
            tasks.append(Task(spec, seed, "oracle", 1.0, first))
            for v in variants:
                values = _pick(v.values, v.default, points) if sweep else (v.default,)
                for value in values:
                    keep = first and math.isclose(value, v.default)
                    tasks.append(Task(spec, seed, v.label, value, keep))
    return tasks, labels


def run_bench(
    specs: Sequence[str],
    policies: Sequence[str],
    config: BenchConfig,
    jobs: int = 1,
    on_run: Callable[[str, str], None] = lambda trace, label: None,
    *,
    sweep: bool = False,
    seeds: int = 1,
    points: int | None = None,
    on_sizing: Callable[[str], None] = lambda spec: None,
) -> BenchOutcome:
    """Every requested policy on every trace and seed; the oracle always runs.

    Runs are independent and seeded, so ``jobs > 1`` (processes) gives identical results.
    """
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policies {', '.join(unknown)}; known: {', '.join(POLICIES)}")
    seed_list = tuple(config.seed + i for i in range(max(1, seeds)))
    sizings: dict[str, Sizing] = {}
    for spec in specs:
        sizings[spec] = size(spec, config)
        on_sizing(spec)
    tasks, labels = plan_tasks(specs, policies, seed_list, sweep, points)
    done: dict[int, TaskResult] = {}
    if jobs <= 1:
        for index, task in enumerate(tasks):
            done[index] = run_task(task, config, sizings[task.spec])
            on_run(task.spec, task.label)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(run_task, task, config, sizings[task.spec]): index
                for index, task in enumerate(tasks)
            }
            for future in as_completed(futures):
                index = futures[future]
                done[index] = future.result()
                on_run(tasks[index].spec, tasks[index].label)
    results = [done[index] for index in range(len(tasks))]
    oracle_hours = {
        (r.task.spec, r.task.seed): float(r.row["gpu_hours"])  # type: ignore[arg-type]
        for r in results
        if r.task.label == "oracle"
    }
    rows = []
    for r in results:
        hours = oracle_hours.get((r.task.spec, r.task.seed))
        if hours:
            r.row["gpu_hours_over_oracle"] = float(r.row["gpu_hours"]) / hours  # type: ignore[arg-type]
        rows.append(r.row)
    summaries = []
    for spec in specs:
        sized = sizings[spec]
        mine = [r for r in results if r.task.spec == spec]
        fluid = [r.fluid_gpu_hours for r in mine if r.fluid_gpu_hours is not None]
        base = prepare(spec, config, seed_list[0], sized)
        summary = TraceSummary(sized.name, sized, base, float(np.mean(fluid)))
        for r in mine:
            if r.oracle_capacity_share is not None:
                summary.oracle_capacity_shares.append(r.oracle_capacity_share)
            if r.oracle_window_seconds is not None:
                summary.oracle_windows_seconds.append(r.oracle_window_seconds)
            if r.timeline is not None:
                summary.timelines[r.task.label] = r.timeline
        summaries.append(summary)
    return BenchOutcome(rows, summaries, sweep, seed_list, labels)


def oracle_need(prepared: PreparedTrace) -> IntArray:
    return need_per_second(prepared.trace, prepared.capacity.planning_rates)
