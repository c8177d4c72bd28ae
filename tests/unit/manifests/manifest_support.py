"""What the manifest tests share: paths, YAML loading, and the metric names that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from forescale.handlers import telemetry
from forescale.metrics import contract
from forescale.vllm_contract.query_labels import expressions

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "manifests"
RULES_FILE = MANIFESTS / "prometheus" / "rules.yaml"
PROMETHEUS_RULE_FILE = MANIFESTS / "prometheus" / "prometheus_rule.yaml"
PROMTOOL_TESTS = MANIFESTS / "prometheus" / "tests"
DASHBOARD = MANIFESTS / "grafana" / "forescale-dashboard.json"
RUNBOOKS = REPO / "docs" / "runbooks"
OPERATOR_JOB = "forescale-operator"


def load_all(path: Path) -> list[dict[str, Any]]:
    """Every document of a YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def load(path: Path) -> Any:
    """The single document of a YAML file."""
    return yaml.safe_load(path.read_text())


def vllm_metric_names() -> set[str]:
    """Sample names of the vLLM contract: gauges, counters with _total, histogram series."""
    names: set[str] = set()
    for signal in contract.ALL_SIGNALS:
        for name in signal.names:
            if signal.kind is contract.Kind.HISTOGRAM:
                names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
            else:
                names.add(name)
    return names


def operator_metric_names() -> set[str]:
    """Sample names the operator's /metrics exposes (telemetry.REGISTRY)."""
    names: set[str] = set()
    for family in telemetry.REGISTRY.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        else:
            names.add(family.name)
    return names


BUILTIN_METRICS = {"up", "ALERTS"}
"""Series Prometheus itself produces (scrape health, firing alerts)."""


def known_metric_names() -> set[str]:
    """Everything a forescale rule or panel may read."""
    return vllm_metric_names() | operator_metric_names() | BUILTIN_METRICS


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{")
_PREFIXED = re.compile(r"\b((?:vllm:|forescale_|kube_)[A-Za-z0-9_:]*)")


def metric_names_in(promql: str) -> set[str]:
    """Metric names a query selects: ``name{...}`` selectors and any bare name of the vLLM,
    forescale or kube-state-metrics families (``kube_*``: nothing of ours may read those).

    String literals are removed first, so label values never look like metric names.
    """
    text = _STRING.sub('""', promql)
    return set(_SELECTOR.findall(text)) | set(_PREFIXED.findall(text))


def runbook_queries() -> dict[str, list[str]]:
    """The PromQL an SRE copies from each runbook (``query_labels.expressions``: each line
    of a ```promql block, and inline spans naming a ``vllm:`` series), by page."""
    found = {path.name: expressions(path) for path in sorted(RUNBOOKS.glob("*.md"))}
    return {page: queries for page, queries in found.items() if queries}
