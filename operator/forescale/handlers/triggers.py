"""kopf handlers: each only says *which* LLMDeployment to reconcile, never *how*.

Changes to an LLMDeployment and to any child it owns (a hand edit, a deletion, a
Deployment's status moving as pods become Ready) end in the same level-based
reconciliation (:mod:`forescale.handlers.reconciler`); so does the autoscaler tick when a
decision changes something (:mod:`forescale.handlers.ticking`). There is no timer per
object. The events also feed the tick's :class:`~forescale.handlers.fleet_view.FleetView`,
so the tick never re-reads the world.

Only ``on.event`` handlers, on purpose: kopf's create/update/resume handlers write
bookkeeping annotations and its timers add a finalizer to every object. Both are writes
that every replica would make (leader election or not), and a finalizer only a running
operator can remove makes deletion hang when the operator is down or the object cannot be
patched. Without them kopf only watches; every write is the reconciler's, behind the
leader fence.

Every child event also records the child's write history for the reconciler
(:mod:`forescale.handlers.applied_children`): a child nobody wrote to since our last apply
is not applied again.

Sharding: only LLMDeployments of this operator's shard (``configuring.in_shard``) are
served, and a child or pod event counts only when its owner is one of them.
"""

from __future__ import annotations

from typing import Any

import kopf

from forescale.api import identity
from forescale.handlers import telemetry
from forescale.handlers.applied_children import write_history
from forescale.handlers.configuring import in_shard
from forescale.handlers.fleet_view import FleetView
from forescale.handlers.reconciler import Reconciler

_MANAGED = {identity.LABEL_MANAGED_BY: "forescale"}


def _reconciler(memo: Any) -> Reconciler:
    reconciler = memo["reconciler"]
    assert isinstance(reconciler, Reconciler)
    return reconciler


def _view(memo: Any) -> FleetView:
    view = memo["view"]
    assert isinstance(view, FleetView)
    return view


@kopf.on.event(identity.GROUP, identity.VERSION, identity.PLURAL)
async def llmdeployment_event(  # noqa: PLR0917 - kopf passes these by keyword
    type: str | None,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    labels: kopf.Labels,
    memo: Any,
    **_: Any,
) -> None:
    """Keep the tick's view current; converge on a new generation; on deletion (or leaving
    the shard), forget it.

    Owner references let the garbage collector remove children, and nothing needs doing
    *before* deletion, so there is no deletion handler (and, without timers, no finalizer).
    """
    if type == "DELETED" or not in_shard(labels):
        _view(memo).llmdeployment_gone(namespace or "", name)
        _reconciler(memo).forget(namespace or "", name)
        telemetry.forget(namespace or "", name)
        return
    _view(memo).llmdeployment_seen(dict(body))
    reconciler = _reconciler(memo)
    if reconciler.new_generation(
        namespace or "", name, (body.get("metadata") or {}).get("generation")
    ):
        # Created, its spec changed, or seen for the first time by this process (a restart,
        # or relabelled into this shard): converge now. Status-only changes (our own
        # writes) do not trigger.
        reconciler.trigger(namespace or "", name)


def _owner_name(owner_references: Any) -> str | None:
    for ref in owner_references or []:
        if ref.get("kind") == identity.KIND and ref.get("apiVersion") == identity.API_VERSION:
            return str(ref.get("name"))
    return None


@kopf.on.event("apps", "v1", "deployments", labels=_MANAGED)
async def deployment_changed(
    type: str | None, body: kopf.Body, namespace: str | None, memo: Any, **_: Any
) -> None:
    """The owner's Deployment moved: record it; reconcile the owner if it is news to it.

    Recorded even before the owner is known (watches start in no particular order), so
    the tick knows every Deployment's replica count without asking the API server. Only
    a change to what the owner's pass reads triggers one (``deployment_signature``): the
    controller manager writes a new Deployment's status four or five times on its way to
    Ready, and only some of those writes move a count the owner reports.
    """
    live = None if type == "DELETED" else dict(body)
    history = write_history(live) if live is not None else None  # once for both records
    _child_seen(memo, "Deployment", type, body, history)
    owner = _owner_name((body.get("metadata") or {}).get("ownerReferences"))
    if owner is None or not namespace:
        return
    view = _view(memo)
    news = view.deployment_seen(namespace, owner, live, history)
    if news and view.body((namespace, owner)) is not None:
        _reconciler(memo).trigger(namespace, owner)


@kopf.on.event("", "v1", "services", labels=_MANAGED)
async def service_changed(
    type: str | None, body: kopf.Body, namespace: str | None, meta: kopf.Meta, memo: Any, **_: Any
) -> None:
    """The Service moved (hand edit, deletion): reconcile its owner, if it is ours."""
    _child_seen(memo, "Service", type, body)
    owner = _our_owner(namespace, meta, memo)
    if owner is not None:
        _reconciler(memo).trigger(*owner)


@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=_MANAGED)
async def budget_changed(
    type: str | None, body: kopf.Body, namespace: str | None, meta: kopf.Meta, memo: Any, **_: Any
) -> None:
    """The PDB's spec moved or it was deleted: reconcile its owner, if it is ours.

    A PDB's status changes every time one of the owner's pods turns Ready or not; that is
    no news to the owner (its Deployment's status says the same), so a modification that
    leaves ``metadata.generation`` (bumped only by spec changes) alone triggers nothing.
    """
    _child_seen(memo, "PodDisruptionBudget", type, body)
    owner = _our_owner(namespace, meta, memo)
    if owner is None:
        return
    seen: dict[tuple[str, str], Any] = memo.setdefault("budget_generations", {})
    key = (namespace or "", str(meta.get("name")))
    generation = meta.get("generation")
    if type == "DELETED":
        seen.pop(key, None)
    elif type == "MODIFIED" and seen.get(key) == generation:
        return
    else:
        seen[key] = generation
    _reconciler(memo).trigger(*owner)


@kopf.on.event("monitoring.coreos.com", "v1", "podmonitors", labels=_MANAGED)
async def pod_monitor_changed(
    type: str | None, body: kopf.Body, namespace: str | None, meta: kopf.Meta, memo: Any, **_: Any
) -> None:
    """The PodMonitor moved (hand edit, deletion): reconcile its owner, if it is ours.

    Served only where prometheus-operator's API is (kopf skips a resource the cluster
    does not serve, with a warning at start). Without this watch every pass applied the
    PodMonitor again, two requests a pass, since no watched copy said it was unchanged.
    """
    _child_seen(memo, "PodMonitor", type, body)
    owner = _our_owner(namespace, meta, memo)
    if owner is not None:
        _reconciler(memo).trigger(*owner)


def _child_seen(
    memo: Any, kind: str, type: str | None, body: kopf.Body, history: bytes | None = None
) -> None:
    meta = body.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name")
    if namespace and name:
        seen = None if type == "DELETED" else dict(body)
        _reconciler(memo).children.seen(kind, str(namespace), str(name), seen, history)


def _our_owner(namespace: str | None, meta: Any, memo: Any) -> tuple[str, str] | None:
    """The owning LLMDeployment's key, if this operator serves it."""
    owner = _owner_name(meta.get("ownerReferences"))
    if owner is None or not namespace or _view(memo).body((namespace, owner)) is None:
        return None
    return namespace, owner


@kopf.on.event("", "v1", "pods", labels=_MANAGED)
async def pod_changed(
    type: str | None,
    body: kopf.Body,
    namespace: str | None,
    labels: kopf.Labels,
    memo: Any,
    **_: Any,
) -> None:
    """Keep the tick's view of an LLMDeployment's pods (ready times teach the cold start).

    Most pod changes reach the owner through its Deployment's status, so this mostly only
    records. A pod that gets stuck (a missing Secret, an image pull failure, no node fits)
    or unstuck, or starts running (its model loading), moves no Deployment status, so
    that triggers the owner's pass.
    """
    owner = labels.get(identity.LABEL_LLMDEPLOYMENT)
    if owner is None or not namespace:
        return
    view = _view(memo)
    if view.pod_seen(namespace, owner, dict(body), gone=type == "DELETED") and (
        view.body((namespace, owner)) is not None
    ):
        _reconciler(memo).trigger(namespace, owner)
