"""The level-based control loop behind every kopf handler.

kopf tells us *that* something happened (an LLMDeployment changed, a child was edited or
deleted, a timer fired); this module decides nothing from *what* happened. It reads the
world (from the watches' :class:`~forescale.handlers.fleet_view.FleetView`, the API server
only for what no watch holds) and converges it: desired children from the pure
builders, applied with server-side apply; status and conditions from the pure
assessment; replica count from the autoscaler.
Because every trigger leads to the same full reconciliation, a missed event, a restart in
the middle of a rollout or a hand edit all end in the same place.

Triggers for one object are coalesced: while a pass waits for its turn, further triggers
change nothing (it has not read anything yet); while it runs, they mark it dirty, so a burst
of child events costs one extra pass, not one pass each.

Passes in flight are bounded (``PASSES_PER_THREAD`` times the API client's threads), and
wait their turn in the order they were asked for. Unbounded, the 1,000 passes a fleet's
creation asks for interleaved their API calls on the client's threads, and every one of
them finished late together; bounded, they finish one by one from the start. A child
applied before and unchanged since (:mod:`forescale.handlers.applied_children`) is not
applied again, and the LLMDeployment, its Deployment and its pods are read from the
watches, so a pass a Deployment's status triggers costs one status write, if anything.

Safety rules a shared cluster needs, each enforced here:
- *own only what we created*: before applying, every child that already exists must carry
  our ownerReference, else the pass stops with ``Degraded=True NameConflict`` and nothing
  is touched; the pod template is ours as a whole (fields others inject are removed);
- *one exception boundary*: whatever a pass raises ends as a condition, an Event, a
  metric and an exponential backoff, never a dead task;
- *one actor*: with leader election, a replica that does not hold the Lease reconciles
  nothing (and the client's write fence refuses writes in flight);
- status is written through the typed model, and only when it changed.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from forescale.api import identity
from forescale.api.names import name_problem
from forescale.api.spec import LLMDeploymentSpec
from forescale.api.status import (
    DEGRADED,
    PROGRESSING,
    READY,
    SCALING_ACTIVE,
    Condition,
    LLMDeploymentStatus,
)
from forescale.assessment.conditions import (
    ConditionUpdate,
    find,
    initial_conditions,
    merge_conditions,
)
from forescale.assessment.ownership import (
    conflict_message,
    foreign_template_fields,
    owned_by,
    replicas_writer,
)
from forescale.assessment.pod_template_changes import (
    describe_pod_template_changes,
    pod_template_changes,
)
from forescale.assessment.replica_target import ReplicaTarget, choose_replicas
from forescale.assessment.spec_problems import references_of
from forescale.assessment.workload_health import SpecProblem, assess
from forescale.handlers import telemetry
from forescale.handlers.api_client import API_THREADS, ApiError, ClusterClient, NotLeaderError
from forescale.handlers.applied_children import Applied, WatchedChildren, record
from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.fleet_view import FleetView
from forescale.resources.children import build_children
from forescale.resources.deployment import REPLICAS_FIELD_MANAGER, build_replicas_patch
from forescale.resources.labels import selector_string
from forescale.resources.owner import Owner

logger = logging.getLogger("forescale.reconciler")

Key = tuple[str, str]

OUR_MANAGERS = {identity.FIELD_MANAGER, REPLICAS_FIELD_MANAGER}
HOLD_RECOVERY = {"MetricsUnavailable": "MetricsAvailable", "PolicyFailed": "PolicyRecovered"}
"""ScalingActive reasons of a hold the autoscaler did not choose (a Warning when it begins)
and the Normal Event that says it ended."""
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
COALESCE_SECONDS = 1.0
"""How long a pass waits before taking its turn, so a burst of events coalesces into it:
the controller manager writes a new Deployment's status several times within a second,
and applying four children sends four ADDED events back. Measured at 300 LLMDeployments
without the wait: 5 passes each to converge."""
PASSES_PER_THREAD = 2
"""Passes in flight per API thread: enough to keep every thread busy while a pass
computes between calls, few enough that each one finishes soon after it starts."""


def utc_now() -> str:
    """RFC 3339 UTC timestamp, second precision (as Kubernetes writes them)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StopPass(Exception):  # noqa: N818 - a control-flow signal, not an error
    """End this pass with a Degraded condition and a Warning (the spec cannot converge)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class _Memory:
    """What the operator remembers about one LLMDeployment between passes."""

    running: bool = False
    """A pass is queued or running."""
    started: bool = False
    """The pass has its turn and reads the world: a trigger now needs another pass."""
    dirty: bool = False
    last_events: dict[str, str] = field(default_factory=dict)
    applied_replicas: int | None = None
    reported_external: int | None = None
    handed_over_at: int | None = None
    """The spec generation at which an external scaler was given the replica count."""
    failures: int = 0
    retry_at: float = 0.0
    seen_generation: Any = None
    applied: dict[str, Applied] = field(default_factory=dict)
    """kind -> our last apply of that child (see applied_children)."""


class Reconciler:
    """Converges LLMDeployments; one instance per operator process."""

    def __init__(
        self,
        client: ClusterClient,
        autoscaler: Autoscaler,
        clock: Callable[[], str] = utc_now,
        is_leader: Callable[[], bool] = lambda: True,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        passes_in_flight: int = PASSES_PER_THREAD * API_THREADS,
        coalesce_seconds: float = COALESCE_SECONDS,
        view: FleetView | None = None,
    ) -> None:
        self._client = client
        self._autoscaler = autoscaler
        self._clock = clock
        self._is_leader = is_leader
        self._monotonic = monotonic
        self._memory: dict[Key, _Memory] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pod_monitors: bool | None = None
        self._turns = asyncio.Semaphore(passes_in_flight)
        self._coalesce = coalesce_seconds
        self.children = WatchedChildren()
        """Children's write histories from watch events (fed by ``handlers/triggers.py``)."""
        self.view = view if view is not None else FleetView()
        """What the watches hold; an object it lacks is read from the API server."""
        self.in_flight = 0
        self.most_in_flight = 0

    def trigger(self, namespace: str, name: str) -> None:
        """Ask for a reconciliation of ``namespace/name`` soon (coalesced).

        A replica that is not the leader only remembers the key, so it can start at once
        when it becomes the leader (:meth:`trigger_all`).
        """
        memory = self._memory.setdefault((namespace, name), _Memory())
        if not self._is_leader():
            return
        if memory.running:
            memory.dirty = memory.dirty or memory.started
            return
        memory.running = True
        task = asyncio.get_running_loop().create_task(self._run((namespace, name), memory))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def new_generation(self, namespace: str, name: str, generation: Any) -> bool:
        """Whether ``generation`` is one this process has not seen for the object yet."""
        memory = self._memory.setdefault((namespace, name), _Memory())
        if memory.seen_generation == generation and generation is not None:
            return False
        memory.seen_generation = generation
        return True

    def trigger_all(self) -> None:
        """A pass for every known LLMDeployment not waiting out a failure backoff."""
        now = self._monotonic()
        for key, memory in list(self._memory.items()):
            if memory.retry_at <= now:
                self.trigger(*key)

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
        """The one exception boundary: no error ends as a dead task or a lost retry."""
        try:
            while True:
                if self._coalesce > 0:
                    await asyncio.sleep(self._coalesce)
                async with self._turns:
                    memory.started, memory.dirty = True, False
                    self.in_flight += 1
                    self.most_in_flight = max(self.most_in_flight, self.in_flight)
                    try:
                        await self.reconcile(*key)
                        memory.failures, memory.retry_at = 0, 0.0
                    except NotLeaderError as err:  # the Lease lost, or the operator stopping
                        logger.info("%s/%s: pass ended: %s", *key, err)
                        return
                    except asyncio.CancelledError:
                        raise
                    except Exception as err:
                        await self._failed(key, memory, err)
                        return
                    finally:
                        memory.started = False
                        self.in_flight -= 1
                if not memory.dirty:
                    break
        finally:
            memory.running = False

    async def _failed(self, key: Key, memory: _Memory, err: Exception) -> None:
        """Count, log, back off exponentially, and tell the user on the object itself."""
        memory.failures += 1
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (memory.failures - 1))
        memory.retry_at = self._monotonic() + delay
        telemetry.RECONCILE_ERRORS.inc()
        transient = isinstance(err, (ApiError, OSError, TimeoutError))
        log = logger.warning if transient else logger.exception
        log("reconcile %s/%s failed (retry in %.0f s): %s", key[0], key[1], delay, err)
        # A refusal by admission control is no blip (a policy stays until someone lifts
        # it), and it is the cluster's to fix, not the spec's: said at once, by its name.
        refused = err if isinstance(err, ApiError) and err.refused_by_admission else None
        if transient and refused is None and memory.failures < 3:
            return  # a blip: say nothing unless it persists
        if refused is not None:
            message = (
                f"admission control refused a child {memory.failures} time(s), retrying in "
                f"{delay:.0f} s (the spec need not change; the cluster's policy, webhook or "
                f"quota must allow it): {refused.api_message}"
            )[:800]
        else:
            message = (
                f"reconciliation failed {memory.failures} time(s), retrying in {delay:.0f} s: "
                f"{type(err).__name__}: {err}"
            )[:800]
        update = ConditionUpdate(
            DEGRADED, "True", "ReconcileError" if refused is None else "ChildRejected", message
        )
        try:
            body = await self._client.get_llmdeployment(*key)
            if body is None:
                return
            await self._event(body, "Warning", update.reason, message, memory)
            conditions = (body.get("status") or {}).get("conditions") or []
            generation = body["metadata"].get("generation")
            merged = merge_conditions(
                conditions,
                [update],
                self._clock(),
                generation,
            )
            await self._client.patch_status(key[0], key[1], {"conditions": merged})
        except Exception as report_err:
            logger.warning("could not report the failure of %s/%s: %s", *key, report_err)

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
        """Missing PVCs and GPU products. Secrets are not read (no Secret permission):
        a missing one shows as the pods' CreateContainerConfigError (workload_health)."""
        problems = []
        for ref in references_of(owner.spec):
            if ref.kind == "Node":
                try:
                    found = await self._client.nodes_with_label(ref.label, ref.name)
                except ApiError as err:
                    if err.status != 403:
                        raise
                    # Namespaced mode without the optional node reader: skip the check.
                    logger.info("cannot list nodes (%s): GPU product check skipped", err.status)
                    continue
                if found == 0:
                    problems.append(SpecProblem(ref.reason, ref.message))
            elif ref.kind == "Secret":
                continue
            elif not await self._client.exists(ref.kind, owner.namespace, ref.name):
                problems.append(SpecProblem(ref.reason, ref.message))
        return problems

    async def _check_ownership(
        self, owner: Owner, children: list[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Before any apply: an existing child that is not ours stops the pass untouched.

        Only the children about to be applied are read: a skipped one was ours when we
        last applied it and nobody has written to it since. Returns the live children by
        kind, as they were before this pass applied anything."""
        lives: dict[str, dict[str, Any]] = {}
        for child in children:
            live = await self._client.get(child["kind"], owner.namespace, child["metadata"]["name"])
            if live is not None and not owned_by(live, owner.uid):
                live.setdefault("kind", child["kind"])
                raise StopPass("NameConflict", conflict_message(live, owner.name))
            if live is not None:
                lives[child["kind"]] = live
        return lives

    async def _apply_child(
        self, body: dict[str, Any], child: dict[str, Any], memory: _Memory
    ) -> dict[str, Any] | None:
        """Apply one child; a child the API server refuses stops the pass as InvalidSpec.

        A refusal by admission control (a policy, a webhook, a quota) is raised instead:
        the spec is not at fault and the next try may pass (``_failed`` retries it)."""
        kind, name = child["kind"], child["metadata"]["name"]
        try:
            applied: dict[str, Any] | None = await self._client.apply(child)
            return applied
        except ApiError as err:
            if err.status not in (400, 422) or err.refused_by_admission:
                raise
            first = err
        # 422 on an object we own may be a hand edit apply cannot merge (two ports named
        # http): replace its lists once. If the API server still refuses, the spec is bad.
        try:
            await self._client.merge_patch(child)
            repaired: dict[str, Any] | None = await self._client.apply(child)
        except ApiError as err:
            if err.status not in (400, 404, 422) or err.refused_by_admission:
                raise
            message = err.api_message if err.status != 404 else first.api_message
            raise StopPass(
                "InvalidSpec",
                f"the API server refused {kind} {name} built from this spec: {message}",
            ) from err
        await self._event(
            body,
            "Warning",
            "DriftRepaired",
            f"{kind} {name} was edited into a state apply cannot merge; its spec was replaced",
            memory,
        )
        return repaired

    async def _own_pod_template(
        self, body: dict[str, Any], live: dict[str, Any], desired: dict[str, Any], memory: _Memory
    ) -> dict[str, Any]:
        """Remove what others put into the pod template (sidecars, privileges, host access).

        Returns the Deployment as the API server last answered."""
        foreign = foreign_template_fields(live, OUR_MANAGERS)
        if not foreign:
            memory.applied["Deployment"] = record(desired, live)
            return live
        await self._client.replace_pod_template(live, desired["spec"]["template"])
        restored: dict[str, Any] | None = await self._client.apply(desired)
        shown = ", ".join(foreign[:8]) + (
            f" (+{len(foreign) - 8} more)" if len(foreign) > 8 else ""
        )
        await self._event(
            body,
            "Warning",
            "PodTemplateRestored",
            f"Deployment {live['metadata']['name']}: removed fields forescale does not set "
            f"from the pod template: {shown}. Change the LLMDeployment instead.",
            memory,
        )
        return restored if restored is not None else live

    async def reconcile(self, namespace: str, name: str) -> None:
        """One full pass for one LLMDeployment."""
        watched = self.view.body((namespace, name))
        body = watched or await self._client.get_llmdeployment(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.forget(namespace, name)
            return
        memory = self._memory.setdefault((namespace, name), _Memory())
        meta = body["metadata"]
        generation = meta.get("generation")
        now = self._clock()
        status = body.get("status") or {}
        conditions = status.get("conditions") or initial_conditions(now, generation)

        try:
            spec = LLMDeploymentSpec.model_validate(body.get("spec") or {})
        except (ValidationError, ValueError) as err:
            detail = _first_error(err) if isinstance(err, ValidationError) else str(err)
            await self._stop(
                body, conditions, StopPass("InvalidSpec", f"spec is invalid: {detail}"), memory
            )
            return

        bad_name = name_problem(name)
        if bad_name is not None:
            await self._stop(body, conditions, StopPass("InvalidSpec", bad_name), memory)
            return
        owner = Owner(name=name, namespace=namespace, uid=meta["uid"], spec=spec)
        try:
            deployment, pods, problems = await self._converge_children(
                body, owner, memory, watched=watched is not None
            )
        except StopPass as stop:
            await self._stop(body, conditions, stop, memory)
            return
        for problem in problems:
            await self._event(body, "Warning", problem.reason, problem.message, memory)

        current = _spec_replicas(deployment)
        writer = replicas_writer(deployment or {})
        external = None
        if writer is not None and writer[0] not in OUR_MANAGERS and current is not None:
            if memory.handed_over_at is None:
                memory.handed_over_at = generation
            if memory.handed_over_at == generation:
                external = writer[0] or "another writer"
        if external is None:
            memory.handed_over_at = None
        decision = await self._autoscaler.decide(owner, body, deployment, pods)
        if decision is not None and decision.state_reset:
            await self._event(body, "Warning", "PolicyStateReset", decision.state_reset, memory)
        target = choose_replicas(
            spec,
            ReplicaTarget(
                deployment_replicas=current,
                applied_by_us=memory.applied_replicas,
                autoscaler_desired=decision.desired if decision else None,
                external_writer=external,
            ),
        )
        for kind, reason, message in target.events:
            if reason == "ExternalScaleIgnored" and memory.reported_external == spec.replicas:
                continue
            if reason == "ExternalScaleIgnored":
                memory.reported_external = spec.replicas
            if reason == "ExternalScaler" and "ExternalScaler" in memory.last_events:
                continue  # once per hand-over, not once per count the other scaler picks
            await self._event(body, kind, reason, message, memory)
        if external is None:
            memory.last_events.pop("ExternalScaler", None)
        if target.replicas != current and external is None:
            scaled: dict[str, Any] | None = await self._client.apply(
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
            if scaled is not None and "metadata" in scaled:
                deployment = scaled
                self.view.deployment_written((namespace, name), scaled)
            else:
                deployment = await self._client.get("Deployment", namespace, name)
        memory.applied_replicas = target.replicas
        if decision is not None and decision.recommendation_message and external is None:
            await self._event(
                body, "Normal", "Recommendation", decision.recommendation_message, memory
            )

        health = assess(
            deployment, pods, target.replicas, spec.resources.gpu_resource_name, problems
        )
        updates = list(health.conditions)
        if external is not None:
            updates.append(
                ConditionUpdate(
                    SCALING_ACTIVE,
                    "False",
                    "ExternalScaler",
                    f"{external} writes the Deployment's replicas ({current}); forescale "
                    "does not scale until the LLMDeployment's spec changes",
                )
            )
        else:
            updates.append(self._autoscaler.condition(owner, decision))
        merged = merge_conditions(conditions, updates, now, generation)
        await self._announce_transitions(body, conditions, merged, memory)
        new_status = LLMDeploymentStatus(
            observed_generation=generation,
            replicas=health.replicas,
            ready_replicas=health.ready_replicas,
            updated_replicas=health.updated_replicas,
            selector=selector_string(name),
            conditions=[Condition.model_validate(c) for c in merged],
            autoscaling=self._autoscaler.status(owner, decision, target.replicas, now),
        )
        await self._write_status(body, new_status)
        telemetry.record_pass(
            namespace,
            name,
            desired=target.replicas,
            ready=health.ready_replicas,
            max_replicas=spec.scaling.max_replicas,
            slo_ttft_seconds=spec.scaling.slo.ttft_p95_milliseconds / 1000,
            conditions=merged,
        )

    async def _converge_children(
        self, body: dict[str, Any], owner: Owner, memory: _Memory, *, watched: bool
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[SpecProblem]]:
        """Check ownership, apply every child, own the pod template; read Deployment + pods.

        The Deployment is the apply's answer when this pass applied it, else the watched
        copy; pods are the watched ones (``watched``: the watches feed this object; if not,
        both are read from the API server)."""
        problems = await self._spec_problems(owner)
        children = build_children(owner, pod_monitor=await self._supports_pod_monitors())
        changed = [
            c for c in children if not self.children.unchanged(c, memory.applied.get(c["kind"]))
        ]
        lives = await self._check_ownership(owner, changed)
        key = (owner.namespace, owner.name)
        deployment: dict[str, Any] | None = None
        for child in changed:
            memory.applied.pop(child["kind"], None)
            applied = await self._apply_child(body, child, memory)
            if child["kind"] == "Deployment" and applied is not None:
                await self._announce_template_change(body, lives.get("Deployment"), applied, memory)
                deployment = await self._own_pod_template(body, applied, child, memory)
                self.view.deployment_written(key, deployment)
            elif applied is not None:
                memory.applied[child["kind"]] = record(child, applied)
        if watched:
            deployment = deployment or self.view.deployment(key)
            pods = self.view.pods(key)
        else:
            pods = await self._client.list("Pod", owner.namespace, selector_string(owner.name))
        if deployment is None:
            deployment = await self._client.get("Deployment", owner.namespace, owner.name)
        return deployment, pods, problems

    async def _announce_template_change(
        self,
        body: dict[str, Any],
        before: dict[str, Any] | None,
        applied: dict[str, Any],
        memory: _Memory,
    ) -> None:
        """A PodTemplateChanged Event when this apply starts a rollout, naming what changed.

        Compared with the apply's answer, not with the template after foreign fields are
        removed: that removal has its own Warning (PodTemplateRestored)."""
        if before is None:
            return
        changes = pod_template_changes(
            before.get("spec", {}).get("template") or {},
            applied.get("spec", {}).get("template") or {},
        )
        if not changes:
            return
        generation = body["metadata"].get("generation")
        if (body.get("status") or {}).get("observedGeneration") == generation:
            cause = (
                f"though the spec did not change (generation {generation} already observed: "
                "an operator setting, an operator upgrade or an edit of the Deployment did)"
            )
        else:
            cause = f"for generation {generation} of the spec"
        # The cause first: an Event message is cut at 1 KiB, and a long list of changes
        # must not push out why they happen.
        await self._event(
            body,
            "Normal",
            "PodTemplateChanged",
            f"Rolling out a new pod template to Deployment {applied['metadata']['name']} "
            f"{cause}: {describe_pod_template_changes(changes)}",
            memory,
        )

    async def _stop(
        self,
        body: dict[str, Any],
        conditions: list[dict[str, Any]],
        stop: StopPass,
        memory: _Memory,
    ) -> None:
        """Degraded and not Ready with the reason, one Warning; children stay as they are."""
        meta = body["metadata"]
        generation = meta.get("generation")
        await self._event(body, "Warning", stop.reason, stop.message, memory)
        updates = [
            ConditionUpdate(DEGRADED, "True", stop.reason, stop.message),
            ConditionUpdate(READY, "False", stop.reason, stop.message),
        ]
        merged = merge_conditions(conditions, updates, self._clock(), generation)
        status = LLMDeploymentStatus(
            observed_generation=generation,
            conditions=[Condition.model_validate(c) for c in merged],
        )
        await self._write_status(body, status)

    async def _write_status(self, body: dict[str, Any], status: LLMDeploymentStatus) -> None:
        """Merge-patch the fields of ``status`` that differ from what the object has."""
        new = status.model_dump(by_alias=True, exclude_none=True, mode="json")
        old = body.get("status") or {}
        changed = {k: v for k, v in new.items() if old.get(k) != v}
        if not changed:
            return
        meta = body["metadata"]
        written = await self._client.patch_status(meta["namespace"], meta["name"], changed)
        self.view.llmdeployment_written(written)

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
            elif kind == SCALING_ACTIVE and new["reason"] in HOLD_RECOVERY:
                await self._event(body, "Warning", new["reason"], new["message"], memory)
            elif kind == SCALING_ACTIVE and old is not None and old.get("reason") in HOLD_RECOVERY:
                recovered = HOLD_RECOVERY[old["reason"]]
                await self._event(
                    body, "Normal", recovered, f"scaling again: {new['message']}", memory
                )


def _spec_replicas(deployment: dict[str, Any] | None) -> int | None:
    if deployment is None:
        return None
    replicas = deployment.get("spec", {}).get("replicas")
    return int(replicas) if replicas is not None else None


def _first_error(err: ValidationError) -> str:
    """The first pydantic error as ``spec.path: message``."""
    first = err.errors()[0]
    location = ".".join(str(p) for p in first["loc"])
    return f"spec.{location}: {first['msg']}" if location else first["msg"]


__all__ = ["SCALING_ACTIVE", "Reconciler", "identity"]
