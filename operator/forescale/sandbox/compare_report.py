"""Figures of `forescale sandbox compare`: per-contender summaries, replica-timeline
differences, and the one PNG (pure functions of recorded rows, except ``plot``).

Why separate from the run: the run takes minutes on a real control plane; these functions
take its records and are unit-tested on small hand-made inputs, so a wrong GPU-minute
integral or quantile is caught without a cluster.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One timeline sample of one contender (seconds since the traffic started)."""

    t: float
    desired: int
    """The Deployment's spec.replicas: what the autoscaler asked for."""
    existing: int
    """The Deployment's status.replicas: pods that hold a GPU (loading or serving)."""
    ready: int
    offered_rps: float = 0.0


@dataclass
class ContenderSummary:
    """What the comparison reports per contender."""

    name: str
    label: str
    requests: int = 0
    ok: int = 0
    within_slo: int = 0
    ttft_slo_ms: float = 0.0
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    ttft_p99_ms: float | None = None
    gpu_minutes: float = 0.0
    scale_events: int = 0
    peak_desired: int = 0
    mean_existing: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def within_slo_share(self) -> float | None:
        return self.within_slo / self.requests if self.requests else None

    def line(self) -> str:
        share = self.within_slo_share

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f}"

        return (
            f"{self.name:<10} {self.requests:>8} "
            f"{'-' if share is None else f'{share * 100:.2f} %':>9} "
            f"{ms(self.ttft_p95_ms):>8} {ms(self.ttft_p99_ms):>8} "
            f"{self.gpu_minutes:>8.1f} {self.scale_events:>6} {self.peak_desired:>5}  {self.label}"
        )


SUMMARY_HEADER = (
    f"{'contender':<10} {'requests':>8} {'in SLO':>9} {'p95 ms':>8} {'p99 ms':>8} "
    f"{'GPU-min':>8} {'scales':>6} {'peak':>5}  what"
)


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def gpu_minutes(samples: Sequence[Sample], gpus_per_replica: int = 1) -> float:
    """Integral of existing pods over time (each sample holds until the next), in minutes."""
    total = 0.0
    for current, following in itertools.pairwise(samples):
        total += current.existing * max(0.0, following.t - current.t)
    return total * gpus_per_replica / 60.0


def scale_events(samples: Sequence[Sample]) -> int:
    """Changes of the desired replica count between consecutive samples."""
    return sum(1 for a, b in itertools.pairwise(samples) if a.desired != b.desired)


def summarize(
    name: str,
    label: str,
    *,
    records: Sequence[dict[str, Any]],
    samples: Sequence[Sample],
    slo_seconds: float,
    gpus_per_replica: int = 1,
) -> ContenderSummary:
    """One contender's figures from loadgen records and the sampled timeline.

    A request counts as within the SLO only if it succeeded and its TTFT met the SLO:
    errors (no replica, refused) count against the contender, as a user would see them.
    """
    ok = [r for r in records if r.get("status") == "ok"]
    ttfts = [float(r["ttft"]) for r in ok if r.get("ttft") is not None]

    def ms(value: float | None) -> float | None:
        return None if value is None else value * 1000.0

    return ContenderSummary(
        name=name,
        label=label,
        requests=len(records),
        ok=len(ok),
        within_slo=sum(1 for t in ttfts if t <= slo_seconds),
        ttft_slo_ms=slo_seconds * 1000.0,
        ttft_p50_ms=ms(quantile(ttfts, 0.5)),
        ttft_p95_ms=ms(quantile(ttfts, 0.95)),
        ttft_p99_ms=ms(quantile(ttfts, 0.99)),
        gpu_minutes=gpu_minutes(samples, gpus_per_replica),
        scale_events=scale_events(samples),
        peak_desired=max((s.desired for s in samples), default=0),
        mean_existing=(sum(s.existing for s in samples) / len(samples) if samples else 0.0),
    )


def step_values(
    times: Sequence[float], values: Sequence[float], grid: Sequence[float]
) -> list[float]:
    """``values`` held from each time until the next, read at each grid point (the
    first value before the first time)."""
    if not times:
        raise ValueError("no samples to read")
    out: list[float] = []
    index = 0
    for point in grid:
        while index + 1 < len(times) and times[index + 1] <= point:
            index += 1
        out.append(float(values[index]))
    return out


@dataclass(frozen=True)
class TimelineDifference:
    """How far two replica timelines are apart, on a common grid."""

    median: float
    p95: float
    share_within_one: float
    """Share of grid points where they differ by at most one replica."""
    points: int


def timeline_difference(
    a: tuple[Sequence[float], Sequence[float]],
    b: tuple[Sequence[float], Sequence[float]],
    step: float,
    until: float,
) -> TimelineDifference:
    """Absolute replica difference of two (times, replicas) step functions over [0, until)."""
    grid = [i * step for i in range(max(1, int(until // step)))]
    diffs = [abs(x - y) for x, y in zip(step_values(*a, grid), step_values(*b, grid), strict=True)]
    return TimelineDifference(
        median=float(quantile(diffs, 0.5) or 0.0),
        p95=float(quantile(diffs, 0.95) or 0.0),
        share_within_one=sum(1 for d in diffs if d <= 1.0) / len(diffs),
        points=len(diffs),
    )


def ttft_series(
    records: Sequence[dict[str, Any]], bin_seconds: float, quantile_q: float = 0.95
) -> tuple[list[float], list[float]]:
    """(bin centres, TTFT quantile in seconds) by the time requests were sent."""
    bins: dict[int, list[float]] = {}
    for record in records:
        if record.get("status") != "ok" or record.get("ttft") is None:
            continue
        sent = record.get("sent")
        if sent is None:
            continue
        bins.setdefault(int(float(sent) // bin_seconds), []).append(float(record["ttft"]))
    keys = sorted(bins)
    return (
        [(k + 0.5) * bin_seconds for k in keys],
        [float(quantile(bins[k], quantile_q) or 0.0) for k in keys],
    )


def plot(
    path: Path,
    timelines: Mapping[str, Sequence[Sample]],
    records: Mapping[str, Sequence[dict[str, Any]]],
    *,
    slo_seconds: float,
    simulated: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    title: str = "",
) -> None:
    """Replicas (desired solid, ready dotted, simulated dashed) and TTFT p95 per 15 s."""
    import matplotlib  # noqa: PLC0415 - headless plotting only when a figure is written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for color, (name, samples) in zip(colors, timelines.items(), strict=False):
        t = [s.t / 60 for s in samples]
        top.step(
            t, [s.desired for s in samples], where="post", color=color, label=f"{name} desired"
        )
        top.step(
            t,
            [s.ready for s in samples],
            where="post",
            color=color,
            linestyle=":",
            label=f"{name} ready",
        )
        x, y = ttft_series(records.get(name, []), 15.0)
        bottom.plot([v / 60 for v in x], y, color=color, marker=".", label=f"{name} TTFT p95")
    for color, (name, (times, values)) in zip(
        colors[::-1], (simulated or {}).items(), strict=False
    ):
        top.step(
            [v / 60 for v in times],
            values,
            where="post",
            color=color,
            linestyle="--",
            label=f"{name} (simulator)",
        )
    bottom.axhline(slo_seconds, color="black", linewidth=0.8, linestyle="--", label="TTFT SLO")
    bottom.set_yscale("log")
    top.set_ylabel("replicas")
    bottom.set_ylabel("TTFT p95 per 15 s (s)")
    bottom.set_xlabel("minutes since traffic start")
    top.legend(fontsize=7, ncol=2, loc="upper left")
    bottom.legend(fontsize=7, loc="upper left")
    top.grid(alpha=0.3)
    bottom.grid(alpha=0.3)
    if title:
        top.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
