"""The Grafana dashboard: valid JSON Grafana can load, reading only metrics that exist."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.manifests.manifest_support import (
    DASHBOARD,
    MANIFESTS,
    known_metric_names,
    load,
    metric_names_in,
)


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _queries(dashboard: dict[str, Any]) -> list[str]:
    queries = [t["expr"] for p in _panels(dashboard) for t in p["targets"]]
    queries += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    queries += [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return queries


def test_dashboard_is_identified_and_panels_are_well_formed() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "forescale-llmdeployments"
    assert dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    panels = _panels(dashboard)
    assert len(panels) >= 8
    for panel in panels:
        assert panel["title"] and panel["description"], panel["id"]
        assert panel["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))


def test_every_query_reads_only_metrics_from_the_contract_or_telemetry() -> None:
    known = known_metric_names()
    seen: set[str] = set()
    for query in _queries(_dashboard()):
        names = metric_names_in(query)
        assert names, query
        assert names <= known, f"unknown metrics {sorted(names - known)} in {query}"
        seen |= names
    # The dashboard shows the autoscaler's view and the engines, not just one side.
    assert "forescale_desired_replicas" in seen
    assert "forescale_forecast_arrival_rate" in seen
    assert "vllm:time_to_first_token_seconds_bucket" in seen
    assert "vllm:num_requests_waiting" in seen
    assert "forescale_slo_ttft_p95_seconds" in seen  # the SLO line, as the alert reads it


def test_panel_queries_follow_the_selected_deployments() -> None:
    for panel in _panels(_dashboard()):
        for target in panel["targets"]:
            expr = target["expr"]
            if 'job="forescale-operator"' in expr:
                continue  # operator-wide series carry no deployment labels
            assert 'llmdeployment=~"$llmdeployment"' in expr, expr
            assert 'namespace=~"$namespace"' in expr, expr
    variables = {v["name"] for v in _dashboard()["templating"]["list"]}
    assert {"datasource", "namespace", "llmdeployment"} <= variables


def test_configmap_generator_ships_the_file_with_the_sidecar_label() -> None:
    kustomization = load(MANIFESTS / "grafana" / "kustomization.yaml")
    (generator,) = kustomization["configMapGenerator"]
    assert generator["files"] == [DASHBOARD.name]
    assert generator["options"]["labels"]["grafana_dashboard"] == "1"
    assert generator["options"]["disableNameSuffixHash"] is True
