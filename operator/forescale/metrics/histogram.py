"""Quantiles from cumulative histogram buckets, computed exactly like PromQL's
``histogram_quantile`` (Prometheus 2.x, classic histograms).

``forescale inspect-metrics`` reads one scrape without a Prometheus, yet its figures must
match what a dashboard or the reader shows for the same buckets; so this is a faithful port
(linear interpolation inside the bucket, lower bound 0 for the first bucket, the highest
finite bound when the rank falls into ``+Inf``, monotonicity repaired), not an estimate of
our own. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """The q-quantile of cumulative ``(upper_bound, count)`` buckets; NaN when undefined.

    Undefined means: no ``+Inf`` bucket, fewer than two buckets, or no observations.
    """
    ordered = sorted(buckets)
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return math.nan
    bounds = [bound for bound, _ in ordered]
    counts = _monotonic([count for _, count in ordered])
    total = counts[-1]
    if total == 0 or math.isnan(total):
        return math.nan
    rank = q * total
    index = next(i for i, count in enumerate(counts) if count >= rank)
    if index == len(counts) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[index], counts[index]
    if index > 0:
        start = bounds[index - 1]
        count -= counts[index - 1]
        rank -= counts[index - 1]
    if count == 0:  # only for q == 0 over an empty first bucket; Go's 0/0 is NaN
        return math.nan
    return start + (end - start) * (rank / count)


def _monotonic(counts: list[float]) -> list[float]:
    """Cumulative counts can dip when buckets are scraped non-atomically; Prometheus lifts
    every count to at least its predecessor, and so do we."""
    fixed: list[float] = []
    for count in counts:
        fixed.append(max(count, fixed[-1]) if fixed else count)
    return fixed
