"""What Prometheus would answer about the simulated fleet: scrapes, rates, quantiles.

Policies must be benchmarked on what they would see in production, not on the simulator's
exact state: metrics exist only at scrape times (every 15 s by default), rates and
quantiles are taken over a window (1 m), TTFT is a histogram with vLLM's buckets read
through ``histogram_quantile`` (the metrics package's faithful port), loading pods report
nothing, and the arrival rate is the reader's conservation estimate (completions +
growth of waiting + running), because vLLM has no arrival counter.

Simplifications, each erring towards *better* data than production has: counters are
fleet-wide (a removed pod's counts are not lost from ``rate``), samples are exact at scrape
time (no scrape jitter), and a request's TTFT and latency are observed when it finishes
rather than when its first token streams (seconds later at most). Requests queued at the
router because no replica is Ready are counted as waiting.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from forescale.metrics.contract import REQUEST_LATENCY_BUCKETS, TTFT_BUCKETS
from forescale.metrics.histogram import histogram_quantile
from forescale.metrics.observation import Observation
from forescale.sim.scaler import PodSample


@dataclass(frozen=True)
class Scrape:
    """Fleet-wide counters and gauges at one scrape."""

    time: float
    completed: int
    prompt_tokens: int
    generation_tokens: int
    waiting: float
    running: float
    kv_cache_usage: float
    ttft_buckets: tuple[int, ...]
    """Per-bucket (not cumulative) counts; the last entry is the +Inf overflow."""
    e2e_buckets: tuple[int, ...]
    queue_buckets: tuple[int, ...]
    pods: tuple[PodSample, ...]


_TTFT_BOUNDS = np.array(TTFT_BUCKETS, dtype=np.float64)
_LATENCY_BOUNDS = np.array(REQUEST_LATENCY_BUCKETS, dtype=np.float64)


class LatencyHistograms:
    """Cumulative per-bucket counts of TTFT, end-to-end latency and queue time."""

    __slots__ = ("e2e", "queue", "ttft")

    def __init__(self) -> None:
        self.ttft = [0] * (len(TTFT_BUCKETS) + 1)
        self.e2e = [0] * (len(REQUEST_LATENCY_BUCKETS) + 1)
        self.queue = [0] * (len(REQUEST_LATENCY_BUCKETS) + 1)

    def observe(self, ttft: float, e2e: float, queue: float) -> None:
        self.ttft[bisect.bisect_left(TTFT_BUCKETS, ttft)] += 1
        self.e2e[bisect.bisect_left(REQUEST_LATENCY_BUCKETS, e2e)] += 1
        self.queue[bisect.bisect_left(REQUEST_LATENCY_BUCKETS, queue)] += 1

    def observe_many(self, ttft: list[float], e2e: list[float], queue: list[float]) -> None:
        """:meth:`observe` for many requests at once (the same buckets, one numpy pass each).

        The fleet simulator batches the requests finished between two scrapes: only scrapes
        read the counts, so batching changes no figure and saves a bisect per request.
        """
        for counts, bounds, values in (
            (self.ttft, _TTFT_BOUNDS, ttft),
            (self.e2e, _LATENCY_BOUNDS, e2e),
            (self.queue, _LATENCY_BOUNDS, queue),
        ):
            if not values:
                continue
            index = bounds.searchsorted(np.array(values, dtype=np.float64), side="left")
            added = np.bincount(index, minlength=len(counts)).tolist()
            for i, n in enumerate(added):
                counts[i] += n


def _quantile(
    q: float, bounds: tuple[float, ...], new: tuple[int, ...], old: tuple[int, ...]
) -> float | None:
    cumulative = 0.0
    buckets = []
    for bound, now_count, then_count in zip((*bounds, math.inf), new, old, strict=True):
        cumulative += now_count - then_count
        buckets.append((bound, cumulative))
    value = histogram_quantile(q, buckets)
    return None if math.isnan(value) else value


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope, like PromQL's ``deriv``."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    denominator = sum((t - mean_t) ** 2 for t, _ in points)
    if denominator == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / denominator


class PrometheusView:
    """Keeps the scrapes of the last rate window and evaluates an ``Observation``."""

    def __init__(
        self, deployment: str, rate_window_seconds: float, scrape_interval_seconds: float
    ) -> None:
        self.deployment = deployment
        self.window = rate_window_seconds
        self.scrape_interval = scrape_interval_seconds
        self._scrapes: deque[Scrape] = deque()

    def record(self, scrape: Scrape) -> None:
        self._scrapes.append(scrape)
        # Keep one sample older than the window: rate() needs the window's first sample.
        while len(self._scrapes) > 2 and self._scrapes[1].time <= scrape.time - self.window:
            self._scrapes.popleft()

    @property
    def latest(self) -> Scrape | None:
        return self._scrapes[-1] if self._scrapes else None

    def observe(self, now: float) -> Observation | None:
        """The Observation a reader would assemble at ``now`` (None before any scrape)."""
        if not self._scrapes:
            return None
        last = self._scrapes[-1]
        inside = [s for s in self._scrapes if s.time > now - self.window]
        fresh = now - last.time <= 2 * self.scrape_interval
        if len(inside) < 2 or not last.pods:
            return Observation(
                deployment=self.deployment,
                timestamp=now,
                replicas_reporting=len(last.pods),
                fresh=fresh,
                waiting=last.waiting if last.pods else None,
                running=last.running if last.pods else None,
            )
        first = inside[0]
        span = last.time - first.time
        completion = (last.completed - first.completed) / span
        growth = _slope([(s.time, s.waiting + s.running) for s in inside])
        return Observation(
            deployment=self.deployment,
            timestamp=now,
            replicas_reporting=len(last.pods),
            fresh=fresh,
            arrival_rate=max(completion + growth, 0.0),
            completion_rate=completion,
            prompt_token_rate=(last.prompt_tokens - first.prompt_tokens) / span,
            generation_token_rate=(last.generation_tokens - first.generation_tokens) / span,
            waiting=last.waiting,
            running=last.running,
            kv_cache_usage=last.kv_cache_usage,
            ttft_p50=_quantile(0.5, TTFT_BUCKETS, last.ttft_buckets, first.ttft_buckets),
            ttft_p95=_quantile(0.95, TTFT_BUCKETS, last.ttft_buckets, first.ttft_buckets),
            e2e_p95=_quantile(0.95, REQUEST_LATENCY_BUCKETS, last.e2e_buckets, first.e2e_buckets),
            queue_time_p95=_quantile(
                0.95, REQUEST_LATENCY_BUCKETS, last.queue_buckets, first.queue_buckets
            ),
        )
