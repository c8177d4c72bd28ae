"""Writing the benchmark's results: results.json, report.md and one figure per trace.

results.json is the machine-readable contract (one row per trace x policy, fixed fields,
``null`` where a value is undefined); report.md is for people and states, per trace,
whether forescale met its targets and which peer (if any) beats it on both axes; the
figures show load, forecast and replicas over time, so a surprising number can be traced
to a moment. matplotlib runs headless (Agg); only the bench command imports this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # (after use(): the backend must be chosen first)

from forescale.sim.bench import RESULT_FIELDS, BenchConfig, TraceOutcome
from forescale.sim.traces import rate_series

#: forescale's targets (docs/benchmarks.md).
TARGET_SLO_ATTAINMENT = 0.99
TARGET_GPU_OVER_ORACLE = 1.25
#: Bin width of the load curve in the figures.
PLOT_BIN_SECONDS = 60.0


def rows(outcomes: Sequence[TraceOutcome]) -> list[dict[str, object]]:
    return [dict(row) for outcome in outcomes for row in outcome.rows]


def write_json(outcomes: Sequence[TraceOutcome], path: Path) -> None:
    data = [{key: row[key] for key in RESULT_FIELDS} for row in rows(outcomes)]
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _number(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, float)):
        return format(value, fmt)
    return str(value)


def dominating_peers(outcome: TraceOutcome) -> list[str]:
    """Peers (not the oracle) at least as good as forescale on SLO and GPU-hours, better on one."""
    by_policy = {str(row["policy"]): row for row in outcome.rows}
    ours = by_policy.get("forescale")
    if ours is None:
        return []
    slo, gpu = float(ours["slo_attainment"]), float(ours["gpu_hours"])  # type: ignore[arg-type]
    out = []
    for name, row in by_policy.items():
        if name in ("forescale", "oracle"):
            continue
        other_slo, other_gpu = float(row["slo_attainment"]), float(row["gpu_hours"])  # type: ignore[arg-type]
        if other_slo >= slo and other_gpu <= gpu and (other_slo > slo or other_gpu < gpu):
            out.append(name)
    return out


def _verdict(outcome: TraceOutcome) -> str:
    ours = next((row for row in outcome.rows if row["policy"] == "forescale"), None)
    if ours is None:
        return ""
    slo = float(ours["slo_attainment"])  # type: ignore[arg-type]
    ratio = ours["gpu_hours_over_oracle"]
    gpu_ok = isinstance(ratio, float) and ratio <= TARGET_GPU_OVER_ORACLE
    beaten = dominating_peers(outcome)
    slo_ok = slo >= TARGET_SLO_ATTAINMENT
    parts = [
        f"SLO attainment {slo:.2%} ({'met' if slo_ok else 'MISSED'}, target >= 99 %)",
        f"GPU-hours {_number(ratio, '.2f')}x oracle ({'met' if gpu_ok else 'MISSED'}, "
        "target <= 1.25x)",
        "no peer better on both" if not beaten else f"DOMINATED by {', '.join(beaten)}",
    ]
    return "forescale: " + "; ".join(parts) + "."


def markdown(outcomes: Sequence[TraceOutcome], config: BenchConfig) -> str:
    lines = [
        "# forescale bench report",
        "",
        f"Profile `{config.profile.name}`, cold start {config.cold_start_seconds:.0f} s "
        f"(log-normal sigma {config.cold_start_sigma}), TTFT SLO {config.slo_ttft_seconds:g} s, "
        f"peak need {config.peak_replicas:g} replicas, max {config.max_replicas}, "
        f"seed {config.seed}.",
        "",
    ]
    header = (
        "| policy | requests | SLO attainment | TTFT p50 (s) | TTFT p95 (s) | TTFT p99 (s) "
        "| GPU-hours | x oracle | scale events | peak waiting | dropped |"
    )
    for outcome in outcomes:
        prepared = outcome.prepared
        capacity = prepared.capacity
        lines += [
            f"## {prepared.name}",
            "",
            f"{len(prepared.trace):,} requests over {prepared.trace.duration / 60:.1f} min, rate x"
            f"{prepared.rate_factor:.2f}; one replica: {capacity.planning_requests_per_second:.1f} "
            f"req/s planned, {capacity.slo_requests_per_second:.1f} within SLO, "
            f"{capacity.saturated_requests_per_second:.1f} saturated.",
            "",
            header,
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in outcome.rows:
            lines.append(
                f"| {row['policy']} | {row['requests']:,} "
                f"| {_number(row['slo_attainment'], '.2%')} "
                f"| {_number(row['ttft_p50'], '.2f')} | {_number(row['ttft_p95'], '.2f')} "
                f"| {_number(row['ttft_p99'], '.2f')} | {_number(row['gpu_hours'], '.2f')} "
                f"| {_number(row['gpu_hours_over_oracle'], '.2f')} | {row['scale_events']} "
                f"| {_number(row['peak_waiting'], '.0f')} | {row['dropped']} |"
            )
        lines += ["", _verdict(outcome), "", f"![{prepared.name}]({prepared.name}.png)", ""]
    return "\n".join(lines)


def plot(outcome: TraceOutcome, path: Path) -> None:
    trace = outcome.prepared.trace
    until = max(trace.duration, 1.0)
    rate = rate_series(trace, PLOT_BIN_SECONDS, until)
    minutes = (np.arange(len(rate)) + 0.5) * PLOT_BIN_SECONDS / 60
    figure, (load, replicas) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    load.step(minutes, rate, where="mid", color="black", linewidth=1.5, label="arrivals (1 min)")
    for run in outcome.runs:
        line = run.result.timeline
        if np.any(~np.isnan(line.forecast)):
            load.plot(line.time / 60, line.forecast, linewidth=1, label=f"{run.policy} planned")
        replicas.step(line.time / 60, line.existing, where="post", linewidth=1, label=run.policy)
    load.set_ylabel("requests/s")
    load.set_title(f"{outcome.prepared.name}: load and forecast")
    load.legend(loc="upper left", fontsize=8)
    replicas.set_ylabel("replicas (existing)")
    replicas.set_xlabel("minutes")
    replicas.legend(loc="upper left", fontsize=8, ncol=4)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_all(outcomes: Sequence[TraceOutcome], config: BenchConfig, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(outcomes, out / "results.json")
    (out / "report.md").write_text(markdown(outcomes, config) + "\n", encoding="utf-8")
    for outcome in outcomes:
        plot(outcome, out / f"{outcome.prepared.name}.png")
