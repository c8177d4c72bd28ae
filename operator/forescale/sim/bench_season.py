"""The recurring cycle measured: a business-hours service over whole days.

Why. The recorded sweep's traces last 30-60 minutes, so the season (``policy.season``,
a rise both of the last two cycles showed is planned for a horizon ahead) never acts in
them: it needs two cycles, and the CRD's cycle is a day. This benchmark runs the
``workday`` scenario (20 % of the peak at night, x5 from 09:00 to 17:00, sharp edges)
over several days through the same simulator, sizing and scored configuration as
``forescale bench``, and reports per day, so what the season changes shows where it can:
the first two days are the same run with and without it, and from the third on each
09:00 finds its replicas started a cold start before.

Policies: forescale at its default knob (the CRD's daily cycle), the same spec with
``seasonPeriodSeconds: 0`` (no season), forescale at 0.9 and 0.5, ``reactive``,
``keda`` at 0.7 and 0.9 of the SLO rate (the sweep's tuned range), and a fixed fleet at
the peak need. Per policy and day: the attainment of the day's requests, of its
09:00-10:00 requests (the onset), and the GPU-hours of the pods that existed at each
control tick of the day.

``make bench-season`` runs it (3 days, 2 seeds) into ``out/bench-season``; ``make
bench-docs`` copies its table to ``docs/benchmarks/season.md``.

``--scenario hourly:<path>[#<column>][@<first day>]`` runs a real service's days instead
(``hourly_profile``: its hourly counts, Poisson arrivals around them), with ``--mix`` a
trace whose request sizes it draws. ``workday`` was written for the season; a real week
is not: its days differ (a Sunday at half a weekday, a Friday afternoon lighter), and its
rises take an hour or more, not a second. ``make bench-season-real`` runs three such
weeks with the 2023 conversation trace's mix into ``out/bench-season-real/<profile>``:
the Azure 2024 conversation service's six days from a Sunday, and BurstGPT's days 7-12,
every request (an API flood) and the conversation log alone (near-empty nights). There
is no business-hours onset there, so no onset hour is scored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forescale.sim import bench, bench_spec, bench_variants, hourly_profile, scenarios
from forescale.sim.fleet import RunResult, simulate
from forescale.sim.peers.forescale import ForescaleScaler
from forescale.sim.peers.provisioning import FixedScaler
from forescale.sim.replica_profiles import get_profile
from forescale.sim.scaler import Scaler

TRACE = "workday"
"""The default scenario: the one with a business-hours onset scored apart."""
#: (label, variant label in ``bench_variants``, knob value); "forescale:no-season" is the
#: default forescale spec with ``seasonPeriodSeconds: 0``. Two leaner knob values show
#: where the default's headroom goes on days a peer serves as well.
POLICIES: tuple[tuple[str, str, float], ...] = (
    ("forescale", "forescale", bench_spec.FORESCALE_KNOB.default),
    ("forescale:no-season", "forescale", bench_spec.FORESCALE_KNOB.default),
    ("forescale @ 0.9", "forescale", 0.9),
    ("forescale @ 0.5", "forescale", 0.5),
    ("reactive", "reactive", bench_spec.REACTIVE_KNOB.default),
    ("keda @ 0.7", "keda", 0.7),
    ("keda @ 0.9", "keda", 0.9),
    ("fixed @ 1", "fixed", 1.0),
)
ONSET_SECONDS = 3600.0
"""The onset window scored apart: the first hour of business."""


@dataclass(frozen=True)
class DayFigures:
    day: int
    attainment: float
    onset_attainment: float | None
    gpu_hours: float


def config(days: int, seed: int, mix_path: str | None = None) -> bench.BenchConfig:
    """The recorded sweep's configuration, over ``days`` days (request sizes from
    ``mix_path``'s trace, or the calibration's chat mix)."""
    return bench.BenchConfig(
        profile=get_profile("llama-3.1-8b-h100"),
        cold_start_seconds=180.0,
        slo_ttft_seconds=2.0,
        peak_replicas=8.0,
        max_replicas=16,
        scenario_seconds=days * scenarios.DAY_SECONDS,
        mix_path=mix_path,
        seed=seed,
    )


@dataclass(frozen=True)
class SeasonTask:
    """One policy and seed of a run (``sized``: the load test every run shares)."""

    label: str
    variant: str
    knob: float
    seed: int
    days: int
    sized: bench.Sizing
    scenario: str = TRACE
    mix_path: str | None = None


def _run(task: SeasonTask, prepared: bench.PreparedTrace, cfg: bench.BenchConfig) -> RunResult:
    """One whole run; a run stopped early has no per-day figures to give."""
    scaler: Scaler
    if task.label == "forescale:no-season":
        document = bench_variants.forescale_document("forescale", task.knob, prepared, cfg, True)
        document["scaling"]["seasonPeriodSeconds"] = 0  # type: ignore[index]
        scaler = ForescaleScaler(bench_spec.parameters(document), name=task.label)
    else:
        scaler = bench_variants.BY_LABEL[task.variant].build(task.knob, prepared, cfg)
    initial = scaler.replicas if isinstance(scaler, FixedScaler) else None
    result = simulate(prepared.trace, scaler, bench.fleet_config(prepared, cfg, initial))
    if result.aborted:
        raise RuntimeError(f"{task.label} stopped early on {task.scenario}, seed {task.seed}")
    return result


def days_of(
    prepared: bench.PreparedTrace,
    result: RunResult,
    slo_seconds: float,
    days: int,
    onset_scored: bool = True,
) -> list[DayFigures]:
    """Per day of the scored trace: attainment, the onset hour's (``workday``'s 09:00;
    None when ``onset_scored`` is off), and GPU-hours."""
    out = []
    timeline = result.timeline
    step = np.diff(timeline.time, append=timeline.time[-1])
    for day in range(days):
        start = prepared.warmup_seconds + day * scenarios.DAY_SECONDS
        end = start + scenarios.DAY_SECONDS
        onset = start + scenarios.WORKDAY_HOURS[0]
        inside = (timeline.time >= start) & (timeline.time < end)
        gpu = float(np.sum(timeline.existing[inside] * step[inside])) / 3600
        whole = bench.segment_attainment(prepared, result, slo_seconds, start, end)
        first = (
            bench.segment_attainment(prepared, result, slo_seconds, onset, onset + ONSET_SECONDS)
            if onset_scored
            else None
        )
        out.append(DayFigures(day + 1, whole or 0.0, first, gpu))
    return out


def run_one(task: SeasonTask) -> dict[str, Any]:
    """One policy and seed over the whole run, scored per day."""
    cfg = config(task.days, task.seed, task.mix_path)
    prepared = bench.prepare(task.scenario, cfg, task.seed, task.sized)
    result = _run(task, prepared, cfg)
    row = bench.score(prepared, result, cfg.slo_ttft_seconds, {"policy": task.label})
    figures = days_of(prepared, result, cfg.slo_ttft_seconds, task.days, task.scenario == TRACE)
    row["days"] = [vars(d) for d in figures]
    return row


def table(rows: Sequence[dict[str, Any]], days: int) -> str:
    """Markdown: per policy and day, mean attainment (onset hour) / GPU-hours over seeds."""
    labels = list(dict.fromkeys(str(r["policy"]) for r in rows))
    seeds = sorted({int(r["seed"]) for r in rows})
    head = "| policy | " + " | ".join(f"day {d + 1}" for d in range(days)) + " | all days |"
    lines = [head, "|---|" + "---|" * (days + 1)]
    for label in labels:
        mine = [r for r in rows if r["policy"] == label]
        cells = []
        for day in range(days):
            figures = [r["days"][day] for r in mine]
            att = np.mean([f["attainment"] for f in figures]) * 100
            onsets = [f["onset_attainment"] for f in figures if f["onset_attainment"] is not None]
            gpu = np.mean([f["gpu_hours"] for f in figures])
            first = f" (09-10: {np.mean(onsets) * 100:.2f} %)" if onsets else ""
            cells.append(f"{att:.2f} %{first} / {gpu:.1f}")
        att = np.mean([r["slo_attainment"] for r in mine]) * 100
        gpu = np.mean([r["gpu_hours"] for r in mine])
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {att:.2f} % / {gpu:.1f} |")
    scored = any(d["onset_attainment"] is not None for r in rows for d in r["days"])
    onset = " (of its 09:00-10:00 requests)" if scored else ""
    note = (
        f"\nCells: attainment of the day's requests{onset} / GPU-hours,"
        f" means over seeds {', '.join(map(str, seeds))}; all days: attainment / GPU-hours of"
        " the whole run (GPU-hours of every pod, per day from the pods existing at each"
        " control tick).\n"
    )
    return "\n".join(lines) + "\n" + note


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--scenario",
        default=TRACE,
        help=f"{TRACE} (default) or {hourly_profile.PREFIX}<path> (a service's hourly counts)",
    )
    parser.add_argument("--mix", help="trace whose request sizes are drawn (default: chat mix)")
    parser.add_argument("--out", type=Path, default=Path("out/bench-season"))
    args = parser.parse_args(argv)
    if args.days < 3:
        parser.error("--days must be at least 3: the season needs two whole days first")
    if args.scenario != TRACE and not hourly_profile.is_hourly(args.scenario):
        parser.error(f"--scenario must be {TRACE} or {hourly_profile.PREFIX}<path>")
    if hourly_profile.is_hourly(args.scenario):
        try:
            whole = hourly_profile.days(args.scenario)
        except (OSError, ValueError) as error:
            parser.error(f"--scenario: {error}")
        if args.days > whole:
            parser.error(f"--days {args.days}: {args.scenario} has {whole} whole days")
    started = time.monotonic()
    sized = bench.size(args.scenario, config(args.days, 0, args.mix))
    tasks = [
        SeasonTask(label, variant, knob, seed, args.days, sized, args.scenario, args.mix)
        for label, variant, knob in POLICIES
        for seed in range(args.seeds)
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_one, tasks))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    minutes = (time.monotonic() - started) / 60
    name = scenarios.display_name(args.scenario)
    command = f"--days {args.days} --seeds {args.seeds}"
    if args.scenario != TRACE:
        command += f" --scenario {args.scenario}"
    mix = f", request sizes from {Path(args.mix).name}" if args.mix else ""
    if args.mix:
        command += f" --mix {args.mix}"
    text = (
        f"# The recurring cycle: `{name}` over {args.days} days\n\n"
        f"`python -m forescale.sim.bench_season {command}`"
        f" ({len(tasks)} runs, {minutes:.1f} min with --jobs {args.jobs}): peak need 8,"
        f" max 16, cold start 180 s, TTFT SLO 2 s, the recorded sweep's configuration{mix}."
        "\n\n" + table(rows, args.days)
    )
    (args.out / "season.md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
