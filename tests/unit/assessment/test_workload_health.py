"""Replica counts and conditions from a Deployment and its pods."""

from __future__ import annotations

from typing import Any

from forescale.assessment.workload_health import SpecProblem, assess


def _deployment(replicas: int, ready: int, updated: int) -> dict[str, Any]:
    return {
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": updated},
    }


def _pod(
    name: str,
    phase: str = "Running",
    ready: bool = False,
    scheduled: dict[str, str] | None = None,
    waiting: str | None = None,
) -> dict[str, Any]:
    conditions: list[dict[str, str]] = [{"type": "Ready", "status": "True" if ready else "False"}]
    if scheduled is not None:
        conditions.append({"type": "PodScheduled", **scheduled})
    statuses = []
    if waiting is not None:
        statuses.append({"state": {"waiting": {"reason": waiting, "message": "boom"}}})
    return {
        "metadata": {"name": name},
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": statuses},
    }


def test_all_ready_is_ready_and_stable() -> None:
    health = assess(
        _deployment(2, 2, 2), [_pod("a", ready=True), _pod("b", ready=True)], 2, "nvidia.com/gpu"
    )
    assert (health.replicas, health.ready_replicas, health.updated_replicas) == (2, 2, 2)
    assert health.condition("Ready").status == "True"
    assert health.condition("Progressing").status == "False"
    assert health.condition("Degraded").status == "False"


def test_running_but_not_ready_is_model_loading() -> None:
    health = assess(_deployment(2, 1, 2), [_pod("a", ready=True), _pod("b")], 2, "nvidia.com/gpu")
    progressing = health.condition("Progressing")
    assert (progressing.status, progressing.reason) == ("True", "ModelLoading")
    assert "1/2 replicas Ready; 1 loading the model" in progressing.message
    assert health.condition("Ready").status == "True"


def test_no_ready_replica_is_not_ready() -> None:
    health = assess(_deployment(1, 0, 1), [_pod("a")], 1, "nvidia.com/gpu")
    assert health.condition("Ready").status == "False"
    assert health.condition("Ready").reason == "ModelLoading"


def test_insufficient_gpu_is_degraded() -> None:
    pending = _pod(
        "b",
        phase="Pending",
        scheduled={
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
        },
    )
    health = assess(_deployment(2, 1, 2), [_pod("a", ready=True), pending], 2, "nvidia.com/gpu")
    degraded = health.condition("Degraded")
    assert (degraded.status, degraded.reason) == ("True", "InsufficientGPU")
    assert "Insufficient nvidia.com/gpu" in degraded.message
    assert health.condition("Ready").reason == "AvailableDegraded"


def test_crash_loop_and_image_pull() -> None:
    crash = assess(
        _deployment(1, 0, 1), [_pod("a", waiting="CrashLoopBackOff")], 1, "nvidia.com/gpu"
    )
    assert crash.condition("Degraded").reason == "CrashLooping"
    assert crash.condition("Ready").reason == "CrashLooping"
    pull = assess(
        _deployment(1, 0, 1), [_pod("a", waiting="ImagePullBackOff")], 1, "nvidia.com/gpu"
    )
    assert pull.condition("Degraded").reason == "ImagePullFailed"


def test_spec_problem_wins() -> None:
    problem = SpecProblem("MissingSecret", "Secret hf-token does not exist")
    health = assess(_deployment(1, 0, 1), [_pod("a")], 1, "nvidia.com/gpu", [problem])
    degraded = health.condition("Degraded")
    assert (degraded.reason, degraded.message) == (
        "MissingSecret",
        "Secret hf-token does not exist",
    )


def test_rolling_out_and_scaling_down() -> None:
    rolling = assess(_deployment(3, 3, 1), [], 3, "nvidia.com/gpu")
    assert rolling.condition("Progressing").reason == "RollingOut"
    down = assess(_deployment(4, 4, 4), [], 2, "nvidia.com/gpu")
    assert down.condition("Progressing").reason == "ScalingDown"
    missing = assess(None, [], 1, "nvidia.com/gpu")
    assert missing.condition("Progressing").reason == "Creating"


def test_a_missing_secret_is_read_off_the_pods_not_probed() -> None:
    """Least privilege (issue 11 item 8): no Secret read; the kubelet's message says it."""
    pod = _pod("a", phase="Pending", waiting="CreateContainerConfigError")
    pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = (
        'secret "hf-token" not found'
    )
    health = assess(_deployment(1, 0, 1), [pod], 1, "nvidia.com/gpu")
    degraded = health.condition("Degraded")
    assert (degraded.status, degraded.reason) == ("True", "MissingSecret")
    assert 'secret "hf-token" not found' in degraded.message


def test_pods_refused_by_admission_make_it_degraded_with_the_message() -> None:
    """Finding: Pod Security refused the pods while Degraded said "No problem detected"."""
    deployment = _deployment(1, 0, 0)
    message = 'pods "llm-1" is forbidden: violates PodSecurity "restricted:latest"'
    deployment["status"]["conditions"] = [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}
    ]
    health = assess(deployment, [], 1, "nvidia.com/gpu")
    degraded = health.condition("Degraded")
    assert (degraded.status, degraded.reason) == ("True", "PodsRejected")
    assert "violates PodSecurity" in degraded.message
    assert health.condition("Ready").status == "False"
