"""inspect-metrics figures on the real vLLM scrape, checked by hand against the fixture.

The fixture is one engine ("0") serving one model after 6 chat requests.
"""

from __future__ import annotations

import pytest

from forescale.metrics.exposition import parse_exposition
from forescale.metrics.inspect import ModelMetrics, inspect_exposition
from tests.unit.metrics.fixture_support import MODEL, fixture_text


@pytest.fixture(scope="module")
def model() -> ModelMetrics:
    models = inspect_exposition(parse_exposition(fixture_text()))
    assert list(models) == [MODEL]
    return models[MODEL]


def test_gauges_and_counters(model: ModelMetrics) -> None:
    assert model.engines == 1
    assert model.running == 0.0
    assert model.waiting == 0.0
    # Both names are present with the same value; the current name is the one read.
    assert model.kv_cache_usage == pytest.approx(0.0011764705882353343)
    assert model.sources["kv_cache_usage"] == "vllm:kv_cache_usage_perc"
    assert model.requests_by_reason == {"stop": 6.0, "length": 0.0, "abort": 0.0}
    assert model.prompt_tokens == 246.0
    assert model.generation_tokens == 1739.0
    assert model.preemptions == 0.0
    assert model.missing == ()


def test_ttft_quantiles(model: ModelMetrics) -> None:
    # Buckets: le=0.02 -> 0, le=0.04 -> 4, le=0.06 -> 6 (= +Inf, 6 requests).
    # p50: rank 3 in (0.02, 0.04] holding 4: 0.02 + 0.02 * 3/4          = 0.035
    # p95: rank 5.7 in (0.04, 0.06] holding 2, 1.7 in: 0.04 + 0.02 * 1.7/2 = 0.057
    # p99: rank 5.94: 0.04 + 0.02 * 1.94/2                             = 0.0594
    ttft = model.latency["ttft"]
    assert ttft is not None
    assert ttft.count == 6.0
    assert (ttft.p50, ttft.p95, ttft.p99) == pytest.approx((0.035, 0.057, 0.0594))


def test_e2e_quantiles(model: ModelMetrics) -> None:
    # Buckets: le=5 -> 2, le=10 -> 4, le=15 -> 6.
    # p50: rank 3 in (5, 10] holding 2, 1 in: 5 + 5 * 1/2      = 7.5
    # p95: rank 5.7 in (10, 15] holding 2, 1.7 in: 10 + 5 * 0.85 = 14.25
    # p99: rank 5.94: 10 + 5 * 0.97                            = 14.85
    e2e = model.latency["e2e_latency"]
    assert e2e is not None
    assert (e2e.p50, e2e.p95, e2e.p99) == pytest.approx((7.5, 14.25, 14.85))


def test_queue_time_quantiles(model: ModelMetrics) -> None:
    # All 6 requests in the first bucket (0, 0.3]: q * 0.3.
    queue = model.latency["queue_time"]
    assert queue is not None
    assert (queue.p50, queue.p95, queue.p99) == pytest.approx((0.15, 0.285, 0.297))


def test_inter_token_latency_falls_back_to_the_v0_name(model: ModelMetrics) -> None:
    # The scrape has no vllm:inter_token_latency_seconds; time_per_output_token_seconds:
    # le=0.01 -> 0, le=0.025 -> 1731, +Inf -> 1733 tokens.
    # p50: rank 866.5 in (0.01, 0.025] holding 1731: 0.01 + 0.015 * 866.5/1731
    # p95: rank 1646.35: 0.01 + 0.015 * 1646.35/1731
    # p99: rank 1715.67: 0.01 + 0.015 * 1715.67/1731
    assert model.sources["inter_token_latency"] == "vllm:time_per_output_token_seconds"
    itl = model.latency["inter_token_latency"]
    assert itl is not None
    assert itl.count == 1733.0
    expected = tuple(0.01 + 0.015 * rank / 1731 for rank in (866.5, 1646.35, 1715.67))
    assert (itl.p50, itl.p95, itl.p99) == pytest.approx(expected)
