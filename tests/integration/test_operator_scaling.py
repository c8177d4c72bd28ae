"""The scale subresource drives replicas under the fixed policy; restarts resume cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import apply, events, eventually, get, running_operator, sample

pytestmark = pytest.mark.integration

LOAD = {"annotations": {"forescale.io/simulated-load-seconds": "3"}}


def _replicas(kubectl: Kubectl, namespace: str, name: str) -> int | None:
    deployment = get(kubectl, namespace, "deployment", name)
    return None if deployment is None else deployment["spec"].get("replicas")


def test_kubectl_scale_drives_fixed_policy(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    manifest = sample("llmdeployment-minimal.yaml", podMetadata=LOAD, replicas=1)
    manifest["spec"]["scaling"] = {"policy": "fixed", "maxReplicas": 4}
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, manifest)
        eventually(lambda: _replicas(kubectl, namespace, "qwen-small") == 1, 30, "1 replica")
        kubectl.ok("scale", "llmd", "qwen-small", "-n", namespace, "--replicas=3")
        eventually(lambda: _replicas(kubectl, namespace, "qwen-small") == 3, 30, "3 replicas")
        eventually(
            lambda: (
                (get(kubectl, namespace, "llmd", "qwen-small") or {})
                .get("status", {})
                .get("readyReplicas")
                == 3
            ),
            60,
            "3 Ready replicas in status",
        )
        scale = json.loads(
            kubectl.ok(
                "get", "--raw",
                f"/apis/forescale.io/v1alpha1/namespaces/{namespace}/llmdeployments/qwen-small/scale",
            )
        )  # fmt: skip
        assert scale["spec"]["replicas"] == 3
        assert scale["status"]["replicas"] == 3
        # Scaling the Deployment behind forescale's back is a hand-over, not a fight: the
        # count stays, one ExternalScaler Warning, ScalingActive=False.
        kubectl.ok("scale", "deployment", "qwen-small", "-n", namespace, "--replicas=1")
        eventually(
            lambda: [
                e for e in events(kubectl, namespace, "qwen-small")
                if e["reason"] == "ExternalScaler"
            ],
            30,
            "ExternalScaler Event",
        )  # fmt: skip
        assert _replicas(kubectl, namespace, "qwen-small") == 1
        # A change of the LLMDeployment's spec hands the count back.
        kubectl.ok("scale", "llmd", "qwen-small", "-n", namespace, "--replicas=2")
        eventually(lambda: _replicas(kubectl, namespace, "qwen-small") == 2, 30, "back to 2")


def test_external_scale_is_reported_when_autoscaling(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    manifest = sample("llmdeployment-minimal.yaml", podMetadata=LOAD)
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, manifest)
        eventually(lambda: _replicas(kubectl, namespace, "qwen-small") == 1, 30, "1 replica")
        kubectl.ok("scale", "llmd", "qwen-small", "-n", namespace, "--replicas=4")
        warning = eventually(
            lambda: [
                e for e in events(kubectl, namespace, "qwen-small")
                if e["reason"] == "ExternalScaleIgnored"
            ],
            30,
            "ExternalScaleIgnored Event",
        )  # fmt: skip
        assert "scaling.policy is predictive" in warning[0]["message"]
        assert _replicas(kubectl, namespace, "qwen-small") == 1


def test_restart_mid_rollout_resumes_without_duplicates(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    slow = {"annotations": {"forescale.io/simulated-load-seconds": "8"}}
    manifest = sample("llmdeployment-minimal.yaml", podMetadata=slow, replicas=2)
    manifest["spec"]["scaling"] = {"policy": "fixed", "maxReplicas": 2}
    with running_operator(operator_kubeconfig, namespace):
        apply(kubectl, namespace, manifest)
        eventually(lambda: _replicas(kubectl, namespace, "qwen-small") == 2, 30, "2 replicas")
    # Operator stopped while the pods still load the model; start a new one.
    with running_operator(operator_kubeconfig, namespace, kubectl):
        eventually(
            lambda: (
                (get(kubectl, namespace, "llmd", "qwen-small") or {})
                .get("status", {})
                .get("readyReplicas")
                == 2
            ),
            60,
            "2 Ready after the restart",
        )
        deployments = json.loads(kubectl.ok("get", "deployments", "-n", namespace, "-o", "json"))
        assert [d["metadata"]["name"] for d in deployments["items"]] == ["qwen-small"]
        replica_sets = json.loads(kubectl.ok("get", "replicasets", "-n", namespace, "-o", "json"))
        assert len(replica_sets["items"]) == 1
        pods = json.loads(kubectl.ok("get", "pods", "-n", namespace, "-o", "json"))
        assert len(pods["items"]) == 2
