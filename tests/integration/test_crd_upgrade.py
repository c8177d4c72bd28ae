"""Upgrading and applying the CRD on a real API server, as docs/operations.md describes.

forescale's CRD used to default ``spec.engine.gpuMemoryUtilizationPercent`` to 90; from
vLLM 0.34 the field is optional (vLLM sizes the KV cache itself). docs/operations.md says
what an SRE meets after the upgrade, and this test is that sentence against the real
kube-apiserver: an object created under the old CRD keeps 90 (the default was written into
it at creation), a new object has none, and the documented JSON patch removes it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.sandbox.pytest_plugin import Kubectl

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "forescale.io_llmdeployments.yaml"
REMOVE = '[{"op":"remove","path":"/spec/engine/gpuMemoryUtilizationPercent"}]'


def _with_old_default(crd: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(crd)
    (version,) = old["spec"]["versions"]
    engine = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["engine"]
    engine["properties"]["gpuMemoryUtilizationPercent"]["default"] = 90
    return old


def _share(kubectl: Kubectl, namespace: str, name: str) -> Any:
    obj = json.loads(kubectl.ok("get", "llmd", name, "-n", namespace, "-o", "json"))
    return obj["spec"]["engine"].get("gpuMemoryUtilizationPercent")


def _install(kubectl: Kubectl, crd: dict[str, Any]) -> None:
    kubectl.ok("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump(crd))
    kubectl.wait_established()


def _create(kubectl: Kubectl, namespace: str, name: str) -> None:
    obj = {
        "apiVersion": "forescale.io/v1alpha1",
        "kind": "LLMDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}},
    }
    kubectl.ok("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))


def test_an_object_keeps_the_old_default_until_the_documented_patch(
    kubectl: Kubectl, namespace: str, llmd_crd: list[Path]
) -> None:
    current = yaml.safe_load(CRD.read_text())
    try:
        _install(kubectl, _with_old_default(current))
        _create(kubectl, namespace, "before")
        assert _share(kubectl, namespace, "before") == 90
        _install(kubectl, current)
        _create(kubectl, namespace, "after")
        assert _share(kubectl, namespace, "before") == 90, "the upgrade does not take it out"
        assert _share(kubectl, namespace, "after") is None
        kubectl.ok("patch", "llmd", "before", "-n", namespace, "--type=json", "-p", REMOVE)
        assert _share(kubectl, namespace, "before") is None
    finally:
        _install(kubectl, current)


def test_the_crd_fits_client_side_apply(kubectl: Kubectl) -> None:
    """docs/operations.md: client-side ``kubectl apply`` works too (the whole CRD is copied
    into its last-applied annotation, within the API server's limit). A copy under another
    group and other names, so the served CRD is not touched, and later tests' ``kubectl
    get llmd`` cannot resolve to the copy: kubectl picks among groups serving the same
    short name or plural by discovery order (clientside.forescale.io before forescale.io),
    and its discovery cache may hold the copy after it is gone."""
    crd = yaml.safe_load(CRD.read_text())
    crd["spec"]["group"] = "clientside.forescale.io"
    crd["spec"]["names"] = {
        "kind": "ClientSideCopy",
        "listKind": "ClientSideCopyList",
        "plural": "clientsidecopies",
        "singular": "clientsidecopy",
    }
    crd["metadata"]["name"] = "clientsidecopies.clientside.forescale.io"
    try:
        kubectl.ok("apply", "-f", "-", input=yaml.safe_dump(crd))
        applied = json.loads(kubectl.ok("get", "crd", crd["metadata"]["name"], "-o", "json"))
        annotation = applied["metadata"]["annotations"][
            "kubectl.kubernetes.io/last-applied-configuration"
        ]
        assert len(annotation) > 20_000  # the whole schema, descriptions included
    finally:
        kubectl("delete", "crd", crd["metadata"]["name"], "--wait=true")
