"""The operator's own /metrics follow what it reconciled and decided.

The alerts in manifests/prometheus read these series, so an operator that stops writing
them would silence its own pages. The operator runs in-process (KopfRunner), so its
registry is read directly in the exposition format Prometheus scrapes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from forescale.handlers import telemetry
from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import apply, eventually, running_operator, sample

pytestmark = pytest.mark.integration


def _samples(namespace: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """This namespace's series: (name, extra labels) -> value."""
    found = {}
    text = generate_latest(telemetry.REGISTRY).decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("namespace") != namespace:
                continue
            extra = frozenset(
                (k, v) for k, v in s.labels.items() if k not in {"namespace", "llmdeployment"}
            )
            found[(s.name, extra)] = s.value
    return found


def test_series_follow_reconciliation_and_decisions(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    manifest = sample(
        "llmdeployment-minimal.yaml",
        podMetadata={"annotations": {"forescale.io/simulated-load-seconds": "2"}},
    )
    manifest["spec"]["scaling"] = {
        "minReplicas": 1,
        "maxReplicas": 3,
        "policy": "predictive",
        "slo": {"ttftP95Milliseconds": 1500},
    }
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, manifest)
        series = eventually(
            lambda: (
                (s := _samples(namespace)).get(("forescale_ready_replicas", frozenset())) == 1 and s
            ),
            90,
            "forescale_ready_replicas 1",
        )
        assert series[("forescale_max_replicas", frozenset())] == 3
        assert series[("forescale_desired_replicas", frozenset())] == 1
        assert series[("forescale_slo_ttft_p95_seconds", frozenset())] == 1.5
        # No Prometheus is configured here: the autoscaler holds and says it cannot see.
        assert series[("forescale_metrics_available", frozenset())] == 0
        held = ("forescale_scaling_decisions_total", frozenset({("action", "Hold")}))
        assert series.get(held, 0) >= 1
        ready = frozenset({("type", "Ready"), ("reason", "Available")})
        conditions = {
            k[1]: v for k, v in series.items() if k[0] == "forescale_llmdeployment_condition"
        }
        assert any(dict(labels)["type"] == "Ready" for labels in conditions), conditions
        assert conditions.get(ready, 1) == 1
        scaling = [v for labels, v in conditions.items() if dict(labels)["type"] == "ScalingActive"]
        assert scaling == [0]

        kubectl.ok("delete", "llmd", "qwen-small", "-n", namespace, "--wait=true")
        eventually(lambda: not _samples(namespace), 60, "the deleted LLMDeployment's series to go")
