"""Service, PodDisruptionBudget and PodMonitor."""

from __future__ import annotations

from forescale.resources.disruption_budget import build_disruption_budget
from forescale.resources.pod_monitor import build_pod_monitor
from forescale.resources.service import build_service
from tests.unit.resources.builders_support import owner_from


def test_service_port_follows_spec() -> None:
    service = build_service(owner_from(service={"port": 9000}))
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 9000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["type"] == "ClusterIP"


def test_budget_allows_one_disruption() -> None:
    pdb = build_disruption_budget(owner_from())
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1


def test_pod_monitor_relabels_llmdeployment() -> None:
    monitor = build_pod_monitor(owner_from())
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    assert endpoint["relabelings"] == [
        {
            "sourceLabels": ["__meta_kubernetes_pod_label_forescale_io_llmdeployment"],
            "targetLabel": "llmdeployment",
        },
        {"sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace"},
    ]
