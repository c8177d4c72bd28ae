"""Writing the benchmark's results: results.json, frontier.json, report.md and the figures.

results.json is the machine-readable contract (one row per trace x policy variant x knob
value x seed, fixed fields, ``null`` where undefined); frontier.json holds the per-trace
curves (``bench_frontier``); report.md is for people: per trace the load test, the oracle
and the fluid bound, each policy's curve with mean and spread over seeds, its cheapest point
at the SLO, and whether any peer beats every forescale point. Figures: one frontier per
trace (GPU-hours vs attainment, a line per policy, the oracle and the fluid bound marked)
and the timelines as small multiples (one panel per policy, shared axes, ending at the
trace's end). matplotlib runs headless (Agg); only the bench command imports this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # (after use(): the backend must be chosen first)

from forescale.sim import bench_frontier, bench_variants
from forescale.sim.bench import RESULT_FIELDS, BenchConfig, BenchOutcome, TraceSummary
from forescale.sim.traces import Trace, rate_series

#: Bin width of the load curve in the figures.
PLOT_BIN_SECONDS = 60.0


def _number(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, float)):
        return format(value, fmt)
    return str(value)


def write_json(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    data = [{key: row[key] for key in RESULT_FIELDS} for row in rows]
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _header(
    outcome: BenchOutcome, config: BenchConfig, overrides: Mapping[str, object]
) -> list[str]:
    seeds = ", ".join(str(s) for s in outcome.seeds)
    lines = [
        "# forescale bench report",
        "",
        f"Profile `{config.profile.name}`, cold start {config.cold_start_seconds:.0f} s "
        f"(log-normal sigma {config.cold_start_sigma}), TTFT SLO {config.slo_ttft_seconds:g} s, "
        f"peak need {config.peak_replicas:g} replicas, max {config.max_replicas}, "
        f"seeds {seeds}; the first {config.warmup_seconds:.0f} s (the trace's start, mirrored) "
        "are a warm-up, not scored. Attainment: share of requests with TTFT within the SLO "
        f"(target {config.attainment_target:.0%}).",
        "",
        "forescale runs from an LLMDeployment spec through the operator's mapping; CRD "
        "defaults except (knob at its default shown):",
        "",
        *(f"- `spec.{path}`: `{value}`" for path, value in overrides.items()),
        "",
        "Policies (one procedure sets every peer target; see docs/benchmarks.md):",
        "",
        *(
            f"- `{v.label}`: {v.description}; knob `{v.knob}` {list(v.values)}"
            for v in bench_variants.VARIANTS
            if v.label in outcome.labels
        ),
        "- `oracle`: hindsight plan of each 15, 30 or 60 s window's need, each replica "
        "started one p99 cold start ahead and kept through gaps shorter than a cold start; "
        "the cheapest plan (over the windows and per-replica capacities of 0.8-2.4 times the "
        "planning rate) whose replay meets the target (knob `capacity_share`: that capacity "
        "over the planning rate).",
        "",
    ]
    return lines


def _trace_intro(summary: TraceSummary) -> list[str]:
    prepared, capacity = summary.base, summary.sizing.capacity
    return [
        f"## {summary.name}",
        "",
        f"{prepared.scored_requests:,} scored requests (first seed) over "
        f"{(prepared.trace.duration - prepared.warmup_seconds) / 60:.1f} min, rate "
        f"x{summary.sizing.rate_factor:.2f}; one replica: "
        f"{capacity.slo_requests_per_second:.1f} req/s within the SLO, "
        f"{capacity.saturated_requests_per_second:.1f} saturated; peak need "
        f"{prepared.peak_need} replicas.",
        "",
    ]


def _point(point: Mapping[str, Any]) -> str:
    return f"{point['knob_value']:g}: {point['slo_attainment']:.2%}, {point['gpu_hours']:.2f} GPU-h"


def _sweep_section(summary: TraceSummary, entry: Mapping[str, Any]) -> list[str]:
    oracle = entry["oracle"] or {}
    oracle_gpu = oracle.get("gpu_hours")
    shares = ", ".join(
        f"{s:.2f} over {w:g} s"
        for s, w in zip(
            summary.oracle_capacity_shares, summary.oracle_windows_seconds, strict=False
        )
    )
    lines = [
        f"Oracle: {_number(oracle.get('slo_attainment'), '.2%')} at "
        f"{_number(oracle_gpu, '.2f')} GPU-h (capacity share and need window per seed: "
        f"{shares}); "
        f"fluid bound {_number(entry['fluid_bound_gpu_hours'], '.2f')} GPU-h.",
        "",
        "| policy | knob | value | attainment (mean ± sd) | GPU-h (mean ± sd) | x oracle |",
        "|---|---|---|---|---|---|",
    ]
    for name, policy in entry["policies"].items():
        for p in policy["points"]:
            ratio = p["gpu_hours"] / oracle_gpu if oracle_gpu else None
            lines.append(
                f"| {name} | {policy['knob']} | {p['knob_value']:g} "
                f"| {p['slo_attainment']:.2%} ± {p['spread']['slo_attainment']:.2%} "
                f"| {p['gpu_hours']:.2f} ± {p['spread']['gpu_hours']:.2f} "
                f"| {_number(ratio, '.2f')} |"
            )
    lines += ["", "| policy | cheapest at target | or best attainment |", "|---|---|---|"]
    for name, policy in entry["policies"].items():
        cheap, best = policy["cheapest_at_slo"], policy["best_attainment"]
        cheap_text = _point(cheap) if cheap else "never reaches it"
        best_text = "" if cheap or not best else _point(best)
        lines.append(f"| {name} | {cheap_text} | {best_text} |")
    beating = entry["beating_every_forescale_point"]
    lines += [
        "",
        (
            "Peer points beating every forescale point on both axes: "
            + "; ".join(
                f"{b['policy']} at {b['knob_value']:g} ({b['slo_attainment']:.2%}, "
                f"{b['gpu_hours']:.2f} GPU-h)"
                for b in beating
            )
            if beating
            else "No peer point beats every forescale point on both axes."
        ),
        "",
        "Policy points beating the oracle (at or above its attainment, fewer GPU-hours): "
        + _points(entry.get("beating_the_oracle", [])),
        "",
        f"![{summary.name} frontier]({summary.name}-frontier.png)",
        f"![{summary.name} timelines]({summary.name}.png)",
        "",
    ]
    return lines


def _table_section(summary: TraceSummary, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [
        "| policy | requests | SLO attainment | TTFT p50 (s) | TTFT p95 (s) | TTFT p99 (s) "
        "| GPU-hours | x oracle | scale events | peak waiting | dropped |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {bench_frontier.label(row)} | {row['requests']:,} "
            f"| {_number(row['slo_attainment'], '.2%')} "
            f"| {_number(row['ttft_p50'], '.2f')} | {_number(row['ttft_p95'], '.2f')} "
            f"| {_number(row['ttft_p99'], '.2f')} | {_number(row['gpu_hours'], '.2f')} "
            f"| {_number(row['gpu_hours_over_oracle'], '.2f')} | {row['scale_events']} "
            f"| {_number(row['peak_waiting'], '.0f')} | {row['dropped']} |"
        )
    return [*lines, "", f"![{summary.name}]({summary.name}.png)", ""]


def _cell(point: Mapping[str, Any] | None, with_knob: bool = False) -> str:
    if not point:
        return "-"
    text = f"{point['slo_attainment']:.2%} / {point['gpu_hours']:.2f}"
    if with_knob:
        text = f"{point['knob_value']:g}: {text}"
    if "policy" in point:
        text = f"{point['policy']} @ {text}"
    return text


def _points(points: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(_cell(p, with_knob=True) for p in points) if points else "none"


def summary_section(frontiers: Mapping[str, Any]) -> list[str]:
    """The per-trace table a reader needs first (``bench_frontier.summary``)."""
    default = bench_variants.BY_LABEL["forescale"].default
    lines = [
        "## Summary",
        "",
        "Cells: mean attainment / GPU-hours over the seeds (knob value first). forescale "
        f"default: knob {default:g}. Cheapest at the target: the cheapest point reaching it "
        "(forescale: its best attainment in parentheses if it never does). Dominating: peer "
        "points at least as good as every forescale point on both axes. Beating the oracle: "
        "points at or above its attainment for fewer GPU-hours (the oracle is then no lower "
        "bound on that trace).",
        "",
        "| trace | oracle | fluid bound | forescale default | forescale cheapest at target "
        "| cheapest peer at target | default / oracle | dominating every forescale point "
        "| beating the oracle | flash2 second crowd (forescale default) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for trace, entry in frontiers.items():
        s = bench_frontier.summary(entry, default)
        cheapest = s["forescale_cheapest_at_slo"]
        cheapest_text = (
            _cell(cheapest, with_knob=True)
            if cheapest
            else f"never ({_cell(s['forescale_best_attainment'], with_knob=True)})"
        )
        crowd = s["second_crowd_attainment"]
        lines.append(
            f"| {trace} | {_cell(s['oracle'])} | {_number(s['fluid_bound_gpu_hours'], '.2f')} "
            f"| {_cell(s['forescale_default'])} | {cheapest_text} "
            f"| {_cell(s['cheapest_peer_at_slo'], with_knob=True)} "
            f"| {_number(s['forescale_default_over_oracle'], '.2f')} "
            f"| {_points(s['beating_every_forescale_point'])} "
            f"| {_points(s['beating_the_oracle'])} "
            f"| {'-' if crowd is None else format(crowd, '.2%')} |"
        )
    return [*lines, ""]


def markdown(
    outcome: BenchOutcome,
    config: BenchConfig,
    frontiers: Mapping[str, Any],
    overrides: Mapping[str, object],
) -> str:
    lines = _header(outcome, config, overrides)
    if outcome.sweep:
        lines += summary_section(frontiers)
    for summary in outcome.traces:
        lines += _trace_intro(summary)
        if outcome.sweep:
            lines += _sweep_section(summary, frontiers[summary.name])
        else:
            mine = [r for r in outcome.rows if r["trace"] == summary.name]
            lines += _table_section(summary, mine)
    return "\n".join(lines)


def _color(name: str) -> Any:
    families = list(dict.fromkeys(v.policy for v in bench_variants.VARIANTS))
    policy = name.split(":", maxsplit=1)[0]
    index = families.index(policy) if policy in families else len(families)
    return plt.get_cmap("tab10")(index % 10)


def plot_frontier(name: str, entry: Mapping[str, Any], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(9, 6))
    for label, policy in entry["policies"].items():
        curve = policy["points"]
        xs = [p["gpu_hours"] for p in curve]
        ys = [100 * p["slo_attainment"] for p in curve]
        dashed = ":" in label
        axes.plot(
            xs, ys, marker="o" if not dashed else "s", linestyle="--" if dashed else "-",
            color=_color(label), label=label, linewidth=2 if label == "forescale" else 1,
            markersize=4,
        )  # fmt: skip
    oracle = entry.get("oracle")
    if oracle:
        axes.plot(
            oracle["gpu_hours"], 100 * oracle["slo_attainment"], marker="*", markersize=16,
            color="black", linestyle="none", label="oracle (feasible)",
        )  # fmt: skip
    fluid = entry.get("fluid_bound_gpu_hours")
    if fluid:
        axes.axvline(fluid, color="grey", linestyle=":", label="fluid lower bound")
    target = entry.get("attainment_target", 0.99)
    axes.axhline(100 * target, color="red", linewidth=0.8, linestyle=":", label="target")
    axes.set_xlabel("GPU-hours (mean over seeds)")
    axes.set_ylabel("requests within the TTFT SLO, % (mean over seeds)")
    axes.set_title(f"{name}: SLO attainment vs GPU cost (up and left is better)")
    low = min(
        [100 * p["slo_attainment"] for pol in entry["policies"].values() for p in pol["points"]]
        + [100 * target]
    )
    axes.set_ylim(max(0.0, low - 2), 100.5)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_timelines(summary: TraceSummary, path: Path) -> None:
    """One panel per policy (its default knob, first seed), shared axes, ending at the end."""
    prepared = summary.base
    warm = prepared.warmup_seconds
    end = prepared.trace.duration - warm
    scored = prepared.trace.arrivals >= warm
    trace = Trace(
        prepared.name,
        prepared.trace.arrivals[scored] - warm,
        prepared.trace.prompt_tokens[scored],
        prepared.trace.output_tokens[scored],
    )
    rate = rate_series(trace, PLOT_BIN_SECONDS, max(end, 1.0))
    minutes = (np.arange(len(rate)) + 0.5) * PLOT_BIN_SECONDS / 60
    need = rate / summary.sizing.capacity.planning_requests_per_second
    labels = [label for label in summary.timelines]
    columns = 2 if len(labels) > 3 else 1
    rows = math.ceil(len(labels) / columns) if labels else 1
    figure, axes = plt.subplots(
        rows, columns, figsize=(6 * columns, 1.9 * rows + 0.8), sharex=True, sharey=True,
        squeeze=False,
    )  # fmt: skip
    for index, label in enumerate(labels):
        ax = axes[index // columns][index % columns]
        line = summary.timelines[label]
        keep = line.time >= 0
        ax.step(minutes, need, where="mid", color="lightgrey", linewidth=1.5, label="need (1 min)")
        ax.step(
            line.time[keep] / 60, line.existing[keep], where="post", color=_color(label),
            linewidth=1.2, label="replicas (existing)",
        )  # fmt: skip
        ax.step(
            line.time[keep] / 60, line.ready[keep], where="post", color="black", linewidth=0.6,
            linestyle="--", label="ready",
        )  # fmt: skip
        ax.set_title(label, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    for index in range(len(labels), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    axes[0][0].set_xlim(0, max(end, 1.0) / 60)
    axes[0][0].legend(loc="upper left", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("minutes")
    for row_axes in axes:
        row_axes[0].set_ylabel("replicas")
    figure.suptitle(
        f"{summary.name}: replicas per policy at its default knob (grey: the need of each minute)",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_all(
    outcome: BenchOutcome,
    config: BenchConfig,
    out: Path,
    overrides: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    write_json(outcome.rows, out / "results.json")
    fluid = {s.name: s.fluid_gpu_hours for s in outcome.traces}
    frontiers = bench_frontier.frontier(outcome.rows, fluid, config.attainment_target)
    (out / "frontier.json").write_text(json.dumps(frontiers, indent=2) + "\n", encoding="utf-8")
    text = markdown(outcome, config, frontiers, overrides or {})
    (out / "report.md").write_text(text + "\n", encoding="utf-8")
    for summary in outcome.traces:
        plot_timelines(summary, out / f"{summary.name}.png")
        if outcome.sweep:
            plot_frontier(
                summary.name, frontiers[summary.name], out / f"{summary.name}-frontier.png"
            )
    return frontiers
