"""inspect-metrics across vLLM generations: old names, new names, missing pieces, engines."""

from __future__ import annotations

import pytest

from forescale.metrics.errors import ExpositionError
from forescale.metrics.exposition import parse_exposition
from forescale.metrics.inspect import inspect_exposition
from tests.unit.metrics.fixture_support import histogram_lines

M = 'model_name="m"'
TTFT = "vllm:time_to_first_token_seconds"


def test_a_v0_only_scrape_reads_the_old_cache_name() -> None:
    text = f'vllm:gpu_cache_usage_perc{{{M},engine="0"}} 0.5\n'
    model = inspect_exposition(parse_exposition(text))["m"]
    assert model.kv_cache_usage == 0.5
    assert model.sources["kv_cache_usage"] == "vllm:gpu_cache_usage_perc"


def test_a_renamed_or_absent_metric_is_missing_not_zero() -> None:
    text = f'vllm:num_requests_running{{{M},engine="0"}} 3\n'
    model = inspect_exposition(parse_exposition(text))["m"]
    assert model.running == 3.0
    assert model.waiting is None
    assert model.kv_cache_usage is None
    assert model.requests_by_reason is None
    assert model.latency["ttft"] is None
    assert "waiting" in model.missing
    assert "ttft" in model.missing
    assert "running" not in model.missing


def test_engines_are_summed_and_kv_cache_is_averaged() -> None:
    text = (
        f'vllm:num_requests_waiting{{{M},engine="0"}} 2\n'
        f'vllm:num_requests_waiting{{{M},engine="1"}} 5\n'
        f'vllm:kv_cache_usage_perc{{{M},engine="0"}} 0.2\n'
        f'vllm:kv_cache_usage_perc{{{M},engine="1"}} 0.6\n'
        f'vllm:request_success_total{{{M},engine="0",finished_reason="stop"}} 4\n'
        f'vllm:request_success_total{{{M},engine="1",finished_reason="stop"}} 6\n'
        f'vllm:request_success_total{{{M},engine="1",finished_reason="length"}} 1\n'
        f'vllm:request_success_created{{{M},engine="0",finished_reason="stop"}} 1.7e9\n'
        + histogram_lines(TTFT, {"0.1": 1, "+Inf": 2}, model_name="m", engine="0")
        + histogram_lines(TTFT, {"0.1": 3, "+Inf": 4}, model_name="m", engine="1")
    )
    model = inspect_exposition(parse_exposition(text))["m"]
    assert model.engines == 2
    assert model.waiting == 7.0
    assert model.kv_cache_usage == pytest.approx(0.4)
    # _created samples are timestamps, not counts: they must not inflate the totals.
    assert model.requests_by_reason == {"stop": 10.0, "length": 1.0}
    ttft = model.latency["ttft"]
    assert ttft is not None
    # Merged buckets: le=0.1 -> 4, +Inf -> 6. p50 rank 3 in (0, 0.1]: 0.1 * 3/4.
    assert ttft.count == 6.0
    assert ttft.p50 == pytest.approx(0.075)


def test_models_are_reported_separately() -> None:
    text = (
        'vllm:num_requests_running{model_name="a",engine="0"} 1\n'
        'vllm:num_requests_running{model_name="b",engine="0"} 2\n'
    )
    models = inspect_exposition(parse_exposition(text))
    assert {name: m.running for name, m in models.items()} == {"a": 1.0, "b": 2.0}


def test_a_histogram_without_observations_has_no_quantiles() -> None:
    text = histogram_lines(
        "vllm:e2e_request_latency_seconds", {"1.0": 0, "+Inf": 0}, model_name="m"
    )
    latency = inspect_exposition(parse_exposition(text))["m"].latency["e2e_latency"]
    assert latency is not None
    assert latency.count == 0.0
    assert latency.p95 is None


def test_a_bucket_with_a_bad_le_names_its_line() -> None:
    text = f'x 1\nvllm:time_to_first_token_seconds_bucket{{{M},le="fast"}} 1\n'
    with pytest.raises(ExpositionError) as caught:
        inspect_exposition(parse_exposition(text))
    assert caught.value.line_number == 2
