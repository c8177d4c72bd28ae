"""Deleting an owner garbage-collects its children (kube-controller-manager's GC),
which the operator relies on instead of deleting children itself."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from forescale.sandbox.pytest_plugin import Kubectl

from .gpu_workloads import SAMPLE, gpu_deployment, pods, wait_for

pytestmark = pytest.mark.integration


def _gone(kubectl: Kubectl, namespace: str, *args: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not json.loads(kubectl.ok("get", *args, "-n", namespace, "-o", "json"))["items"]:
            return
        time.sleep(0.5)
    raise AssertionError(f"{args} still present after {timeout}s")


def test_deleting_a_deployment_collects_its_replicasets_and_pods(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=gpu_deployment("gc", 2, 1, 1))
    wait_for(kubectl, namespace, "gc", lambda ps: len(ps) == 2, timeout=30, what="2 pods")
    kubectl.ok("delete", "deployment", "gc", "-n", namespace, "--wait=false")
    _gone(kubectl, namespace, "replicasets", "-l", "app=gc")
    _gone(kubectl, namespace, "pods", "-l", "app=gc")
    assert pods(kubectl, namespace, "gc") == []


@pytest.mark.usefixtures("llmd_crd")
def test_deleting_an_llmdeployment_collects_objects_it_owns(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.ok("apply", "-n", namespace, "-f", str(SAMPLE))
    owner = json.loads(kubectl.ok("get", "llmd", "llama-8b", "-n", namespace, "-o", "json"))
    child = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "llama-8b",
            "ownerReferences": [
                {
                    "apiVersion": "forescale.io/v1alpha1",
                    "kind": "LLMDeployment",
                    "name": "llama-8b",
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"selector": {"app": "llama-8b"}, "ports": [{"port": 8000}]},
    }
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(child))
    kubectl.ok("delete", "llmd", "llama-8b", "-n", namespace, "--wait=false")
    _gone(kubectl, namespace, "services", "--field-selector=metadata.name=llama-8b")
