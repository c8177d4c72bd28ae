"""The reader's PromQL: a fixed set of queries, grouped per LLMDeployment, naming no pod."""

from __future__ import annotations

import pytest

from forescale.metrics import contract, promql
from forescale.metrics.observation import SIGNALS

BY_DEPLOYMENT = "by (namespace, llmdeployment)"


def test_there_is_one_query_per_observation_signal_plus_the_census() -> None:
    queries = promql.observation_queries(60)
    assert set(queries) == {*SIGNALS, promql.CENSUS}
    assert len(queries) <= 12


def test_every_signal_is_aggregated_per_deployment_in_one_query() -> None:
    for name, query in promql.observation_queries(60).items():
        if name.endswith(("_p50", "_p95")):
            assert "sum by (namespace, llmdeployment, le) (rate(" in query
        else:
            assert BY_DEPLOYMENT in query
        assert "namespace=" not in query  # never one query per deployment
        assert "pod=" not in query  # never a list of pods


def test_the_census_answers_one_row_per_deployment_not_per_pod() -> None:
    query = promql.census(None)
    assert query.count("count by (namespace, llmdeployment) (") == 1
    assert "max by (namespace, llmdeployment) (timestamp(" in query
    assert '"forescale_census", "pods"' in query
    assert '"forescale_census", "newest"' in query


def test_queries_are_small_and_do_not_depend_on_the_fleet() -> None:
    """The issue's bound: every query under 4 KB, whatever the number of deployments."""
    sizes = {name: len(q.encode()) for name, q in promql.observation_queries(60).items()}
    assert max(sizes.values()) < 1024, sizes


def test_selector_requires_the_deployment_label_and_scopes_a_namespace_shard() -> None:
    assert promql.selector("vllm:x") == 'vllm:x{llmdeployment!=""}'
    assert promql.selector("vllm:x", ["team-b", "team-a"]) == (
        'vllm:x{llmdeployment!="", namespace=~"team-a|team-b"}'
    )


def test_a_namespace_scope_reaches_every_query() -> None:
    for query in promql.observation_queries(60, ["team-a"]).values():
        assert query.count('llmdeployment!=""') == query.count('namespace=~"team-a"')


def test_an_empty_namespace_scope_is_refused_rather_than_matching_nothing() -> None:
    with pytest.raises(ValueError, match="no namespaces"):
        promql.namespace_regex([])


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
    query = promql.arrival_rate(30, None)
    waiting = promql.gauge_sum(contract.WAITING, None)
    running = promql.gauge_sum(contract.RUNNING, None)
    completions = promql.rate_sum(contract.REQUEST_SUCCESS, "30s", None)
    # The deployment's total in the system is summed over pods, then differentiated: a
    # per-pod slope counts traffic twice when it moves to a pod that just became Ready.
    assert query == f"clamp_min({completions} + deriv(({waiting} + {running})[30s:2s]), 0)"


@pytest.mark.parametrize(("window", "step"), [(60, 4.0), (15, 1.0), (5, 1.0), (90, 6.0)])
def test_the_growth_term_reads_a_point_per_second_at_least(window: float, step: float) -> None:
    assert promql.growth_step_seconds(window) == step
    assert f"[{promql.duration(window)}:{promql.duration(step)}]" in promql.arrival_rate(
        window, None
    )


@pytest.mark.parametrize(("seconds", "text"), [(60, "60s"), (2.5, "2500ms"), (1.0, "1s")])
def test_durations(seconds: float, text: str) -> None:
    assert promql.duration(seconds) == text


def test_a_non_positive_window_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        promql.duration(0)
