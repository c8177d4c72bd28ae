"""histogram_quantile behaves like PromQL's on the cases that matter for latency SLOs."""

from __future__ import annotations

import math

import pytest

from forescale.metrics.histogram import histogram_quantile

INF = math.inf


def test_interpolates_linearly_inside_the_bucket() -> None:
    # 10 observations: 4 in (0, 1], 6 in (1, 2]. Rank 5 falls 1/6 into (1, 2].
    assert histogram_quantile(0.5, [(1.0, 4), (2.0, 10), (INF, 10)]) == pytest.approx(1 + 1 / 6)


def test_first_bucket_starts_at_zero() -> None:
    assert histogram_quantile(0.5, [(0.3, 6), (INF, 6)]) == pytest.approx(0.15)


def test_rank_in_the_inf_bucket_returns_the_highest_finite_bound() -> None:
    assert histogram_quantile(0.99, [(1.0, 5), (2.0, 9), (INF, 10)]) == 2.0


def test_unsorted_input_and_non_monotonic_counts_are_repaired() -> None:
    # (2.0, 3) dips below (1.0, 4) and is lifted to 4: counts 4, 4, 10, so rank 5 lands in
    # the +Inf bucket and the answer is the highest finite bound. Unrepaired, rank 5 would
    # have been found nowhere before +Inf either way, so also check a rank that differs:
    assert histogram_quantile(0.5, [(INF, 10), (2.0, 3), (1.0, 4)]) == 2.0
    # rank 4 (q=0.4): with repair the first bucket with count >= 4 is (0, 1] -> 1.0.
    assert histogram_quantile(0.4, [(INF, 10), (2.0, 3), (1.0, 4)]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "buckets",
    [
        [(1.0, 0), (INF, 0)],  # no observations
        [(1.0, 3), (2.0, 5)],  # no +Inf bucket
        [(INF, 5)],  # fewer than two buckets
    ],
)
def test_undefined_cases_are_nan(buckets: list[tuple[float, float]]) -> None:
    assert math.isnan(histogram_quantile(0.5, buckets))


def test_out_of_range_quantiles_are_infinite_like_promql() -> None:
    buckets = [(1.0, 1), (INF, 1)]
    assert histogram_quantile(-0.1, buckets) == -INF
    assert histogram_quantile(1.1, buckets) == INF
