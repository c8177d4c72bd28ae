"""What the watches last said about every LLMDeployment, its Deployment and its pods.

The autoscaler tick decides for every LLMDeployment at once; re-reading each one's
objects from the API server every tick is exactly the per-object cost that made an idle
fleet of 100 use a fifth of a core. kopf already holds a watch on LLMDeployments,
Deployments and pods; its event handlers feed this view, so the tick reads memory and the
API server only hears from the operator when something changes.

Only what the tick needs is kept (the LLMDeployment whole, the Deployment's replica count,
each pod's name, times and conditions), so memory stays proportional to the fleet with a
small constant. The view is a cache, never the truth for writes: a reconciliation pass
still reads the objects it converges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.owner import Owner

Key = tuple[str, str]


def _slim(body: dict[str, Any]) -> dict[str, Any]:
    """The LLMDeployment without what the tick never reads (managed fields, annotations:
    kopf's last-handled-configuration alone repeats the whole spec)."""
    meta = body.get("metadata") or {}
    kept = ("name", "namespace", "uid", "generation", "labels")
    return {
        "metadata": {k: meta[k] for k in kept if k in meta},
        "spec": body.get("spec"),
        "status": body.get("status"),
    }


@dataclass
class _Entry:
    body: dict[str, Any]
    owner: Owner | None
    """None when the spec does not validate (the reconciler reports that)."""


@dataclass
class FleetView:
    """LLMDeployments, their Deployments' replica counts and their pods, from watch events."""

    _llmds: dict[Key, _Entry] = field(default_factory=dict)
    _replicas: dict[Key, int | None] = field(default_factory=dict)
    _pods: dict[Key, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _troubles: dict[Key, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def llmdeployment_seen(self, body: dict[str, Any]) -> None:
        """An LLMDeployment was added or changed (the spec is parsed once per generation)."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        previous = self._llmds.get(key)
        owner = previous.owner if previous is not None else None
        old_meta = previous.body["metadata"] if previous is not None else {}
        if (
            previous is None
            or old_meta.get("generation") != meta.get("generation")
            or old_meta.get("uid") != meta.get("uid")
        ):
            try:
                spec = LLMDeploymentSpec.model_validate(body.get("spec") or {})
                owner = Owner(name=key[1], namespace=key[0], uid=meta["uid"], spec=spec)
            except ValidationError:
                owner = None
        self._llmds[key] = _Entry(_slim(body), owner)

    def llmdeployment_gone(self, namespace: str, name: str) -> None:
        """An LLMDeployment was deleted: forget it and what it owned."""
        self._llmds.pop((namespace, name), None)
        self._replicas.pop((namespace, name), None)
        self._pods.pop((namespace, name), None)
        self._troubles.pop((namespace, name), None)

    def deployment_seen(self, namespace: str, owner: str, body: dict[str, Any] | None) -> None:
        """The owner's Deployment changed (None: it was deleted)."""
        if body is None:
            self._replicas.pop((namespace, owner), None)
            return
        replicas = (body.get("spec") or {}).get("replicas")
        self._replicas[(namespace, owner)] = int(replicas) if replicas is not None else None

    def pod_seen(self, namespace: str, owner: str, body: dict[str, Any], gone: bool) -> bool:
        """One of the owner's pods changed or was deleted.

        Returns True when the pod's trouble changed (a container waiting for a reason such
        as ``CreateContainerConfigError`` or ``ImagePullBackOff``, or the scheduler calling
        it unschedulable): the Deployment's status does not move for those, so only the pod
        tells the owner's ``Degraded`` condition that something is wrong, or no longer is.
        """
        name = body["metadata"]["name"]
        pods = self._pods.setdefault((namespace, owner), {})
        troubles = self._troubles.setdefault((namespace, owner), {})
        if gone:
            pods.pop(name, None)
            return troubles.pop(name, ()) != ()
        trouble = _trouble(body)
        changed = troubles.get(name, ()) != trouble
        troubles[name] = trouble
        meta = body["metadata"]
        pods[name] = {
            "metadata": {
                "name": name,
                "creationTimestamp": meta.get("creationTimestamp"),
                "deletionTimestamp": meta.get("deletionTimestamp"),
            },
            "status": {"conditions": list((body.get("status") or {}).get("conditions") or [])},
        }
        return changed

    def llmdeployments(self) -> list[Key]:
        """Every LLMDeployment seen, in a stable order."""
        return sorted(self._llmds)

    def body(self, key: Key) -> dict[str, Any] | None:
        """The LLMDeployment as last watched."""
        entry = self._llmds.get(key)
        return entry.body if entry is not None else None

    def owner(self, key: Key) -> Owner | None:
        """The parsed LLMDeployment (None if unknown or its spec does not validate)."""
        entry = self._llmds.get(key)
        return entry.owner if entry is not None else None

    def deployment(self, key: Key) -> dict[str, Any] | None:
        """A minimal Deployment (``spec.replicas``) as last watched, None if none seen."""
        if key not in self._replicas:
            return None
        return {"spec": {"replicas": self._replicas[key]}}

    def pods(self, key: Key) -> list[dict[str, Any]]:
        """The owner's pods as last watched (name, times, conditions)."""
        return list(self._pods.get(key, {}).values())

    def __len__(self) -> int:
        return len(self._llmds)


def _trouble(pod: dict[str, Any]) -> tuple[str, ...]:
    """The reasons a pod is stuck, as far as ``Degraded`` cares (empty: none)."""
    status = pod.get("status") or {}
    reasons = [
        str(((c.get("state") or {}).get("waiting") or {}).get("reason"))
        for c in status.get("containerStatuses") or []
        if ((c.get("state") or {}).get("waiting") or {}).get("reason")
        not in (None, "ContainerCreating", "PodInitializing")
    ]
    reasons += [
        "Unschedulable"
        for c in status.get("conditions") or []
        if c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
    ]
    return tuple(sorted(reasons))
