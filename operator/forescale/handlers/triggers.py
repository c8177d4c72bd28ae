"""kopf handlers: each only says *which* LLMDeployment to reconcile, never *how*.

Changes to an LLMDeployment, to any child it owns (a hand edit, a deletion, a Deployment's
status moving as pods become Ready) and the reconciler's own periodic pass all end in the
same level-based reconciliation (:mod:`forescale.handlers.reconciler`).

Only ``on.event`` handlers, on purpose: kopf's create/update/resume handlers write
bookkeeping annotations and its timers add a finalizer to every object. Both are writes
that every replica would make (leader election or not), and a finalizer only a running
operator can remove makes deletion hang when the operator is down or the object cannot be
patched. Without them kopf only watches; every write is the reconciler's, behind the
leader fence.
"""

from __future__ import annotations

from typing import Any

import kopf

from forescale.api import identity
from forescale.handlers.reconciler import Reconciler

_MANAGED = {identity.LABEL_MANAGED_BY: "forescale"}


def _reconciler(memo: Any) -> Reconciler:
    reconciler = memo["reconciler"]
    assert isinstance(reconciler, Reconciler)
    return reconciler


@kopf.on.event(identity.GROUP, identity.VERSION, identity.PLURAL)
async def llmdeployment_event(
    type: str | None, namespace: str | None, name: str, meta: kopf.Meta, memo: Any, **_: Any
) -> None:
    """Listed at start or its spec changed (a new generation): converge; deleted: forget.

    Status-only changes (our own writes) do not trigger: the periodic pass covers them.
    Owner references let the garbage collector remove the children, so deletion needs
    nothing from the operator and completes even while it is down.
    """
    reconciler = _reconciler(memo)
    if type == "DELETED":
        reconciler.forget(namespace or "", name)
    elif reconciler.new_generation(namespace or "", name, meta.get("generation")):
        reconciler.trigger(namespace or "", name)


def _owner_name(owner_references: Any) -> str | None:
    for ref in owner_references or []:
        if ref.get("kind") == identity.KIND and ref.get("apiVersion") == identity.API_VERSION:
            return str(ref.get("name"))
    return None


@kopf.on.event("apps", "v1", "deployments", labels=_MANAGED)
@kopf.on.event("", "v1", "services", labels=_MANAGED)
@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=_MANAGED)
async def child_changed(namespace: str | None, meta: kopf.Meta, memo: Any, **_: Any) -> None:
    """A child moved (status, hand edit, deletion): reconcile its owner."""
    owner = _owner_name(meta.get("ownerReferences"))
    if owner is not None and namespace:
        _reconciler(memo).trigger(namespace, owner)
