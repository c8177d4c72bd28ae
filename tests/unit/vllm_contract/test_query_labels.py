"""Which labels a query ties to which vLLM series (``query_labels``), on pure text."""

from __future__ import annotations

import json
from pathlib import Path

from forescale.vllm_contract.query_labels import expressions, label_uses


def _uses(expression: str) -> set[tuple[str, tuple[str, ...]]]:
    return {(u.label, u.series) for u in label_uses(expression)}


def test_matchers_belong_to_their_selector() -> None:
    uses = _uses('vllm:a{namespace="x", pod=~"p-.*"} + on (pod) vllm:b{engine!="1"}')
    assert uses == {
        ("namespace", ("vllm:a",)),
        ("pod", ("vllm:a",)),
        ("engine", ("vllm:b",)),
    }


def test_a_grouping_in_front_of_or_behind_its_argument() -> None:
    front = 'max by (pod, block_size) (vllm:cache_config_info{llmdeployment="d"})'
    behind = "sum(rate(vllm:x_bucket[5m])) by (le)"
    assert ("block_size", ("vllm:cache_config_info",)) in _uses(front)
    assert _uses(behind) == {("le", ("vllm:x_bucket",))}


def test_a_grouping_over_another_metric_is_not_vllms() -> None:
    """``reason`` may be forescale's label: the argument reads a metric besides vLLM's."""
    expression = "sum by (reason) (vllm:a * on () group_left forescale_b)"
    assert _uses(expression) == set()
    assert _uses("max by (reason) (forescale_b)") == set()


def test_functions_ranges_and_strings_are_not_metrics() -> None:
    """``rate``, a ``[5m]`` range, a Grafana variable and parentheses inside a quoted
    regex do not hide or invent a series."""
    expression = (
        "histogram_quantile(0.95, sum by (le, namespace) "
        '(rate(vllm:t_bucket{namespace=~"$ns|(a)"}[$__rate_interval])))'
    )
    uses = _uses(expression)
    assert ("le", ("vllm:t_bucket",)) in uses
    assert ("namespace", ("vllm:t_bucket",)) in uses
    assert len(uses) == 2


def test_alternative_names_share_a_grouping() -> None:
    expression = "avg by (pod) (vllm:new or vllm:old)"
    assert _uses(expression) == {("pod", ("vllm:new", "vllm:old"))}


def test_expressions_come_from_rules_dashboards_and_markdown_code(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups:\n- rules:\n  - alert: A\n    expr: vllm:a > 1\n")
    dashboard = tmp_path / "d.json"
    dashboard.write_text(json.dumps({"panels": [{"targets": [{"expr": "vllm:b"}]}]}))
    page = tmp_path / "runbook.md"
    page.write_text(
        'Look at `vllm:c{pod="x"}` and `kubectl get pods`.\n```promql\nsum by (pod) (vllm:d)\n```\n'
        "```\nkubectl get pods  # vllm:e is in no query here\n```\n"
    )
    assert expressions(rules) == ["vllm:a > 1"]
    assert expressions(dashboard) == ["vllm:b"]
    assert expressions(page) == ["sum by (pod) (vllm:d)", 'vllm:c{pod="x"}']
