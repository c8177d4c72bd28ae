"""kopf handlers: each only says *which* LLMDeployment to reconcile, never *how*.

Changes to an LLMDeployment, to any child it owns (a hand edit, a deletion, a Deployment's
status moving as pods become Ready) and a periodic timer all end in the same level-based
reconciliation (:mod:`forescale.handlers.reconciler`). Handlers return nothing, so kopf
writes no handler results into status.
"""

from __future__ import annotations

from typing import Any

import kopf

from forescale.api import identity
from forescale.handlers import telemetry
from forescale.handlers.configuring import reconcile_interval
from forescale.handlers.reconciler import Reconciler

_MANAGED = {identity.LABEL_MANAGED_BY: "forescale"}


def _reconciler(memo: Any) -> Reconciler:
    reconciler = memo["reconciler"]
    assert isinstance(reconciler, Reconciler)
    return reconciler


@kopf.on.resume(identity.GROUP, identity.VERSION, identity.PLURAL)
@kopf.on.create(identity.GROUP, identity.VERSION, identity.PLURAL)
@kopf.on.update(identity.GROUP, identity.VERSION, identity.PLURAL, field="spec")
async def llmdeployment_changed(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    """The spec changed (or the operator started): converge now."""
    _reconciler(memo).trigger(namespace or "", name)


@kopf.timer(identity.GROUP, identity.VERSION, identity.PLURAL, interval=reconcile_interval())
async def llmdeployment_tick(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    """Periodic pass: repairs drift kopf did not hear about, refreshes status, autoscales."""
    _reconciler(memo).trigger(namespace or "", name)


@kopf.on.event(identity.GROUP, identity.VERSION, identity.PLURAL)
async def llmdeployment_event(
    type: str, namespace: str | None, name: str, memo: Any, **_: Any
) -> None:
    """On deletion, forget it; owner references let the garbage collector remove children.

    Nothing needs doing *before* deletion, so there is no deletion handler. (kopf still
    adds its finalizer because of the timer, and removes it when the object is deleted.)
    """
    if type == "DELETED":
        _reconciler(memo).forget(namespace or "", name)
        telemetry.forget(namespace or "", name)


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
