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
``seasonPeriodSeconds: 0`` (no season), ``reactive``, ``keda`` at 0.7 and 0.9 of the
SLO rate (the sweep's tuned range), and a fixed fleet at the peak need. Per policy and
day: the attainment of the day's requests, of its 09:00-10:00 requests (the onset), and
the GPU-hours of the pods that existed at each control tick of the day.

``make bench-season`` runs it (3 days, 2 seeds) into ``out/bench-season``; ``make
bench-docs`` copies its table to ``docs/benchmarks/season.md``.
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

from forescale.sim import bench, bench_spec, bench_variants, scenarios
from forescale.sim.fleet import RunResult, simulate
from forescale.sim.peers.forescale import ForescaleScaler
from forescale.sim.peers.provisioning import FixedScaler
from forescale.sim.replica_profiles import get_profile
from forescale.sim.scaler import Scaler

TRACE = "workday"
#: (label, variant label in ``bench_variants``, knob value); "forescale:no-season" is the
#: default forescale spec with ``seasonPeriodSeconds: 0``.
POLICIES: tuple[tuple[str, str, float], ...] = (
    ("forescale", "forescale", bench_spec.FORESCALE_KNOB.default),
    ("forescale:no-season", "forescale", bench_spec.FORESCALE_KNOB.default),
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


def config(days: int, seed: int) -> bench.BenchConfig:
    """The recorded sweep's configuration, over ``days`` days of ``workday``."""
    return bench.BenchConfig(
        profile=get_profile("llama-3.1-8b-h100"),
        cold_start_seconds=180.0,
        slo_ttft_seconds=2.0,
        peak_replicas=8.0,
        max_replicas=16,
        scenario_seconds=days * scenarios.DAY_SECONDS,
        seed=seed,
    )


def _run(label: str, variant: str, knob: float, prepared: bench.PreparedTrace,
         cfg: bench.BenchConfig) -> RunResult:  # fmt: skip
    """One whole run; a run stopped early has no per-day figures to give."""
    scaler: Scaler
    if label == "forescale:no-season":
        document = bench_variants.forescale_document("forescale", knob, prepared, cfg, True)
        document["scaling"]["seasonPeriodSeconds"] = 0  # type: ignore[index]
        scaler = ForescaleScaler(bench_spec.parameters(document), name=label)
    else:
        scaler = bench_variants.BY_LABEL[variant].build(knob, prepared, cfg)
    initial = scaler.replicas if isinstance(scaler, FixedScaler) else None
    result = simulate(prepared.trace, scaler, bench.fleet_config(prepared, cfg, initial))
    if result.aborted:
        raise RuntimeError(f"{label} stopped early on {TRACE}, seed {prepared.seed}")
    return result


def days_of(
    prepared: bench.PreparedTrace, result: RunResult, slo_seconds: float, days: int
) -> list[DayFigures]:
    """Per day of the scored trace: attainment, the onset hour's, and GPU-hours."""
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
        first = bench.segment_attainment(
            prepared, result, slo_seconds, onset, onset + ONSET_SECONDS
        )
        out.append(DayFigures(day + 1, whole or 0.0, first, gpu))
    return out


def run_one(args: tuple[str, str, float, int, int, bench.Sizing]) -> dict[str, Any]:
    """One policy and seed over the whole run, scored per day (``sized``: the load test
    every run shares, measured once)."""
    label, variant, knob, seed, days, sized = args
    cfg = config(days, seed)
    prepared = bench.prepare(TRACE, cfg, seed, sized)
    result = _run(label, variant, knob, prepared, cfg)
    row = bench.score(prepared, result, cfg.slo_ttft_seconds, {"policy": label})
    row["days"] = [vars(d) for d in days_of(prepared, result, cfg.slo_ttft_seconds, days)]
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
            onset = [f["onset_attainment"] for f in figures if f["onset_attainment"] is not None]
            gpu = np.mean([f["gpu_hours"] for f in figures])
            first = f" (09-10: {np.mean(onset) * 100:.2f} %)" if onset else ""
            cells.append(f"{att:.2f} %{first} / {gpu:.1f}")
        att = np.mean([r["slo_attainment"] for r in mine]) * 100
        gpu = np.mean([r["gpu_hours"] for r in mine])
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {att:.2f} % / {gpu:.1f} |")
    note = (
        f"\nCells: attainment of the day's requests (of its 09:00-10:00 requests) / GPU-hours,"
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
    parser.add_argument("--out", type=Path, default=Path("out/bench-season"))
    args = parser.parse_args(argv)
    if args.days < 3:
        parser.error("--days must be at least 3: the season needs two whole days first")
    started = time.monotonic()
    sized = bench.size(TRACE, config(args.days, 0))
    tasks = [
        (lbl, v, k, seed, args.days, sized) for lbl, v, k in POLICIES for seed in range(args.seeds)
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_one, tasks))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    minutes = (time.monotonic() - started) / 60
    text = (
        f"# The recurring cycle: `{TRACE}` over {args.days} days\n\n"
        f"`python -m forescale.sim.bench_season --days {args.days} --seeds {args.seeds}`"
        f" ({len(tasks)} runs, {minutes:.1f} min with --jobs {args.jobs}): peak need 8,"
        " max 16, cold start 180 s, TTFT SLO 2 s, the recorded sweep's configuration.\n\n"
        + table(rows, args.days)
    )
    (args.out / "season.md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
