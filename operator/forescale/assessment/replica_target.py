"""Who owns the replica count, and what it should be now.

With ``policy: fixed`` the user owns it through ``spec.replicas`` (so ``kubectl scale llmd``
works through the scale subresource). With an autoscaling policy in ``auto`` mode the
autoscaler owns it, and a write to ``spec.replicas`` (``kubectl scale``, an external HPA) is
reported, not silently fought or obeyed. In ``recommend`` mode forescale only advises, so
the count stays where the user put it.

Someone else writing the *Deployment's* replica count (an HPA or KEDA aimed at it,
``kubectl scale deployment``) is a hand-over, not a fight: forescale keeps that count and
stops writing it until the LLMDeployment's spec changes (docs/operations.md). Fighting
an HPA flips the count every few seconds and restarts model loads each time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from forescale.api.spec import LLMDeploymentSpec


@dataclass(frozen=True)
class ReplicaTarget:
    """What is known about the replica count before choosing."""

    deployment_replicas: int | None
    """The Deployment's spec.replicas now (None when it does not exist yet)."""
    applied_by_us: int | None
    """What forescale set last (None after a restart: then nothing is assumed)."""
    autoscaler_desired: int | None
    """The autoscaler's decision this pass (None: no decision, hold)."""
    external_writer: str | None = None
    """Another field manager that wrote the Deployment's replicas and has it (hand-over)."""


@dataclass(frozen=True)
class ReplicaChoice:
    """The replica count to apply, why, and Events to post (type, reason, message)."""

    replicas: int
    why: str
    events: list[tuple[str, str, str]] = field(default_factory=list)


def _clip(value: int, spec: LLMDeploymentSpec) -> int:
    return max(spec.scaling.min_replicas, min(spec.scaling.max_replicas, value))


def _bounded(value: int, spec: LLMDeploymentSpec, why: str) -> tuple[int, str]:
    """``value`` within the spec's bounds, and ``why`` saying which bound moved it: a
    "Scaled from 1 to 2" Event must name the minReplicas edit that caused it."""
    clipped = _clip(value, spec)
    if clipped > value:
        return clipped, f"{why} {value}, raised to minReplicas {clipped}"
    if clipped < value:
        return clipped, f"{why} {value}, lowered to maxReplicas {clipped}"
    return clipped, why


def choose_replicas(spec: LLMDeploymentSpec, known: ReplicaTarget) -> ReplicaChoice:
    """The replica count for the Deployment."""
    scaling = spec.scaling
    events: list[tuple[str, str, str]] = []
    current = known.deployment_replicas
    if scaling.policy == "fixed":
        if spec.replicas is not None:
            replicas, why = spec.replicas, f"spec.replicas is {spec.replicas}"
        else:
            replicas = scaling.min_replicas
            why = f"policy fixed without spec.replicas: minReplicas {replicas}"
    elif scaling.mode == "recommend":
        if spec.replicas is not None:
            replicas, why = spec.replicas, f"recommend mode: spec.replicas is {spec.replicas}"
        elif current is not None:
            replicas, why = _bounded(current, spec, "recommend mode: keeping the current count")
        else:
            replicas, why = (
                scaling.min_replicas,
                f"recommend mode: starting at minReplicas {scaling.min_replicas}",
            )
    else:
        if known.autoscaler_desired is not None:
            replicas, why = _bounded(known.autoscaler_desired, spec, "autoscaler decision")
        elif known.applied_by_us is not None:
            replicas, why = _bounded(known.applied_by_us, spec, "holding the last decision")
        elif current is not None:
            replicas, why = _bounded(current, spec, "holding the current count")
        else:
            replicas, why = scaling.min_replicas, f"starting at minReplicas {scaling.min_replicas}"
        if spec.replicas is not None and spec.replicas != replicas:
            events.append(
                (
                    "Warning",
                    "ExternalScaleIgnored",
                    f"spec.replicas was set to {spec.replicas} (kubectl scale or an external "
                    f"autoscaler?) but scaling.policy is {scaling.policy}, so forescale owns the "
                    f"replica count ({replicas}). Set scaling.policy: fixed to scale by hand.",
                )
            )
    if known.external_writer is not None and current is not None:
        return ReplicaChoice(
            replicas=current,
            why=f"handed over to {known.external_writer}",
            events=[
                (
                    "Warning",
                    "ExternalScaler",
                    f"{known.external_writer} set the Deployment's replicas to {current}; "
                    "forescale leaves the count to it and stops scaling (ScalingActive=False). "
                    "Remove that scaler, then change the LLMDeployment's spec to hand the "
                    "count back, or scale the LLMDeployment instead.",
                )
            ],
        )
    return ReplicaChoice(replicas=replicas, why=why, events=events)
