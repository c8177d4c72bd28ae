"""Published vLLM figures and the scenarios that reproduce them on the replica model.

The calibration is code, not a spreadsheet, so that a test re-runs it on every change to the
model or the profile and docs/replica-model.md cannot drift from what the model does (a
test compares the document's table with ``calibration_table_markdown``).

Workload assumption (the sources do not all state theirs): ShareGPT-like chat requests, as
vLLM's ``benchmark_serving.py --dataset-name sharegpt`` draws them, approximated by seeded
log-normal prompt and output lengths with means near 220 and 206 tokens (6,600 tok/s / 32
req/s = 206 output tokens per request in the high-concurrency figure). Concurrency 1 and 16
are closed loops (each client sends its next request when the previous one finishes); the
burst submits every request at time zero, like ``--request-rate inf``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from forescale.sim.replica_model import ReplicaEngine, ReplicaProfile, SimRequest

_BLOG = "published vLLM benchmark, Llama-3.1-8B on 1x H100 (DESIGN.md)"
_PR = "vLLM pull request, chat-like burst, GPU likely H100 (DESIGN.md)"


@dataclass(frozen=True)
class PublishedFigure:
    key: str
    label: str
    published: float
    unit: str
    source: str
    tolerance: float
    """Accepted relative error of the model against the published figure."""


PUBLISHED: tuple[PublishedFigure, ...] = (
    # The concurrency-1 latency and concurrency-16 throughput disagree with each other under
    # any decode step that grows with the batch (they imply 11 ms/token at 16 but the burst
    # implies ~30 ms at 256): both get a wider tolerance, the capacity figures a tight one.
    PublishedFigure("c1_itl", "inter-token latency, concurrency 1", 6.5e-3, "s", _BLOG, 0.20),
    PublishedFigure("c1_tps", "output tokens/s, concurrency 1", 120.0, "tok/s", _BLOG, 0.15),
    PublishedFigure("c16_tps", "output tokens/s, concurrency 16", 1400.0, "tok/s", _BLOG, 0.20),
    PublishedFigure("c16_ttft_p99", "TTFT p99, concurrency 16", 0.065, "s", _BLOG, 0.15),
    PublishedFigure("burst_tps", "output tokens/s, burst of 1000", 6600.0, "tok/s", _PR, 0.10),
    PublishedFigure("burst_rps", "requests/s, burst of 1000", 32.0, "req/s", _PR, 0.10),
)


def chat_workload(count: int, seed: int = 0) -> list[tuple[int, int]]:
    """``count`` (prompt, output) token pairs, ShareGPT-like, deterministic for a seed."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        prompt = min(1024, max(4, round(rng.lognormvariate(math.log(150.0), 0.85))))
        output = min(1024, max(4, round(rng.lognormvariate(math.log(140.0), 0.85))))
        pairs.append((prompt, output))
    return pairs


def run_closed_loop(
    profile: ReplicaProfile, concurrency: int, workload: list[tuple[int, int]]
) -> list[SimRequest]:
    """``concurrency`` clients, each sending its next request when the last one finishes."""
    engine = ReplicaEngine(profile)
    pending = iter(enumerate(workload))
    done: list[SimRequest] = []

    def send(now: float) -> None:
        item = next(pending, None)
        if item is not None:
            index, (prompt, output) = item
            engine.submit(SimRequest(index, now, prompt, output), now)

    for _ in range(concurrency):
        send(0.0)
    while (event := engine.next_event_time()) is not None:
        for request in engine.advance(event):
            done.append(request)
            send(event)
    return done


def run_burst(profile: ReplicaProfile, workload: list[tuple[int, int]]) -> list[SimRequest]:
    """Every request submitted at time zero."""
    engine = ReplicaEngine(profile)
    for index, (prompt, output) in enumerate(workload):
        engine.submit(SimRequest(index, 0.0, prompt, output), 0.0)
    done: list[SimRequest] = []
    while (event := engine.next_event_time()) is not None:
        done.extend(engine.advance(event))
    return done


def _makespan(done: list[SimRequest]) -> float:
    return max(r.finished_at or 0.0 for r in done) - min(r.arrival for r in done)


def _output_rate(done: list[SimRequest]) -> float:
    return sum(r.output_tokens for r in done) / _makespan(done)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _mean_itl(done: list[SimRequest]) -> float:
    gaps = [
        ((r.finished_at or 0.0) - (r.first_token_at or 0.0)) / (r.output_tokens - 1)
        for r in done
        if r.output_tokens > 1
    ]
    return sum(gaps) / len(gaps)


def model_figures(profile: ReplicaProfile) -> dict[str, float]:
    """The model's value for every key of ``PUBLISHED``."""
    c1 = run_closed_loop(profile, 1, chat_workload(60, seed=1))
    c16 = run_closed_loop(profile, 16, chat_workload(640, seed=16))
    burst = run_burst(profile, chat_workload(1000, seed=1000))
    return {
        "c1_itl": _mean_itl(c1),
        "c1_tps": _output_rate(c1),
        "c16_tps": _output_rate(c16),
        "c16_ttft_p99": _quantile([r.ttft or 0.0 for r in c16], 0.99),
        "burst_tps": _output_rate(burst),
        "burst_rps": len(burst) / _makespan(burst),
    }


def _format(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms"
    return f"{value:,.0f} {unit}"


def calibration_table_markdown(profile: ReplicaProfile) -> str:
    """The calibration table of docs/replica-model.md, computed from the model."""
    figures = model_figures(profile)
    lines = [
        "| figure | published | source | model | error | tolerance |",
        "|---|---|---|---|---|---|",
    ]
    for item in PUBLISHED:
        model = figures[item.key]
        error = (model - item.published) / item.published
        lines.append(
            f"| {item.label} | {_format(item.published, item.unit)} | {item.source} "
            f"| {_format(model, item.unit)} | {error:+.1%} | ±{item.tolerance:.0%} |"
        )
    return "\n".join(lines) + "\n"
