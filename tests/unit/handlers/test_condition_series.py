"""``forescale_llmdeployment_condition``: one series per condition type, labelled with the
reason the condition has now.

LLMDeploymentDegraded fires on ``max by (namespace, llmdeployment, reason) (...) == 1``, so a
series left behind under an old reason would keep paging for a problem that is gone
(docs/operations.md, "Metrics the alerts read"; the Degraded runbook: when the reason
changes, the alert starts over under the new one).
"""

from __future__ import annotations

from typing import Any

from forescale.handlers import telemetry

NAMESPACE = "condition-series"


def _conditions(name: str) -> dict[tuple[str, str], float]:
    """This LLMDeployment's condition series: (type, reason) -> value."""
    return {
        (sample.labels["type"], sample.labels["reason"]): sample.value
        for metric in telemetry.REGISTRY.collect()
        for sample in metric.samples
        if sample.name == "forescale_llmdeployment_condition"
        and sample.labels["namespace"] == NAMESPACE
        and sample.labels["llmdeployment"] == name
    }


def _record(name: str, *conditions: tuple[str, str, str]) -> None:
    listed: list[dict[str, Any]] = [
        {"type": kind, "status": status, "reason": reason} for kind, status, reason in conditions
    ]
    telemetry.record_pass(
        NAMESPACE,
        name,
        desired=1,
        ready=0,
        max_replicas=4,
        slo_ttft_seconds=2.0,
        conditions=listed,
    )


def test_a_new_reason_replaces_the_series_of_the_old_one() -> None:
    _record("gpu", ("Degraded", "True", "InsufficientGPU"), ("Ready", "False", "Unavailable"))
    assert _conditions("gpu") == {("Degraded", "InsufficientGPU"): 1, ("Ready", "Unavailable"): 0}
    # GPUs freed: the problem is gone, and so is its series (the alert stops).
    _record("gpu", ("Degraded", "False", "AsExpected"), ("Ready", "True", "Available"))
    assert _conditions("gpu") == {("Degraded", "AsExpected"): 0, ("Ready", "Available"): 1}
    # A different problem is a new series: the alert's 5 minutes start again.
    _record("gpu", ("Degraded", "True", "CrashLooping"), ("Ready", "True", "Available"))
    assert _conditions("gpu") == {("Degraded", "CrashLooping"): 1, ("Ready", "Available"): 1}


def test_a_deleted_llmdeployment_leaves_no_condition_series() -> None:
    _record("gone", ("Degraded", "True", "MissingSecret"))
    _record("gone", ("Degraded", "True", "ImagePullFailed"))
    telemetry.forget(NAMESPACE, "gone")
    assert _conditions("gone") == {}
