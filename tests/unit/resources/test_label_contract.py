"""Every child carries the label contract, an owner reference, and selects only its pods."""

from __future__ import annotations

import pytest

from forescale.resources.children import build_children
from forescale.resources.labels import selector_string
from tests.unit.resources.builders_support import owner_from

CONTRACT = {
    "app.kubernetes.io/name": "vllm",
    "app.kubernetes.io/instance": "llama-8b",
    "app.kubernetes.io/managed-by": "forescale",
    "forescale.io/llmdeployment": "llama-8b",
}


@pytest.mark.parametrize("kind", ["Service", "PodDisruptionBudget", "Deployment", "PodMonitor"])
def test_child_has_contract_labels_and_owner(kind: str) -> None:
    owner = owner_from()
    child = next(c for c in build_children(owner) if c["kind"] == kind)
    labels = child["metadata"]["labels"]
    assert CONTRACT.items() <= labels.items()
    assert child["metadata"]["namespace"] == "team-a"
    (ref,) = child["metadata"]["ownerReferences"]
    assert ref == {
        "apiVersion": "forescale.io/v1alpha1",
        "kind": "LLMDeployment",
        "name": "llama-8b",
        "uid": "1234",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_selectors_match_pod_template() -> None:
    owner = owner_from()
    children = {c["kind"]: c for c in build_children(owner)}
    pod_labels = children["Deployment"]["spec"]["template"]["metadata"]["labels"]
    selectors = [
        children["Deployment"]["spec"]["selector"]["matchLabels"],
        children["Service"]["spec"]["selector"],
        children["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        children["PodMonitor"]["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()
        assert selector == selectors[0]
    assert selector_string("llama-8b") == ",".join(
        f"{k}={v}" for k, v in sorted(selectors[0].items())
    )


def test_user_pod_labels_cannot_override_contract() -> None:
    owner = owner_from(podMetadata={"labels": {"forescale.io/llmdeployment": "other"}})
    deployment = next(c for c in build_children(owner) if c["kind"] == "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["forescale.io/llmdeployment"] == "llama-8b"


def test_pod_monitor_is_optional() -> None:
    kinds = [c["kind"] for c in build_children(owner_from(), pod_monitor=False)]
    assert kinds == ["Service", "PodDisruptionBudget", "Deployment"]
