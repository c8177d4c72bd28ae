"""An in-memory stand-in for :class:`ClusterClient`, for unit tests of the reconciler.

It keeps objects by (kind, namespace, name), records every write, and lets a test put
managedFields on objects the way the API server would, so ownership and hand-over logic
run exactly as against a cluster. Real API behaviour is covered by tests/integration.
"""

from __future__ import annotations

import copy
from typing import Any, cast

from forescale.handlers.api_client import ApiError, ClusterClient

NS = "ml"
UID = "uid-llmd"


def llmd(name: str = "llm", generation: int = 1, **spec: Any) -> dict[str, Any]:
    """An LLMDeployment as the API server returns it."""
    return {
        "apiVersion": "forescale.io/v1alpha1",
        "kind": "LLMDeployment",
        "metadata": {"name": name, "namespace": NS, "uid": UID, "generation": generation},
        "spec": {"model": {"name": "m"}, **spec},
    }


def managed(manager: str, fields: dict[str, Any], subresource: str = "") -> dict[str, Any]:
    entry = {"manager": manager, "operation": "Update", "fieldsV1": fields, "time": "t"}
    if subresource:
        entry["subresource"] = subresource
    return entry


class FakeCluster:
    """Objects in memory; the methods the reconciler calls, with ClusterClient's contract."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.body = body
        self.writes: list[tuple[str, str, str]] = []
        self.reads: list[tuple[str, str]] = []
        """(verb, kind) of every read, as the API server would count them."""
        self.events: list[tuple[str, str, str]] = []
        self.status_patches: list[dict[str, Any]] = []
        self.fail: dict[str, Exception] = {}
        self.extra_managed: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def as_client(self) -> ClusterClient:
        return cast(ClusterClient, self)

    def _maybe_fail(self, method: str) -> None:
        if method in self.fail:
            raise self.fail[method]

    async def get_llmdeployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._maybe_fail("get_llmdeployment")
        self.reads.append(("get", "LLMDeployment"))
        return copy.deepcopy(self.body)

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        self._maybe_fail("patch_status")
        self.status_patches.append(copy.deepcopy(status))
        self.body.setdefault("status", {}).update(copy.deepcopy(status))
        return copy.deepcopy(self.body)

    async def post_event(
        self, involved: dict[str, Any], kind: str, reason: str, message: str, now: str
    ) -> None:
        self.events.append((kind, reason, message))

    async def has_api(self, group_version: str, plural: str) -> bool:
        return False

    async def nodes_with_label(self, label: str, value: str) -> int:
        return 1

    async def exists(self, kind: str, namespace: str, name: str) -> bool:
        return (kind, namespace, name) in self.objects

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self._maybe_fail("get")
        self.reads.append(("get", kind))
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        self._maybe_fail("list")
        self.reads.append(("list", kind))
        return [
            copy.deepcopy(o) for (k, n, _), o in self.objects.items() if (k, n) == (kind, namespace)
        ]

    async def apply(self, obj: dict[str, Any], field_manager: str = "forescale") -> Any:
        self._maybe_fail("apply")
        meta = obj["metadata"]
        key = (obj["kind"], meta["namespace"], meta["name"])
        self.writes.append(("apply", obj["kind"], field_manager))
        live = self.objects.get(key)
        if live is None:
            live = {
                "kind": obj["kind"],
                "metadata": {**copy.deepcopy(meta), "resourceVersion": "1"},
            }
            live["spec"] = {}
            if obj["kind"] == "Deployment":
                live["spec"]["replicas"] = 1
            self.objects[key] = live
        spec = copy.deepcopy(obj.get("spec") or {})
        live["spec"] = {**live["spec"], **spec}
        fields = {"f:spec": {f"f:{k}": {} for k in spec}}
        entries = [
            e for e in live["metadata"].get("managedFields", []) if e["manager"] != field_manager
        ]
        if "replicas" in spec:  # whoever writes a field last owns it
            for entry in entries:
                entry["fieldsV1"].get("f:spec", {}).pop("f:replicas", None)
        entries.append({"manager": field_manager, "operation": "Apply", "fieldsV1": fields})
        entries.extend(self.extra_managed.get((obj["kind"], meta["name"]), []))
        live["metadata"]["managedFields"] = entries
        return copy.deepcopy(live)

    async def merge_patch(self, obj: dict[str, Any]) -> Any:
        self._maybe_fail("merge_patch")
        self.writes.append(("merge_patch", obj["kind"], "forescale"))
        return None

    async def replace_pod_template(self, live: dict[str, Any], template: dict[str, Any]) -> Any:
        meta = live["metadata"]
        self.writes.append(("replace_pod_template", live["kind"], "forescale"))
        self.extra_managed.pop((live["kind"], meta["name"]), None)
        stored = self.objects[(live["kind"], meta["namespace"], meta["name"])]
        stored["spec"]["template"] = copy.deepcopy(template)
        for entry in stored["metadata"].get("managedFields", []):  # removed fields lose owners
            if entry["manager"] != "forescale":
                entry["fieldsV1"].get("f:spec", {}).pop("f:template", None)
        return copy.deepcopy(stored)

    def external_scale(self, name: str, replicas: int, manager: str) -> None:
        """Someone else writes the Deployment's replicas (an HPA through the scale API)."""
        live = self.objects[("Deployment", NS, name)]
        live["spec"]["replicas"] = replicas
        for entry in live["metadata"]["managedFields"]:
            entry["fieldsV1"].get("f:spec", {}).pop("f:replicas", None)
        live["metadata"]["managedFields"].append(
            managed(manager, {"f:spec": {"f:replicas": {}}}, subresource="scale")
        )


def api_error(status: int, message: str) -> ApiError:
    return ApiError(status, "Unprocessable", f'{{"kind":"Status","message":"{message}"}}')
