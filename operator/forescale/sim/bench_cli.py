"""``forescale bench``: replay traces against forescale and its peers; write results and plots.

Thin by design: parse options, run ``benchmark.run_bench`` with a progress bar, write the
report. Without ``--sweep`` every policy runs once at its default knob (one row per policy
and seed); with it, every variant over its knob values and ``--seeds`` seeds, and the report
shows frontiers. Durations accept ``180``, ``180s``, ``3m`` or ``1h`` so that the command line reads
like a Kubernetes spec.
"""

from __future__ import annotations

import sys
import time
from dataclasses import astuple
from pathlib import Path

import click

from forescale.sim import bench as benchmark
from forescale.sim import bench_report, bench_spec
from forescale.sim.replica_profiles import UnknownProfileError, get_profile
from forescale.sim.sizing import ReplicaCapacity
from forescale.sim.traces import TraceColumns, TraceFormatError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds from ``180``, ``180s``, ``3m``, ``1.5h`` or ``500ms``."""
    value = text.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if value.endswith(unit):
            number, scale = value[: -len(unit)], _UNITS[unit]
            break
    else:
        number, scale = value, 1.0
    try:
        seconds = float(number) * scale
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration like 180s, 3m or 1h") from None
    if not seconds >= 0:
        raise click.BadParameter(f"{text!r} must not be negative")
    return seconds


def _columns(text: str) -> TraceColumns:
    """``--trace-columns``: three non-empty names, arrival first."""
    names = [name.strip() for name in text.split(",")]
    if len(names) != 3 or not all(names):
        raise click.BadParameter(
            f"{text!r} must name three columns: arrival, prompt tokens, output tokens",
            param_hint="--trace-columns",
        )
    return TraceColumns(*names)


def _duration_option(ctx: click.Context, param: click.Parameter, value: str) -> float:
    return parse_duration(value)


@click.command()
@click.option(
    "--trace",
    "traces",
    multiple=True,
    required=True,
    help="Trace file (CSV/JSONL) or scenario (steady, step, ramp, flash, flash2, diurnal; "
    "recurring, workday; the held-out sawtooth, stairs, wave, onoff, surge, mixshift). "
    "Repeatable.",
)
@click.option(
    "--policies",
    default=",".join(benchmark.POLICIES),
    show_default=True,
    help="Comma-separated policies to compare.",
)
@click.option(
    "--cold-start",
    callback=_duration_option,
    default="180s",
    show_default=True,
    help="Median pod start-to-Ready.",
)
@click.option(
    "--cold-start-sigma",
    type=float,
    default=0.1,
    show_default=True,
    help="Log-normal shape of the cold start.",
)
@click.option(
    "--slo-ttft", callback=_duration_option, default="2s", show_default=True, help="TTFT SLO."
)
@click.option(
    "--peak-replicas",
    type=float,
    default=16.0,
    show_default=True,
    help="Scale traces so the busiest minute needs this many replicas.",
)
@click.option(
    "--max-replicas",
    type=int,
    default=32,
    show_default=True,
    help="Upper bound for every autoscaler.",
)
@click.option(
    "--profile",
    "profile_name",
    default="llama-3.1-8b-h100",
    show_default=True,
    help="Replica profile.",
)
@click.option(
    "--scenario-duration",
    callback=_duration_option,
    default="30m",
    show_default=True,
    help="Length of synthetic scenarios.",
)
@click.option(
    "--mix",
    "mix_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Trace whose request sizes scenarios use.",
)
@click.option(
    "--window",
    "window_text",
    default=None,
    help="Cut real traces to START:END (durations from the trace start).",
)
@click.option(
    "--skip-bad-rows", is_flag=True, help="Skip and count malformed trace rows instead of failing."
)
@click.option(
    "--trace-columns",
    "columns_text",
    default=",".join(astuple(TraceColumns())),
    show_default=True,
    help="The trace files' arrival, prompt-token and output-token column (or JSONL key) "
    "names, comma-separated (BurstGPT: 'Timestamp,Request tokens,Response tokens').",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output directory.",
)
@click.option(
    "--copy-jitter",
    callback=_duration_option,
    default="30s",
    show_default=True,
    help="Arrival jitter of the copies rate scaling adds to real traces.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="First seed.")
@click.option(
    "--seeds", type=int, default=1, show_default=True, help="Seeds per point (seed, seed+1, ...)."
)
@click.option("--sweep", is_flag=True, help="Every variant over its knob values: frontiers.")
@click.option(
    "--points",
    type=int,
    default=None,
    help="With --sweep: at most this many knob values per variant (evenly spaced, default kept).",
)
@click.option(
    "--warmup",
    callback=_duration_option,
    default="5m",
    show_default=True,
    help="Unscored warm-up before each trace (its start, mirrored).",
)
@click.option(
    "--jobs",
    type=int,
    default=1,
    show_default=True,
    help="Parallel processes (results do not depend on it).",
)
def bench(
    *,
    traces: tuple[str, ...],
    policies: str,
    cold_start: float,
    cold_start_sigma: float,
    slo_ttft: float,
    peak_replicas: float,
    max_replicas: int,
    profile_name: str,
    scenario_duration: float,
    mix_path: str | None,
    window_text: str | None,
    skip_bad_rows: bool,
    columns_text: str,
    out_dir: Path,
    copy_jitter: float,
    seed: int,
    seeds: int,
    sweep: bool,
    points: int | None,
    warmup: float,
    jobs: int,
) -> None:
    """Replay traces against forescale and its peers; write results.json, report.md, PNGs."""
    chosen = tuple(p.strip() for p in policies.split(",") if p.strip())
    unknown = [p for p in chosen if p not in benchmark.POLICIES]
    if unknown or not chosen:
        raise click.BadParameter(
            f"unknown policies {unknown}; known: {', '.join(benchmark.POLICIES)}",
            param_hint="--policies",
        )
    try:
        profile = get_profile(profile_name)
    except UnknownProfileError as error:
        raise click.BadParameter(str(error), param_hint="--profile") from None
    start, end = 0.0, None
    if window_text:
        first, _, last = window_text.partition(":")
        start = parse_duration(first) if first else 0.0
        end = parse_duration(last) if last else None
    config = benchmark.BenchConfig(
        profile=profile,
        cold_start_seconds=cold_start,
        cold_start_sigma=cold_start_sigma,
        slo_ttft_seconds=slo_ttft,
        peak_replicas=peak_replicas,
        max_replicas=max_replicas,
        scenario_seconds=scenario_duration,
        window_start=start,
        window_end=end,
        skip_bad_rows=skip_bad_rows,
        trace_columns=_columns(columns_text),
        mix_path=mix_path,
        copy_jitter_seconds=copy_jitter,
        seed=seed,
        warmup_seconds=warmup,
    )
    seed_list = [seed + i for i in range(max(1, seeds))]
    tasks, _ = benchmark.plan_tasks(traces, chosen, seed_list, sweep, points)
    overrides = forescale_overrides(config)
    click.echo("forescale's LLMDeployment (CRD defaults except):", err=True)
    for path, value in overrides.items():
        click.echo(f"  spec.{path}: {value}", err=True)
    started = time.monotonic()
    try:
        click.echo(f"sizing one replica for {len(traces)} traces", err=True)
        with click.progressbar(length=len(tasks), label="simulating", file=sys.stderr) as bar:
            outcome = benchmark.run_bench(
                traces,
                chosen,
                config,
                jobs=jobs,
                on_run=lambda trace, label: bar.update(1),
                sweep=sweep,
                seeds=seeds,
                points=points,
            )
    except (TraceFormatError, OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    bench_report.write_all(outcome, config, out_dir, overrides)
    for summary in outcome.traces:
        skipped = summary.base.trace.skipped_rows
        if skipped:
            click.echo(f"{summary.name}: skipped {skipped} malformed rows", err=True)
    elapsed = time.monotonic() - started
    click.echo(
        f"wrote {out_dir / 'results.json'}, {out_dir / 'frontier.json'}, "
        f"{out_dir / 'report.md'} and figures for {len(outcome.traces)} traces "
        f"({len(tasks)} runs in {elapsed / 60:.1f} min wall time, --jobs {jobs})"
    )


def forescale_overrides(config: benchmark.BenchConfig) -> dict[str, object]:
    """The spec fields the benchmark's forescale sets (capacity shown as "measured")."""
    placeholder = ReplicaCapacity(1.0, 1.0, 1.0, 0.95, 1.0, 1.0, 1.0)
    document = bench_spec.spec_document(
        policy="predictive",
        knob_value=bench_spec.FORESCALE_KNOB.default,
        capacity=placeholder,
        cold_start_seconds=config.cold_start_seconds,
        slo_ttft_seconds=config.slo_ttft_seconds,
        max_replicas=config.max_replicas,
        uniform_scale_down=True,
    )
    found = bench_spec.overrides(document)
    scaled = " (x knob)" if bench_spec.FORESCALE_KNOB.relative_to_slo_rate else ""
    for path in (
        "scaling.capacity.requestsPerSecond",
        "scaling.capacity.outputTokensPerSecond",
        "scaling.capacity.promptTokensPerSecond",
    ):
        if path in found:
            found[path] = f"per trace: the load test's within-SLO rate{scaled}"
    return found
