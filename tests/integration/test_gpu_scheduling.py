"""GPU pods on fake kwok nodes: scheduled by the real scheduler, Ready after the simulated
model load, and Pending/Unschedulable once the pool's GPUs run out."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from forescale.sandbox.gpu_nodes import GpuNodePool
from forescale.sandbox.pytest_plugin import Kubectl

from .gpu_workloads import condition, gpu_deployment, is_ready, wait_for

pytestmark = pytest.mark.integration

LOAD_SECONDS = 5.0


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_gpu_pods_run_on_fake_nodes_and_turn_ready_after_the_load_delay(
    kubectl: Kubectl, namespace: str, gpu_pool: GpuNodePool
) -> None:
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=gpu_deployment("llm", 2, 1, LOAD_SECONDS))
    created = time.monotonic()

    running = wait_for(
        kubectl,
        namespace,
        "llm",
        lambda ps: len(ps) == 2 and all(p["status"].get("phase") == "Running" for p in ps),
        timeout=30,
        what="2 Running pods",
    )
    # Running but still loading the model: not Ready yet.
    assert time.monotonic() - created < LOAD_SECONDS, "pods took too long to start to judge"
    for pod in running:
        assert pod["spec"]["nodeName"] in gpu_pool.node_names()
        assert not is_ready(pod)
        assert condition(pod, "Ready")["reason"] == "ContainersNotReady"

    ready = wait_for(
        kubectl,
        namespace,
        "llm",
        lambda ps: len(ps) == 2 and all(is_ready(p) for p in ps),
        timeout=LOAD_SECONDS + 30,
        what="2 Ready pods",
    )
    for pod in ready:
        started = _ts(pod["status"]["startTime"])
        became_ready = _ts(condition(pod, "Ready")["lastTransitionTime"])
        # Timestamps have one-second resolution.
        assert (became_ready - started).total_seconds() >= LOAD_SECONDS - 1
    assert time.monotonic() - created >= LOAD_SECONDS - 1
    assert (
        kubectl.ok(
            "get", "deployment", "llm", "-n", namespace, "-o", "jsonpath={.status.readyReplicas}"
        )
        == "2"
    )


def test_pods_beyond_the_gpu_pool_stay_pending_unschedulable(
    kubectl: Kubectl, namespace: str, gpu_pool: GpuNodePool
) -> None:
    fits = gpu_pool.count  # one whole node (all its GPUs) per pod
    replicas = fits + 1
    kubectl.ok(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=gpu_deployment("big", replicas, gpu_pool.gpus_per_node, 1),
    )

    def settled(ps: list[dict[str, object]]) -> bool:
        scheduled = [p for p in ps if condition(p, "PodScheduled").get("status") == "True"]
        unschedulable = [
            p for p in ps if condition(p, "PodScheduled").get("reason") == "Unschedulable"
        ]
        return len(ps) == replicas and len(scheduled) == fits and len(unschedulable) == 1

    current = wait_for(kubectl, namespace, "big", settled, timeout=60, what="pool to fill")
    pending = [p for p in current if condition(p, "PodScheduled").get("status") == "False"]
    assert len(pending) == 1
    assert pending[0]["status"]["phase"] == "Pending"
    assert "Insufficient nvidia.com/gpu" in condition(pending[0], "PodScheduled")["message"]
    nodes = {p["spec"]["nodeName"] for p in current if p["spec"].get("nodeName")}
    assert nodes == set(gpu_pool.node_names())


def test_a_pod_asking_for_more_gpus_than_any_node_has_is_unschedulable(
    kubectl: Kubectl, namespace: str, gpu_pool: GpuNodePool
) -> None:
    kubectl.ok(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=gpu_deployment("huge", 1, gpu_pool.gpus_per_node + 1, 1),
    )
    current = wait_for(
        kubectl,
        namespace,
        "huge",
        lambda ps: (
            len(ps) == 1 and condition(ps[0], "PodScheduled").get("reason") == "Unschedulable"
        ),
        timeout=30,
        what="the pod to be reported Unschedulable",
    )
    assert current[0]["status"]["phase"] == "Pending"
