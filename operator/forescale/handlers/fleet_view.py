"""What the watches last said about every LLMDeployment, its Deployment and its pods.

The autoscaler tick decides for every LLMDeployment at once; re-reading each one's
objects from the API server every tick is exactly the per-object cost that made an idle
fleet of 100 use a fifth of a core. kopf already holds a watch on LLMDeployments,
Deployments and pods; its event handlers feed this view, so the tick reads memory and the
API server only hears from the operator when something changes.

The reconciliation passes read it too (controller-runtime's informer cache, for the same
reason): at 1,000 LLMDeployments a pass that re-read its LLMDeployment, Deployment and pods
cost three requests, and the ~3.4 passes a new one takes to converge made those reads
10,000 of the 22,600 requests the operator sent while a fleet was applied, on the API
server the ``kubectl apply`` waited on. A pass is only ever triggered by a watch event or
the tick, so what the view holds is at least as new as what triggered it.

Only what the passes and the tick read is kept (the LLMDeployment without managed fields;
the Deployment's metadata, replica count and status; each pod's name, times, phase,
conditions and waiting reasons), so memory stays proportional to the fleet with a small
constant.

Stale reads must not lose writes. The reconciler writes its answers through
(:meth:`FleetView.llmdeployment_written`, :meth:`FleetView.deployment_written`), and an
object is only ever replaced by one at least as new (``resourceVersion``, compared as the
etcd revision it is; a value that is not a number is taken as newer). Without that, a
status written and then read back stale would look unwritten, or a scale already applied
would be applied (and announced) again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from forescale.api.spec import LLMDeploymentSpec
from forescale.handlers.applied_children import write_history
from forescale.resources.owner import Owner

Key = tuple[str, str]


_LLMD_METADATA = (
    "name",
    "namespace",
    "uid",
    "generation",
    "labels",
    "resourceVersion",
    "deletionTimestamp",
)
_DEPLOYMENT_METADATA = (
    "name",
    "namespace",
    "uid",
    "generation",
    "resourceVersion",
    "deletionTimestamp",
    "ownerReferences",
)


def _slim(body: dict[str, Any]) -> dict[str, Any]:
    """The LLMDeployment without what nobody reads (managed fields, annotations: kopf's
    last-handled-configuration alone repeats the whole spec)."""
    meta = body.get("metadata") or {}
    slim: dict[str, Any] = {
        "metadata": {k: meta[k] for k in _LLMD_METADATA if k in meta},
        "spec": body.get("spec"),
        "status": body.get("status"),
    }
    for kept in ("apiVersion", "kind"):
        if kept in body:
            slim[kept] = body[kept]
    return slim


_REPLICAS_FIELDS: dict[str, Any] = {"f:spec": {"f:replicas": {}}}


def _slim_deployment(body: dict[str, Any], history: bytes | None = None) -> dict[str, Any]:
    """The Deployment as the pass reads it: who writes the replica count, the count,
    status, and a digest of who wrote what (``history``).

    Of ``managedFields`` only the entry owning ``spec.replicas`` is kept (the hand-over to
    an external scaler reads it), and of it only that field: the whole write history of a
    Deployment, decoded, is tens of KiB (every field of the pod template), 30 MiB of RSS
    at 1,000.
    """
    meta = body.get("metadata") or {}
    slim_meta = {k: meta[k] for k in _DEPLOYMENT_METADATA if k in meta}
    slim_meta["managedFields"] = [
        {**{k: v for k, v in entry.items() if k != "fieldsV1"}, "fieldsV1": _REPLICAS_FIELDS}
        for entry in meta.get("managedFields") or []
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
    ]
    return {
        "kind": "Deployment",
        "metadata": slim_meta,
        "spec": {"replicas": (body.get("spec") or {}).get("replicas")},
        "status": body.get("status") or {},
        "history": history if history is not None else write_history(body),
    }


def _revision(body: dict[str, Any] | None) -> int | None:
    text = ((body or {}).get("metadata") or {}).get("resourceVersion")
    try:
        return int(text) if text is not None else None
    except (TypeError, ValueError):
        return None


def is_older(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """True when ``new`` is known to be an older version of ``old`` (same object)."""
    if old is None:
        return False
    if (new.get("metadata") or {}).get("uid") != (old.get("metadata") or {}).get("uid"):
        return False
    ours, theirs = _revision(new), _revision(old)
    return ours is not None and theirs is not None and ours < theirs


def deployment_signature(body: dict[str, Any] | None) -> tuple[Any, ...]:
    """What of a Deployment its owner's pass reads: a change elsewhere (the controller
    manager's ``availableReplicas``, its conditions' timestamps) is no news to it.

    The spec generation and replica count, the status counts the owner reports, the
    ``ReplicaFailure`` condition, and the write history (its digest covers the uid, the
    ownerReferences and who wrote which field outside status, an external scaler of the
    count included; a hand edit is re-applied): ``body`` is a Deployment as the view
    keeps it.
    """
    if body is None:
        return ()
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    failure = [
        (c.get("status"), c.get("message"))
        for c in status.get("conditions") or []
        if c.get("type") == "ReplicaFailure"
    ]
    return (
        meta.get("generation"),
        meta.get("deletionTimestamp"),
        (body.get("spec") or {}).get("replicas"),
        status.get("replicas"),
        status.get("readyReplicas"),
        status.get("updatedReplicas"),
        repr(failure),
        body.get("history"),
    )


@dataclass
class _Entry:
    body: dict[str, Any]
    owner: Owner | None
    """None when the spec does not validate (the reconciler reports that)."""


@dataclass
class FleetView:
    """LLMDeployments, their Deployments and their pods, from watch events."""

    _llmds: dict[Key, _Entry] = field(default_factory=dict)
    _deployments: dict[Key, dict[str, Any]] = field(default_factory=dict)
    _pods: dict[Key, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _troubles: dict[Key, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def llmdeployment_seen(self, body: dict[str, Any]) -> None:
        """An LLMDeployment was added or changed (the spec is parsed once per generation)."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        previous = self._llmds.get(key)
        if previous is not None and is_older(body, previous.body):
            return
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

    def llmdeployment_written(self, body: dict[str, Any] | None) -> None:
        """The API server's answer to our write, if the watch feeds this object."""
        if body is None or "metadata" not in body:
            return
        meta = body["metadata"]
        if (meta.get("namespace"), meta.get("name")) in self._llmds:
            self.llmdeployment_seen(body)

    def llmdeployment_gone(self, namespace: str, name: str) -> None:
        """An LLMDeployment was deleted: forget it and what it owned."""
        self._llmds.pop((namespace, name), None)
        self._deployments.pop((namespace, name), None)
        self._pods.pop((namespace, name), None)
        self._troubles.pop((namespace, name), None)

    def deployment_seen(
        self,
        namespace: str,
        owner: str,
        body: dict[str, Any] | None,
        history: bytes | None = None,
    ) -> bool:
        """The owner's Deployment changed (None: it was deleted); ``history``: its
        ``write_history``, if the caller has it already.

        Returns True when something its owner's pass reads changed
        (:func:`deployment_signature`), i.e. when the owner needs a pass.
        """
        key = (namespace, owner)
        old = self._deployments.get(key)
        if body is None:
            self._deployments.pop(key, None)
            return old is not None
        if is_older(body, old):
            return False
        slim = _slim_deployment(body, history)
        self._deployments[key] = slim
        return deployment_signature(old) != deployment_signature(slim)

    def deployment_written(self, key: Key, body: dict[str, Any] | None) -> None:
        """The API server's answer to our apply of the owner's Deployment."""
        if body is not None and "metadata" in body and key in self._llmds:
            self.deployment_seen(key[0], key[1], body)

    def pod_seen(self, namespace: str, owner: str, body: dict[str, Any], gone: bool) -> bool:
        """One of the owner's pods changed or was deleted.

        Returns True when the pod's trouble changed (a container waiting for a reason such
        as ``CreateContainerConfigError`` or ``ImagePullBackOff``, or the scheduler calling
        it unschedulable): the Deployment's status does not move for those, so only the pod
        tells the owner's ``Degraded`` condition that something is wrong, or no longer is.
        So does a pod starting to run: the Deployment's status moves only when it is Ready,
        and a model loads for minutes, which ``Progressing=ModelLoading`` should say.
        """
        name = body["metadata"]["name"]
        pods = self._pods.setdefault((namespace, owner), {})
        troubles = self._troubles.setdefault((namespace, owner), {})
        if gone:
            pods.pop(name, None)
            return troubles.pop(name, ()) != ()
        trouble = _trouble(body)
        if (body.get("status") or {}).get("phase") == "Running":
            trouble += ("Running",)
        changed = troubles.get(name, ()) != trouble
        troubles[name] = trouble
        meta = body["metadata"]
        status = body.get("status") or {}
        pods[name] = {
            "metadata": {
                "name": name,
                "creationTimestamp": meta.get("creationTimestamp"),
                "deletionTimestamp": meta.get("deletionTimestamp"),
            },
            "status": {
                "phase": status.get("phase"),
                "conditions": list(status.get("conditions") or []),
                "containerStatuses": [
                    {"state": {"waiting": (c.get("state") or {}).get("waiting")}}
                    for c in status.get("containerStatuses") or []
                    if (c.get("state") or {}).get("waiting")
                ],
            },
        }
        return changed

    def llmdeployments(self) -> list[Key]:
        """Every LLMDeployment seen, in a stable order."""
        return sorted(self._llmds)

    def body(self, key: Key) -> dict[str, Any] | None:
        """The LLMDeployment as last watched (or written)."""
        entry = self._llmds.get(key)
        return entry.body if entry is not None else None

    def owner(self, key: Key) -> Owner | None:
        """The parsed LLMDeployment (None if unknown or its spec does not validate)."""
        entry = self._llmds.get(key)
        return entry.owner if entry is not None else None

    def deployment(self, key: Key) -> dict[str, Any] | None:
        """The owner's Deployment as last watched (or applied), None if none seen."""
        return self._deployments.get(key)

    def pods(self, key: Key) -> list[dict[str, Any]]:
        """The owner's pods as last watched (name, times, phase, conditions, waiting)."""
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
