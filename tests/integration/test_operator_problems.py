"""Bad input that passes the schema becomes Degraded with a reason and an Event, and heals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import (
    apply,
    condition,
    create_token_secret,
    events,
    eventually,
    get,
    running_operator,
    sample,
)

pytestmark = pytest.mark.integration

LOAD = {"annotations": {"forescale.io/simulated-load-seconds": "2"}}


def _degraded_reason(kubectl: Kubectl, namespace: str, name: str) -> str | None:
    cond = condition(get(kubectl, namespace, "llmd", name), "Degraded")
    return cond.get("reason") if cond.get("status") == "True" else None


def _kubelet_reports(kubectl: Kubectl, namespace: str, waiting: dict[str, str] | None) -> None:
    """Write the container state a real kubelet writes (kwok does not resolve Secrets)."""
    pods = json.loads(kubectl.ok("get", "pods", "-n", namespace, "-o", "json"))["items"]
    for pod in pods:
        name = pod["metadata"]["name"]
        state = (
            {"waiting": waiting} if waiting else {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
        )
        status = {"status": {"containerStatuses": [{
            "name": "vllm", "image": "x", "ready": False, "restartCount": 0, "state": state,
        }]}}  # fmt: skip
        kubectl.ok(
            "patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps(status),
        )  # fmt: skip


def test_missing_secret_is_read_off_the_pods_then_recovers(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    """The operator cannot read Secrets (least privilege): the kubelet's
    CreateContainerConfigError on the pods is what tells it a Secret is missing."""
    slow = {"annotations": {"forescale.io/simulated-load-seconds": "600"}}
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, sample(podMetadata=slow))
        eventually(
            lambda: (
                json.loads(kubectl.ok("get", "pods", "-n", namespace, "-o", "json"))["items"]
                and all(
                    p["status"].get("podIP")
                    for p in json.loads(kubectl.ok("get", "pods", "-n", namespace, "-o", "json"))[
                        "items"
                    ]
                )
            ),
            30,
            "the pods to start",
        )
        missing = {"reason": "CreateContainerConfigError", "message": 'secret "hf-token" not found'}
        _kubelet_reports(kubectl, namespace, missing)
        eventually(
            lambda: _degraded_reason(kubectl, namespace, "llama-8b") == "MissingSecret",
            30,
            "Degraded=MissingSecret",
        )
        warning = eventually(
            lambda: [
                e for e in events(kubectl, namespace, "llama-8b") if e["reason"] == "MissingSecret"
            ],
            30,
            "a MissingSecret Event",
        )
        assert warning[0]["type"] == "Warning"
        assert "hf-token" in warning[0]["message"]
        count = len(events(kubectl, namespace, "llama-8b"))
        create_token_secret(kubectl, namespace)
        _kubelet_reports(kubectl, namespace, None)
        eventually(
            lambda: (
                condition(get(kubectl, namespace, "llmd", "llama-8b"), "Degraded").get("status")
                == "False"
            ),
            30,
            "Degraded=False once the container starts",
        )
        # No hot loop: a handful of Events, not one per pass.
        assert len(events(kubectl, namespace, "llama-8b")) < count + 10


def test_unknown_gpu_product_is_degraded(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    manifest = sample("llmdeployment-minimal.yaml", podMetadata=LOAD)
    manifest["spec"]["resources"] = {"gpuProduct": "NVIDIA-B300"}
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, manifest)
        eventually(
            lambda: _degraded_reason(kubectl, namespace, "qwen-small") == "UnknownGPUProduct",
            30,
            "Degraded=UnknownGPUProduct",
        )
        message = condition(get(kubectl, namespace, "llmd", "qwen-small"), "Degraded")["message"]
        assert "NVIDIA-B300" in message and "spec.resources.gpuProduct" in message


def test_insufficient_gpus(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    # The test pool has 2 nodes x 8 GPUs: three 8-GPU replicas cannot all fit.
    manifest = sample("llmdeployment-minimal.yaml", podMetadata=LOAD, replicas=3)
    manifest["spec"]["resources"] = {"gpuCount": 8}
    manifest["spec"]["scaling"] = {"policy": "fixed", "maxReplicas": 3}
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, manifest)
        eventually(
            lambda: _degraded_reason(kubectl, namespace, "qwen-small") == "InsufficientGPU",
            60,
            "Degraded=InsufficientGPU",
        )
        llmd = get(kubectl, namespace, "llmd", "qwen-small")
        assert "nvidia.com/gpu" in condition(llmd, "Degraded")["message"]
        reasons = {e["reason"] for e in events(kubectl, namespace, "qwen-small")}
        assert "InsufficientGPU" in reasons
