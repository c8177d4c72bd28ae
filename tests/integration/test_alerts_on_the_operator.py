"""The shipped alert rules, loaded into a real Prometheus, match the real operator's series.

promtool's unit tests (``manifests/prometheus/tests``) feed the rules series written by
hand; if the operator's names, labels or values drifted from those, promtool would still
pass and the pages would never come. Here a real ``forescale run`` works on the session's
control plane, a real Prometheus scrapes its /metrics as the shipped ServiceMonitor does
(job ``forescale-operator``, ``honorLabels``) and evaluates ``rules.yaml`` every second,
and the situations the runbooks describe are made real: an LLMDeployment whose metrics
cannot be read, one whose GPU product no node has, then the operator gone. Every alert
with a ``for`` of minutes shows as pending from its first true evaluation, carrying the
labels the runbooks key on; the healthy deployment raises none of the others.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from forescale.sandbox.ports import free_port
from forescale.sandbox.prometheus_server import OperatorTarget, PrometheusServer
from forescale.sandbox.pytest_plugin import Kubectl
from tests.unit.manifests.manifest_support import RULES_FILE

from .operator_support import (
    OperatorProcesses,
    apply,
    create_token_secret,
    eventually,
    sample,
)
from .prometheus_support import SCRAPE_INTERVAL_SECONDS, running_prometheus

pytestmark = pytest.mark.integration

LOAD = {"annotations": {"forescale.io/simulated-load-seconds": "2"}}
HEALTHY, BROKEN = "llama-8b", "qwen-small"


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def prometheus(tmp_path: Path, metrics_port: int) -> Iterator[PrometheusServer]:
    """A real Prometheus evaluating the shipped rules over the operator's /metrics."""
    with running_prometheus(
        tmp_path / "prometheus",
        rule_files=[RULES_FILE],
        operators=[OperatorTarget(f"127.0.0.1:{metrics_port}")],
    ) as server:
        yield server


def _query(prometheus: PrometheusServer, promql: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/query?{query}", timeout=10) as answer:
        body: dict[str, Any] = json.load(answer)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _alerts(prometheus: PrometheusServer, name: str) -> list[dict[str, str]]:
    """The label sets of ``ALERTS`` for one alert, pending or firing, right now."""
    return [series["metric"] for series in _query(prometheus, f'ALERTS{{alertname="{name}"}}')]


def _operator_series(prometheus: PrometheusServer) -> str:
    """What Prometheus holds of the operator's per-deployment series (for a failure)."""
    found = _query(prometheus, '{job="forescale-operator", llmdeployment!=""}')
    return "\n".join(sorted(f"{s['metric']} {s['value'][1]}" for s in found)) or "none"


def _rules_healthy(prometheus: PrometheusServer) -> list[str]:
    """Rules Prometheus could not evaluate (bad expression, failing query): none expected."""
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/rules", timeout=10) as answer:
        groups = json.load(answer)["data"]["groups"]
    return [
        f"{rule['name']}: {rule.get('lastError')}"
        for group in groups
        for rule in group["rules"]
        if rule.get("health") != "ok"
    ]


def _for(alerts: list[dict[str, str]], llmdeployment: str) -> list[dict[str, str]]:
    return [a for a in alerts if a.get("llmdeployment") == llmdeployment]


Pending = Callable[[str, str], "dict[str, str] | None"]


def _pending_alerts(prometheus: PrometheusServer, namespace: str, pending: Pending) -> None:
    held = eventually(
        lambda: pending("LLMDeploymentScalingHeld", HEALTHY), 90, "ScalingHeld on llama-8b"
    )
    assert (held["namespace"], held["severity"], held["alertstate"]) == (
        namespace,
        "warning",
        "pending",
    )
    degraded = eventually(
        lambda: pending("LLMDeploymentDegraded", BROKEN), 60, "Degraded on qwen-small"
    )
    assert (degraded["namespace"], degraded["reason"]) == (namespace, "UnknownGPUProduct")
    not_ready = eventually(
        lambda: pending("LLMDeploymentReplicasNotReady", BROKEN),
        60,
        "ReplicasNotReady on qwen-small",
    )
    assert not_ready["namespace"] == namespace
    # The healthy deployment is Ready and raises nothing but the held scaling; the
    # operator is up, and every rule evaluates.
    for name in ("LLMDeploymentDegraded", "LLMDeploymentReplicasNotReady"):
        assert _for(_alerts(prometheus, name), HEALTHY) == [], name
    assert _alerts(prometheus, "ForescaleOperatorDown") == []
    assert _rules_healthy(prometheus) == []


def test_the_rules_fire_on_what_the_real_operator_exports(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorProcesses,
    prometheus: PrometheusServer,
    metrics_port: int,
) -> None:
    create_token_secret(kubectl, namespace)
    unreadable = f"http://127.0.0.1:{free_port()}"  # nothing listens: every read fails
    # A 10 s rate window: the first metrics of a Ready replica are awaited for two windows
    # and an interval (no page during an expected wait) before "unavailable" is exported.
    operator = operators.start(
        "operator",
        f"--prometheus-url={unreadable}",
        env={"FORESCALE_RATE_WINDOW_SECONDS": "10"},
        metrics_port=metrics_port,
    )
    apply(kubectl, namespace, sample(podMetadata=LOAD))
    broken = sample("llmdeployment-minimal.yaml", podMetadata=LOAD)
    broken["spec"]["resources"] = {"gpuProduct": "NVIDIA-B300"}
    apply(kubectl, namespace, broken)

    def pending(name: str, llmdeployment: str) -> dict[str, str] | None:
        found = _for(_alerts(prometheus, name), llmdeployment)
        return found[0] if found else None

    try:
        _pending_alerts(prometheus, namespace, pending)
    except AssertionError as error:
        raise AssertionError(
            f"{error}\noperator series:\n{_operator_series(prometheus)}\n"
            f"operator log:\n{operator.text()[-3000:]}"
        ) from None

    assert operator.stop() == 0, operator.text()[-3000:]
    down = eventually(
        lambda: _alerts(prometheus, "ForescaleOperatorDown"),
        20 * SCRAPE_INTERVAL_SECONDS + 30,
        "ForescaleOperatorDown once no operator is scraped",
    )
    assert down[0]["severity"] == "critical"
