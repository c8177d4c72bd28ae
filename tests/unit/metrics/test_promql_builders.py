"""The reader's PromQL: one query per signal, grouped per LLMDeployment, live pods only."""

from __future__ import annotations

import pytest

from forescale.metrics import contract, promql
from forescale.metrics.observation import SIGNALS

BY_DEPLOYMENT = "by (namespace, llmdeployment)"


def test_there_is_one_query_per_observation_signal_plus_the_pod_census() -> None:
    queries = promql.observation_queries(60, None)
    assert set(queries) == {*SIGNALS, promql.PODS}


def test_every_signal_is_aggregated_per_deployment_in_one_query() -> None:
    for name, query in promql.observation_queries(60, None).items():
        if name == promql.PODS:
            assert "by (namespace, llmdeployment, pod)" in query
        elif name.endswith(("_p50", "_p95")):
            assert "sum by (namespace, llmdeployment, le) (rate(" in query
        else:
            assert BY_DEPLOYMENT in query
        assert "namespace=" not in query  # never one query per deployment


def test_selector_requires_the_deployment_label_and_filters_live_pods() -> None:
    assert promql.selector("vllm:x", None) == 'vllm:x{llmdeployment!=""}'
    assert promql.selector("vllm:x", ["b", "a.1"]) == (
        'vllm:x{llmdeployment!="", pod=~"a\\\\.1|b"}'
    )


def test_pod_regex_escapes_regex_metacharacters() -> None:
    assert promql.pod_regex(["llm-7f9c.x", "a+b"]) == "a\\+b|llm-7f9c\\.x"


def test_an_empty_pod_set_is_refused_rather_than_matching_pod_less_series() -> None:
    with pytest.raises(ValueError, match="no pods"):
        promql.pod_regex([])


def test_renamed_metrics_are_read_through_or_per_series() -> None:
    query = promql.gauge_avg(contract.KV_CACHE_USAGE, None)
    assert query == (
        f'avg {BY_DEPLOYMENT} (vllm:kv_cache_usage_perc{{llmdeployment!=""}}'
        f' or vllm:gpu_cache_usage_perc{{llmdeployment!=""}})'
    )


def test_quantile_merges_buckets_over_pods_and_engines_before_interpolating() -> None:
    query = promql.quantile(0.95, contract.TTFT, "30s", None)
    assert query == (
        "histogram_quantile(0.95, sum by (namespace, llmdeployment, le) "
        '(rate(vllm:time_to_first_token_seconds_bucket{llmdeployment!=""}[30s])))'
    )


def test_arrivals_are_completions_plus_growth_of_the_system_clamped_at_zero() -> None:
    query = promql.arrival_rate("30s", None)
    assert query.startswith("clamp_min(")
    assert query.endswith(", 0)")
    assert "rate(vllm:request_success_total" in query
    assert "deriv(vllm:num_requests_waiting" in query
    assert "deriv(vllm:num_requests_running" in query


@pytest.mark.parametrize(("seconds", "text"), [(60, "60s"), (2.5, "2500ms"), (1.0, "1s")])
def test_durations(seconds: float, text: str) -> None:
    assert promql.duration(seconds) == text


def test_a_non_positive_window_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        promql.duration(0)
