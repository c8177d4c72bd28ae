"""Judge a Deployment and its pods the way an SRE would, and say it in conditions.

Inputs are the raw dicts the API returns (Deployment, pods) plus what the operator checked
about referenced objects; the output names a reason a person can act on: ``InsufficientGPU``
when the scheduler says so, ``CrashLooping`` and ``ImagePullFailed`` from container states,
``ModelLoading`` while pods run but are not Ready yet. Two problems are read off the
objects instead of probed for: a missing Secret (``MissingSecret``, from the pods'
``CreateContainerConfigError``, so the operator needs no permission to read Secrets) and
pods the API server refused (``PodsRejected``, from the Deployment's ``ReplicaFailure``
condition, e.g. a namespace enforcing Pod Security ``restricted``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forescale.api.status import DEGRADED, PROGRESSING, READY
from forescale.assessment.conditions import ConditionUpdate

_PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName"}


@dataclass(frozen=True)
class SpecProblem:
    """A semantic problem the schema cannot catch (a missing Secret, an unknown GPU)."""

    reason: str
    message: str


@dataclass(frozen=True)
class WorkloadHealth:
    """Replica counts and the three standard conditions."""

    replicas: int
    ready_replicas: int
    updated_replicas: int
    desired_replicas: int
    conditions: list[ConditionUpdate] = field(default_factory=list)

    def condition(self, kind: str) -> ConditionUpdate:
        """The update for ``kind`` (always present)."""
        return next(c for c in self.conditions if c.type == kind)


def _unschedulable_gpu(pods: list[dict[str, Any]], gpu_resource: str) -> str | None:
    for pod in pods:
        for cond in pod.get("status", {}).get("conditions", []) or []:
            if (
                cond.get("type") == "PodScheduled"
                and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"
            ):
                message = str(cond.get("message", ""))
                if f"Insufficient {gpu_resource}" in message:
                    return message
    return None


def _unschedulable_other(pods: list[dict[str, Any]]) -> str | None:
    for pod in pods:
        for cond in pod.get("status", {}).get("conditions", []) or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                return str(cond.get("message", ""))
    return None


def _waiting_reason(pods: list[dict[str, Any]], reasons: set[str]) -> tuple[str, str] | None:
    for pod in pods:
        for status in pod.get("status", {}).get("containerStatuses", []) or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in reasons:
                name = pod.get("metadata", {}).get("name", "?")
                return name, str(waiting.get("message") or waiting.get("reason"))
    return None


def _replica_failure(deployment: dict[str, Any] | None) -> str | None:
    """The Deployment's ReplicaFailure message: pods the API server would not create."""
    for cond in (deployment or {}).get("status", {}).get("conditions", []) or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return str(cond.get("message") or cond.get("reason") or "ReplicaFailure")
    return None


def _is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", []) or []
    )


def _is_running(pod: dict[str, Any]) -> bool:
    return bool(pod.get("status", {}).get("phase") == "Running")


def _degraded(
    pods: list[dict[str, Any]],
    gpu_resource: str,
    problems: list[SpecProblem],
    deployment: dict[str, Any] | None = None,
) -> ConditionUpdate:
    if problems:
        first = problems[0]
        extra = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return ConditionUpdate(DEGRADED, "True", first.reason, first.message + extra)
    rejected = _replica_failure(deployment)
    if rejected is not None:
        return ConditionUpdate(
            DEGRADED,
            "True",
            "PodsRejected",
            f"The API server refused the replicas' pods: {rejected}",
        )
    config = _waiting_reason(pods, {"CreateContainerConfigError"})
    if config is not None:
        missing = "not found" in config[1] and "secret" in config[1].lower()
        return ConditionUpdate(
            DEGRADED,
            "True",
            "MissingSecret" if missing else "InvalidPodConfig",
            f"Pod {config[0]} cannot start its container: {config[1]}"
            + (
                ". Create the Secret the spec names (tokenSecret or engine.env secretKeyRef)."
                if missing
                else ""
            ),
        )
    gpu = _unschedulable_gpu(pods, gpu_resource)
    if gpu is not None:
        return ConditionUpdate(
            DEGRADED,
            "True",
            "InsufficientGPU",
            f"Pods cannot be scheduled: not enough free {gpu_resource} ({gpu}). Free GPUs, "
            "add GPU nodes, or lower spec.scaling.maxReplicas.",
        )
    crash = _waiting_reason(pods, {"CrashLoopBackOff"})
    if crash is not None:
        return ConditionUpdate(
            DEGRADED,
            "True",
            "CrashLooping",
            f"Pod {crash[0]} is crash-looping: {crash[1]}. See `kubectl logs {crash[0]}`.",
        )
    pull = _waiting_reason(pods, _PULL_FAILURES)
    if pull is not None:
        return ConditionUpdate(
            DEGRADED,
            "True",
            "ImagePullFailed",
            f"Pod {pull[0]} cannot pull its image: {pull[1]}. Check spec.engine.image.",
        )
    other = _unschedulable_other(pods)
    if other is not None:
        return ConditionUpdate(
            DEGRADED, "True", "Unschedulable", f"Pods cannot be scheduled: {other}"
        )
    return ConditionUpdate(DEGRADED, "False", "AsExpected", "No problem detected")


def assess(
    deployment: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    desired_replicas: int,
    gpu_resource: str,
    problems: list[SpecProblem] | None = None,
) -> WorkloadHealth:
    """Counts and Ready/Progressing/Degraded for one LLMDeployment."""
    problems = problems or []
    status = (deployment or {}).get("status", {})
    live = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
    replicas = int(status.get("replicas", 0) or 0)
    ready = int(status.get("readyReplicas", 0) or 0)
    updated = int(status.get("updatedReplicas", 0) or 0)
    degraded = _degraded(live, gpu_resource, problems, deployment)

    if deployment is None:
        progressing = ConditionUpdate(PROGRESSING, "True", "Creating", "Creating the Deployment")
    elif updated < replicas:
        progressing = ConditionUpdate(
            PROGRESSING,
            "True",
            "RollingOut",
            f"Rolling out a new pod template: {updated} of {replicas} replicas updated",
        )
    elif ready < desired_replicas:
        loading = sum(1 for p in live if _is_running(p) and not _is_ready(p))
        pending = sum(1 for p in live if not _is_running(p))
        reason = "ModelLoading" if loading else "ScalingUp"
        progressing = ConditionUpdate(
            PROGRESSING,
            "True",
            reason,
            f"{ready}/{desired_replicas} replicas Ready; {loading} loading the model, "
            f"{pending} pending",
        )
    elif replicas > desired_replicas:
        progressing = ConditionUpdate(
            PROGRESSING,
            "True",
            "ScalingDown",
            f"Draining {replicas - desired_replicas} replicas ({replicas} -> {desired_replicas})",
        )
    else:
        progressing = ConditionUpdate(
            PROGRESSING, "False", "Stable", f"All {desired_replicas} replicas updated and Ready"
        )

    if ready >= 1 and degraded.status == "False":
        ready_cond = ConditionUpdate(
            READY, "True", "Available", f"{ready}/{desired_replicas} replicas Ready"
        )
    elif ready >= 1:
        ready_cond = ConditionUpdate(
            READY,
            "True",
            "AvailableDegraded",
            f"{ready}/{desired_replicas} replicas Ready; {degraded.reason}: {degraded.message}",
        )
    elif degraded.status == "True":
        ready_cond = ConditionUpdate(READY, "False", degraded.reason, degraded.message)
    else:
        ready_cond = ConditionUpdate(READY, "False", progressing.reason, progressing.message)
    return WorkloadHealth(
        replicas=replicas,
        ready_replicas=ready,
        updated_replicas=updated,
        desired_replicas=desired_replicas,
        conditions=[ready_cond, progressing, degraded],
    )
