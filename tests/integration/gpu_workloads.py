"""Helpers shared by the GPU scheduling tests: a GPU Deployment and pod polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from forescale.sandbox.gpu_nodes import GPU_RESOURCE, LOAD_ANNOTATION
from forescale.sandbox.pytest_plugin import Kubectl

Pod = dict[str, Any]

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "llmdeployment.yaml"


def gpu_deployment(name: str, replicas: int, gpus: int, load_seconds: float) -> str:
    """A Deployment whose pods each request ``gpus`` GPUs and 'load' for ``load_seconds``."""
    labels = {"app": name}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {LOAD_ANNOTATION: str(load_seconds)},
                    },
                    "spec": {
                        "containers": [
                            {
                                "name": "vllm",
                                "image": "vllm/vllm-openai:sandbox",
                                "resources": {
                                    "limits": {GPU_RESOURCE: str(gpus)},
                                    "requests": {"cpu": "1", "memory": "1Gi"},
                                },
                            }
                        ]
                    },
                },
            },
        }
    )


def pods(kubectl: Kubectl, namespace: str, app: str) -> list[Pod]:
    """Current pods of one app."""
    out = kubectl.ok("get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json")
    items: list[Pod] = json.loads(out)["items"]
    return items


def condition(pod: Pod, kind: str) -> dict[str, Any]:
    """One status condition of a pod ({} if absent)."""
    for cond in pod.get("status", {}).get("conditions", []):
        if cond["type"] == kind:
            found: dict[str, Any] = cond
            return found
    return {}


def is_ready(pod: Pod) -> bool:
    """True when the pod's Ready condition is True."""
    return condition(pod, "Ready").get("status") == "True"


def wait_for(
    kubectl: Kubectl,
    namespace: str,
    app: str,
    predicate: Callable[[list[Pod]], bool],
    *,
    timeout: float,
    what: str,
) -> list[Pod]:
    """Poll the app's pods until ``predicate`` holds; fail with their phases if not."""
    deadline = time.monotonic() + timeout
    current: list[Pod] = []
    while time.monotonic() < deadline:
        current = pods(kubectl, namespace, app)
        if predicate(current):
            return current
        time.sleep(0.25)
    summary = [
        (p["metadata"]["name"], p.get("status", {}).get("phase"), p.get("spec", {}).get("nodeName"))
        for p in current
    ]
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; pods: {summary}")
