"""The sandbox Prometheus scrapes the operator as the shipped ServiceMonitor has it scraped."""

from __future__ import annotations

from pathlib import Path

import yaml

from forescale.sandbox.prometheus_server import (
    OperatorTarget,
    config_document,
    operators_document,
)
from tests.unit.manifests.manifest_support import MANIFESTS


def test_the_operator_job_is_the_service_monitors() -> None:
    """Job name and honorLabels as manifests/manager/service_monitor.yaml sets them, so the
    alert tests on a real Prometheus see the labels a cluster's Prometheus would."""
    monitor = yaml.safe_load((MANIFESTS / "manager" / "service_monitor.yaml").read_text())
    (endpoint,) = monitor["spec"]["endpoints"]
    (job,) = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    document = config_document(
        Path("targets.json"),
        1.0,
        operators_file=Path("operators.json"),
        rule_files=[Path("rules.yaml")],
    )
    (scrape,) = [c for c in document["scrape_configs"] if c["job_name"] == job]
    assert scrape["honor_labels"] is endpoint["honorLabels"] is True
    assert scrape["metrics_path"] == endpoint["path"]
    assert scrape["file_sd_configs"][0]["files"] == ["operators.json"]
    assert document["rule_files"] == ["rules.yaml"]
    namespace = monitor["metadata"]["namespace"]
    (group,) = operators_document([OperatorTarget("127.0.0.1:9000", namespace=namespace)])
    assert group == {
        "targets": ["127.0.0.1:9000"],
        "labels": {"namespace": namespace, "pod": "forescale-operator-0"},
    }


def test_without_operators_or_rules_only_the_vllm_job_is_configured() -> None:
    document = config_document(Path("targets.json"), 1.0)
    assert [c["job_name"] for c in document["scrape_configs"]] == ["vllm"]
    assert "rule_files" not in document


def test_alerts_go_to_the_alertmanagers_given() -> None:
    """The sandbox's Alertmanager, on the v2 API Alertmanager 0.25 serves (v1 is gone)."""
    document = config_document(Path("targets.json"), 1.0, alertmanagers=["127.0.0.1:9093"])
    assert document["alerting"] == {
        "alertmanagers": [
            {"api_version": "v2", "static_configs": [{"targets": ["127.0.0.1:9093"]}]}
        ]
    }
    assert "alerting" not in config_document(Path("targets.json"), 1.0)
