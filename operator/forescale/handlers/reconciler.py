"""The level-based control loop behind every kopf handler.

kopf tells us *that* something happened (an LLMDeployment changed, a child was edited or
deleted, a timer fired); this module decides nothing from *what* happened. It re-reads the
world and converges it: desired children from the pure builders, applied with server-side
apply; status and conditions from the pure assessment; replica count from the autoscaler.
Because every trigger leads to the same full reconciliation, a missed event, a restart in
the middle of a rollout or a hand edit all end in the same place.

Triggers for one object are coalesced: while a reconciliation runs, further triggers only
mark it dirty, so a burst of child events costs one extra pass, not one pass each.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from forescale.api import identity
from forescale.api.spec import LLMDeploymentSpec
from forescale.api.status import DEGRADED, PROGRESSING, READY, SCALING_ACTIVE
from forescale.assessment.conditions import (
    ConditionUpdate,
    find,
    initial_conditions,
    merge_conditions,
)
from forescale.assessment.replica_target import ReplicaTarget, choose_replicas
from forescale.assessment.spec_problems import references_of
from forescale.assessment.workload_health import SpecProblem, assess
from forescale.handlers import telemetry
from forescale.handlers.api_client import ApiError, ClusterClient
from forescale.handlers.autoscaling import Autoscaler
from forescale.resources.children import build_children
from forescale.resources.deployment import REPLICAS_FIELD_MANAGER, build_replicas_patch
from forescale.resources.labels import selector_string
from forescale.resources.owner import Owner

logger = logging.getLogger("forescale.reconciler")

Key = tuple[str, str]


def utc_now() -> str:
    """RFC 3339 UTC timestamp, second precision (as Kubernetes writes them)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Memory:
    """What the operator remembers about one LLMDeployment between passes."""

    running: bool = False
    dirty: bool = False
    last_events: dict[str, str] = field(default_factory=dict)
    applied_replicas: int | None = None
    reported_external: int | None = None


class Reconciler:
    """Converges LLMDeployments; one instance per operator process."""

    def __init__(
        self,
        client: ClusterClient,
        autoscaler: Autoscaler,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self._client = client
        self._autoscaler = autoscaler
        self._clock = clock
        self._memory: dict[Key, _Memory] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pod_monitors: bool | None = None

    def trigger(self, namespace: str, name: str) -> None:
        """Ask for a reconciliation of ``namespace/name`` soon (coalesced)."""
        memory = self._memory.setdefault((namespace, name), _Memory())
        if memory.running:
            memory.dirty = True
            return
        memory.running = True
        task = asyncio.get_running_loop().create_task(self._run((namespace, name), memory))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait for running passes (used on shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def forget(self, namespace: str, name: str) -> None:
        """Drop memory of a deleted LLMDeployment."""
        self._memory.pop((namespace, name), None)
        self._autoscaler.forget(namespace, name)
        telemetry.forget(namespace, name)

    async def _run(self, key: Key, memory: _Memory) -> None:
        try:
            while True:
                memory.dirty = False
                try:
                    await self.reconcile(*key)
                except (ApiError, OSError, TimeoutError) as err:
                    # Transient: the next timer tick retries; never crash the operator.
                    telemetry.RECONCILE_ERRORS.inc()
                    logger.warning("reconcile %s/%s failed: %s", key[0], key[1], err)
                if not memory.dirty:
                    break
        finally:
            memory.running = False

    async def _event(
        self, body: dict[str, Any], kind: str, reason: str, message: str, memory: _Memory
    ) -> None:
        """Post an Event unless the same reason already said the same thing last time."""
        if memory.last_events.get(reason) == message:
            return
        memory.last_events[reason] = message
        log = logger.warning if kind == "Warning" else logger.info
        meta = body["metadata"]
        log("%s/%s %s: %s", meta["namespace"], meta["name"], reason, message)
        await self._client.post_event(body, kind, reason, message, self._clock())

    async def _supports_pod_monitors(self) -> bool:
        if self._pod_monitors is None:
            self._pod_monitors = await self._client.has_api(
                "monitoring.coreos.com/v1", "podmonitors"
            )
        return self._pod_monitors

    async def _spec_problems(self, owner: Owner) -> list[SpecProblem]:
        problems = []
        for ref in references_of(owner.spec):
            if ref.kind == "Node":
                if await self._client.nodes_with_label(ref.label, ref.name) == 0:
                    problems.append(SpecProblem(ref.reason, ref.message))
            elif not await self._client.exists(ref.kind, owner.namespace, ref.name):
                problems.append(SpecProblem(ref.reason, ref.message))
        return problems

    async def _apply_child(
        self, body: dict[str, Any], child: dict[str, Any], memory: _Memory
    ) -> None:
        """Apply one child; repair edits apply alone cannot undo (see merge_patch)."""
        try:
            await self._client.apply(child)
        except ApiError as err:
            if err.status != 422:
                raise
            await self._event(
                body,
                "Warning",
                "DriftRepaired",
                f"{child['kind']} {child['metadata']['name']} was edited into a state apply "
                f"cannot merge ({err}); replacing its spec",
                memory,
            )
            await self._client.merge_patch(child)
            await self._client.apply(child)

    async def reconcile(self, namespace: str, name: str) -> None:
        """One full pass for one LLMDeployment."""
        body = await self._client.get_llmdeployment(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.forget(namespace, name)
            return
        memory = self._memory.setdefault((namespace, name), _Memory())
        meta = body["metadata"]
        generation = meta.get("generation")
        now = self._clock()
        status = body.get("status") or {}
        conditions = status.get("conditions") or initial_conditions(now, generation)
        if not status.get("conditions"):
            await self._client.patch_status(namespace, name, {"conditions": conditions})

        try:
            spec = LLMDeploymentSpec.model_validate(body.get("spec") or {})
        except ValidationError as err:
            message = f"spec is invalid: {_first_error(err)}"
            await self._event(body, "Warning", "InvalidSpec", message, memory)
            updates = [
                ConditionUpdate(DEGRADED, "True", "InvalidSpec", message),
                ConditionUpdate(READY, "False", "InvalidSpec", message),
            ]
            merged = merge_conditions(conditions, updates, now, generation)
            await self._client.patch_status(
                namespace, name, {"conditions": merged, "observedGeneration": generation}
            )
            return

        owner = Owner(name=name, namespace=namespace, uid=meta["uid"], spec=spec)
        problems = await self._spec_problems(owner)
        for problem in problems:
            await self._event(body, "Warning", problem.reason, problem.message, memory)

        pod_monitor = await self._supports_pod_monitors()
        for child in build_children(owner, pod_monitor=pod_monitor):
            await self._apply_child(body, child, memory)

        deployment = await self._client.get("Deployment", namespace, name)
        current = _spec_replicas(deployment)
        pods = await self._client.list("Pod", namespace, selector_string(name))
        decision = await self._autoscaler.decide(owner, body, deployment, pods)
        target = choose_replicas(
            spec,
            ReplicaTarget(
                deployment_replicas=current,
                applied_by_us=memory.applied_replicas,
                autoscaler_desired=decision.desired if decision else None,
            ),
        )
        for kind, reason, message in target.events:
            if reason == "ExternalScaleIgnored" and memory.reported_external == spec.replicas:
                continue
            if reason == "ExternalScaleIgnored":
                memory.reported_external = spec.replicas
            await self._event(body, kind, reason, message, memory)
        if target.replicas != current:
            await self._client.apply(
                build_replicas_patch(owner, target.replicas), REPLICAS_FIELD_MANAGER
            )
            if decision is not None and decision.scaled_message:
                memory.last_events.pop(decision.event_reason, None)
                await self._event(
                    body, "Normal", decision.event_reason, decision.scaled_message, memory
                )
            elif current is not None:
                await self._event(
                    body,
                    "Normal",
                    "Scaled",
                    f"Scaled from {current} to {target.replicas}: {target.why}",
                    memory,
                )
            deployment = await self._client.get("Deployment", namespace, name)
        memory.applied_replicas = target.replicas
        if decision is not None and decision.recommendation_message:
            await self._event(
                body, "Normal", "Recommendation", decision.recommendation_message, memory
            )

        health = assess(
            deployment, pods, target.replicas, spec.resources.gpu_resource_name, problems
        )
        updates = list(health.conditions)
        updates.append(self._autoscaler.condition(owner, decision))
        merged = merge_conditions(conditions, updates, now, generation)
        await self._announce_transitions(body, conditions, merged, memory)
        new_status: dict[str, Any] = {
            "observedGeneration": generation,
            "replicas": health.replicas,
            "readyReplicas": health.ready_replicas,
            "updatedReplicas": health.updated_replicas,
            "selector": selector_string(name),
            "conditions": merged,
            "autoscaling": self._autoscaler.status(owner, decision, target.replicas, now),
        }
        await self._client.patch_status(namespace, name, new_status)
        telemetry.record_pass(
            namespace,
            name,
            desired=target.replicas,
            ready=health.ready_replicas,
            max_replicas=spec.scaling.max_replicas,
            slo_ttft_seconds=spec.scaling.slo.ttft_p95_milliseconds / 1000,
            conditions=merged,
        )

    async def _announce_transitions(
        self,
        body: dict[str, Any],
        before: list[dict[str, Any]],
        after: list[dict[str, Any]],
        memory: _Memory,
    ) -> None:
        """An Event when Ready, Degraded, Progressing or ScalingActive changes reason.

        So `kubectl describe` tells the story, including why the autoscaler stopped acting
        (Prometheus down, metrics missing): a hold is a decision too.
        """
        for kind in (READY, DEGRADED, PROGRESSING, SCALING_ACTIVE):
            old, new = find(before, kind), find(after, kind)
            if new is None or (old is not None and old.get("reason") == new.get("reason")):
                continue
            if kind == DEGRADED and new["status"] == "True":
                await self._event(body, "Warning", new["reason"], new["message"], memory)
            elif kind == READY and new["status"] == "True":
                await self._event(body, "Normal", "Ready", new["message"], memory)
            elif kind == PROGRESSING and new["status"] == "True":
                await self._event(body, "Normal", new["reason"], new["message"], memory)
            elif kind == SCALING_ACTIVE and new["reason"] == "MetricsUnavailable":
                await self._event(body, "Warning", new["reason"], new["message"], memory)
            elif (
                kind == SCALING_ACTIVE
                and old is not None
                and old.get("reason") == ("MetricsUnavailable")
            ):
                await self._event(
                    body, "Normal", "MetricsAvailable", f"scaling again: {new['message']}", memory
                )


def _spec_replicas(deployment: dict[str, Any] | None) -> int | None:
    if deployment is None:
        return None
    replicas = deployment.get("spec", {}).get("replicas")
    return int(replicas) if replicas is not None else None


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    location = ".".join(str(p) for p in first["loc"])
    return f"spec.{location}: {first['msg']}" if location else first["msg"]


__all__ = ["SCALING_ACTIVE", "Reconciler", "identity"]
