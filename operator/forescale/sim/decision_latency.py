"""Measuring how long one scaling decision takes, per LLMDeployment.

The operator decides for every LLMDeployment once per control interval, so the policy's
cost multiplies with the number of deployments; the issue's target is "well under a
millisecond" each. This is a micro-benchmark, not a test with a threshold: timings depend on
the machine and its load, so it writes its figures to a file for the record
(``docs/benchmarks.md`` quotes them) and never fails on a slow run.

What is timed is exactly ``policy.decide`` on a realistic, warmed-up history: a deployment
observed every 15 s for two hours of diurnal-looking, noisy load (seeded), so the forecaster,
the capacity learner and the guards' memories are populated. Each timed call is the next
decision in that sequence (new observation, previous decision's state), the way the operator
calls it. Configurations: ``predictive`` as a default spec asks (a daily season, not yet two
days of history), ``predictive`` with an hourly season learned over the warm-up's two hours
(240 slots of one interval each, both past cycles read at every decision: the most work
the season does), and ``reactive``.

Run: ``python -m forescale.sim.decision_latency --out out/decision-latency.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from forescale.metrics.observation import Observation
from forescale.policy import PolicyKind, PolicyState, ReplicaCounts, ScalingParameters, decide

INTERVAL_SECONDS = 15.0
#: Decisions made before timing starts (two hours at 15 s), so every memory is populated.
WARMUP_DECISIONS = 480


@dataclass(frozen=True)
class LatencyFigures:
    """Wall-clock time of one decision, in microseconds."""

    configuration: str
    decisions: int
    mean_us: float
    median_us: float
    p99_us: float
    max_us: float

    def as_dict(self) -> dict[str, object]:
        return {
            "configuration": self.configuration,
            "decisions": self.decisions,
            "mean_us": round(self.mean_us, 2),
            "median_us": round(self.median_us, 2),
            "p99_us": round(self.p99_us, 2),
            "max_us": round(self.max_us, 2),
        }


def observations(count: int, seed: int = 0) -> list[Observation]:
    """A seeded, noisy, slowly varying load around 100 req/s seen every interval."""
    rng = np.random.default_rng(seed)
    out = []
    for step in range(count):
        t = step * INTERVAL_SECONDS
        rate = 100.0 * (1.0 + 0.5 * math.sin(2 * math.pi * t / 7200.0)) + rng.normal(0, 5)
        rate = max(rate, 0.0)
        out.append(
            Observation(
                deployment="bench/llm",
                timestamp=t,
                replicas_reporting=8,
                arrival_rate=rate,
                completion_rate=rate,
                generation_token_rate=rate * 200,
                waiting=float(rng.poisson(2)),
                running=rate * 0.5,
                ttft_p95=0.1,
            )
        )
    return out


def configurations() -> dict[str, ScalingParameters]:
    base = ScalingParameters(
        min_replicas=1,
        max_replicas=32,
        capacity_requests_per_second=30.0,
        capacity_tokens_per_second=6000.0,
    )
    return {
        "predictive": base,
        "predictive-hourly-season": replace(base, season_period_seconds=3600.0),
        "reactive": replace(base, policy=PolicyKind.REACTIVE),
    }


def measure(name: str, params: ScalingParameters, decisions: int, seed: int = 0) -> LatencyFigures:
    """Time ``decisions`` successive decisions after a warm-up; see the module docstring."""
    history = observations(WARMUP_DECISIONS + decisions, seed)
    state = PolicyState()
    replicas = 8
    samples: list[float] = []
    for index, obs in enumerate(history):
        counts = ReplicaCounts(replicas, replicas)
        window = history[max(0, index - 7) : index + 1]
        start = time.perf_counter_ns()
        decision = decide(window, state, params, counts, obs.timestamp)
        elapsed = time.perf_counter_ns() - start
        if index >= WARMUP_DECISIONS:
            samples.append(elapsed / 1000.0)
        state, replicas = decision.state, decision.desired_replicas
    ordered = sorted(samples)
    return LatencyFigures(
        configuration=name,
        decisions=len(samples),
        mean_us=statistics.fmean(samples),
        median_us=statistics.median(samples),
        p99_us=ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)],
        max_us=ordered[-1],
    )


def run(decisions: int) -> list[LatencyFigures]:
    return [measure(name, params, decisions) for name, params in configurations().items()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the figures.")
    parser.add_argument(
        "--decisions", type=int, default=2000, help="Timed decisions per configuration."
    )
    args = parser.parse_args(argv)
    figures = run(args.decisions)
    record = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "results": [f.as_dict() for f in figures],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for f in figures:
        print(
            f"{f.configuration}: mean {f.mean_us:.1f} us, median {f.median_us:.1f} us, "
            f"p99 {f.p99_us:.1f} us over {f.decisions} decisions",
            file=sys.stdout,
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
