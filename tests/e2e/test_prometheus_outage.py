"""Prometheus down: the operator holds the replica count and says why; it never scales to 0."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from forescale.sandbox.operator_process import OperatorProcess
from forescale.sandbox.pytest_plugin import Kubectl

from .conftest import Fleet
from .fleet_support import (
    MODEL,
    NAME,
    apply,
    condition,
    demo_manifest,
    events,
    eventually,
    get,
    loadgen,
)

pytestmark = pytest.mark.e2e


def test_prometheus_outage_holds_replicas(
    fleet: Fleet, kubectl: Kubectl, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    apply(kubectl, namespace, demo_manifest(minReplicas=2))
    eventually(lambda: len(fleet.bridge.backends(MODEL)) >= 2, 90, "2 Ready replicas serving")
    load = loadgen(fleet.router.url, "constant:rate=1", 90, tmp_path / "requests.jsonl")
    try:
        eventually(
            lambda: (
                condition(get(kubectl, namespace, "llmd", NAME), "ScalingActive").get("reason")
                == "ValidMetrics"
            ),
            60,
            "ScalingActive=True/ValidMetrics while Prometheus is up",
        )
        held = get(kubectl, namespace, "deployment", NAME)["spec"]["replicas"]
        assert held >= 2
        fleet.prometheus.stop()
        try:
            cond = eventually(
                lambda: (
                    c
                    if (c := condition(get(kubectl, namespace, "llmd", NAME), "ScalingActive")).get(
                        "reason"
                    )
                    == "MetricsUnavailable"
                    else None
                ),
                60,
                "ScalingActive=False/MetricsUnavailable after Prometheus stopped",
            )
            assert cond["status"] == "False"
            assert f"holding {held} replicas" in cond["message"]
            assert "Prometheus unavailable" in cond["message"]
            reason = get(kubectl, namespace, "llmd", NAME)["status"]["autoscaling"][
                "lastDecisionReason"
            ]
            assert "Prometheus unavailable" in reason
            # kubectl describe tells it too: a Warning Event on the transition.
            warned = eventually(
                lambda: [
                    e
                    for e in events(kubectl, namespace)
                    if e["reason"] == "MetricsUnavailable" and e["type"] == "Warning"
                ],
                30,
                "a MetricsUnavailable Warning Event",
            )
            # The first hold may be for stale samples (scrapes stopped) rather than the
            # failed query; either way it names the count it holds.
            assert f"holding {held} replicas" in warned[-1]["message"]
            # Several decision intervals without metrics: the count stays where it was.
            until = time.monotonic() + 20
            while time.monotonic() < until:
                replicas = get(kubectl, namespace, "deployment", NAME)["spec"]["replicas"]
                assert replicas == held, f"replicas changed to {replicas} without metrics"
                time.sleep(2)
        finally:
            fleet.prometheus.restart()
        # Back: the operator reads metrics again.
        eventually(
            lambda: (
                condition(get(kubectl, namespace, "llmd", NAME), "ScalingActive").get("reason")
                == "ValidMetrics"
            ),
            90,
            "ScalingActive=True/ValidMetrics after Prometheus came back",
        )
        assert any(e["reason"] == "MetricsAvailable" for e in events(kubectl, namespace))
    finally:
        if load.poll() is None:
            load.terminate()
        load.wait(timeout=60)
