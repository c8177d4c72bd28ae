"""The metric-name helper itself: it must see every selector, or the other tests prove nothing."""

from __future__ import annotations

from tests.unit.manifests.manifest_support import (
    known_metric_names,
    metric_names_in,
    operator_metric_names,
    vllm_metric_names,
)


def test_extracts_selectors_and_bare_family_names_but_not_label_values() -> None:
    query = (
        'sum by (le) (rate(vllm:foo_bucket{pod=~"vllm:not_a_metric"}[5m]))'
        ' / forescale_bar + up{job="forescale-operator"}'
    )
    assert metric_names_in(query) == {"vllm:foo_bucket", "forescale_bar", "up"}
    # A bare kube-state-metrics name is seen too, so it fails the known-names check.
    assert metric_names_in("max(kube_llmdeployment_spec_x) / 1000") == {"kube_llmdeployment_spec_x"}


def test_known_names_cover_each_source() -> None:
    assert "vllm:time_to_first_token_seconds_bucket" in vllm_metric_names()
    assert "vllm:gpu_cache_usage_perc" in vllm_metric_names()  # older name kept
    assert "forescale_scaling_decisions_total" in operator_metric_names()
    assert "forescale_desired_replicas" in operator_metric_names()
    # The alerts on conditions and on the SLO read the operator, not kube-state-metrics.
    assert "forescale_llmdeployment_condition" in operator_metric_names()
    assert "forescale_slo_ttft_p95_seconds" in operator_metric_names()
    assert not {n for n in known_metric_names() if n.startswith("kube_")}
    assert "vllm:request_success" not in known_metric_names()  # counters need _total
