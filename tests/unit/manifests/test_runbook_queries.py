"""The queries the runbooks give an SRE read series that exist.

A runbook query copied at 3 a.m. that names a metric nobody exports returns nothing, and
nothing says why. The operator's own names are checked here against its registry; the
``vllm:`` names and labels against the published wheels (``forescale.vllm_contract``);
that every query parses, by promtool (``tests/integration/test_alert_rules_promtool.py``).
"""

from __future__ import annotations

from tests.unit.manifests.manifest_support import (
    BUILTIN_METRICS,
    metric_names_in,
    operator_metric_names,
    runbook_queries,
)


def test_the_runbooks_give_queries() -> None:
    queries = runbook_queries()
    assert sum(len(q) for q in queries.values()) >= 15, queries
    assert "LLMDeploymentSLOBurn.md" in queries


def test_every_operator_series_a_runbook_reads_is_exported() -> None:
    known = operator_metric_names() | BUILTIN_METRICS
    for page, queries in runbook_queries().items():
        for query in queries:
            names = {n for n in metric_names_in(query) if not n.startswith("vllm:")}
            assert names <= known, f"{page}: unknown {sorted(names - known)} in {query}"
