"""The vLLM metric contract matches DESIGN.md: names, kinds, fallbacks and bucket bounds."""

from __future__ import annotations

from forescale.metrics import contract
from forescale.metrics.contract import Kind


def test_current_names_come_first_and_fallbacks_are_the_v0_names() -> None:
    assert contract.KV_CACHE_USAGE.name == "vllm:kv_cache_usage_perc"
    assert contract.KV_CACHE_USAGE.fallbacks == ("vllm:gpu_cache_usage_perc",)
    assert contract.INTER_TOKEN_LATENCY.name == "vllm:inter_token_latency_seconds"
    assert contract.INTER_TOKEN_LATENCY.fallbacks == ("vllm:time_per_output_token_seconds",)


def test_counters_are_read_through_their_total_samples() -> None:
    assert all(s.kind is Kind.COUNTER for s in contract.COUNTERS)
    assert all(name.endswith("_total") for s in contract.COUNTERS for name in s.names)


def test_every_signal_key_is_unique() -> None:
    keys = [s.key for s in contract.ALL_SIGNALS]
    assert len(keys) == len(set(keys))


def test_bucket_bounds_are_the_documented_ones() -> None:
    assert contract.TTFT.buckets[:4] == (0.001, 0.005, 0.01, 0.02)
    assert contract.TTFT.buckets[-3:] == (160.0, 640.0, 2560.0)
    assert len(contract.TTFT.buckets) == 22
    assert contract.E2E_LATENCY.buckets[0] == 0.3
    assert contract.E2E_LATENCY.buckets[-1] == 7680.0
    assert len(contract.E2E_LATENCY.buckets) == 21
    assert contract.INTER_TOKEN_LATENCY.buckets[0] == 0.01
    assert contract.INTER_TOKEN_LATENCY.buckets[-1] == 80.0
    assert len(contract.INTER_TOKEN_LATENCY.buckets) == 19
    for histogram in contract.HISTOGRAMS:
        assert list(histogram.buckets) == sorted(set(histogram.buckets))


def test_request_success_is_labelled_by_finished_reason() -> None:
    assert contract.FINISHED_REASON_LABEL in contract.REQUEST_SUCCESS.labels
