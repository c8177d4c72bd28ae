"""kill -9 of the operator mid-load: the restarted one continues the forecast.

The finding this pins down: the policy state that policy/state.py said was kept in status
was memory-only, so after ``kill -9`` the forecaster restarted at "1 of 8 samples" and the
learned cold start was gone. Now it lives in ``status.autoscaling.policyState``.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from forescale.sandbox.operator_process import OperatorProcess
from forescale.sandbox.pytest_plugin import Kubectl

from .conftest import Fleet
from .fleet_support import MODEL, NAME, apply, demo_manifest, eventually, get, loadgen

pytestmark = pytest.mark.e2e


def _state(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    autoscaling = (get(kubectl, namespace, "llmd", NAME).get("status") or {}).get(
        "autoscaling"
    ) or {}
    text = autoscaling.get("policyState")
    return {"autoscaling": autoscaling, "state": json.loads(text) if text else {}}


def _samples(kubectl: Kubectl, namespace: str) -> int:
    return int(_state(kubectl, namespace)["state"].get("forecaster", {}).get("samples", 0))


def test_kill_9_then_restart_continues_the_forecast(
    fleet: Fleet, kubectl: Kubectl, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    apply(kubectl, namespace, demo_manifest(minReplicas=2))
    eventually(lambda: len(fleet.bridge.backends(MODEL)) >= 2, 90, "2 Ready replicas serving")
    load = loadgen(fleet.router.url, "constant:rate=2", 150, tmp_path / "requests.jsonl")
    restarted = OperatorProcess(
        operator.namespaces,
        lambda: fleet.prometheus.url,
        reconcile_seconds=2,
        rate_window_seconds=10,
        log_name=f"operator-restarted-{namespace}",
    )
    try:
        eventually(lambda: _samples(kubectl, namespace) >= 5, 120, "5 forecaster samples")
        (process,) = operator.processes()
        assert process.pid is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.stop(timeout=10)
        before = _state(kubectl, namespace)  # the last state the killed operator wrote
        restarted.start(fleet.cluster)
        eventually(
            lambda: _samples(kubectl, namespace) > before["state"]["forecaster"]["samples"],
            60,
            "the restarted operator to decide again",
        )
        after = _state(kubectl, namespace)
        reason = after["autoscaling"].get("lastDecisionReason", "")
        assert "1 of 8 samples" not in reason, reason
        assert (
            after["state"]["startup_seconds"][: len(before["state"]["startup_seconds"])]
            == (before["state"]["startup_seconds"])
        )
        assert after["autoscaling"].get("coldStartSeconds") == before["autoscaling"].get(
            "coldStartSeconds"
        )
    finally:
        load.wait(timeout=200)
        kubectl("delete", "llmd", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
        restarted.stop()
