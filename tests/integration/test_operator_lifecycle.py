"""The operator turns an LLMDeployment into a running, observable vLLM workload.

Real kube-apiserver, controllers, scheduler and kwok; the operator runs with its own RBAC.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import (
    apply,
    condition,
    create_token_secret,
    events,
    eventually,
    get,
    running_operator,
    sample,
)

pytestmark = pytest.mark.integration

LOAD = {"annotations": {"forescale.io/simulated-load-seconds": "4"}}
# Long enough that the loading phase is seen even on a busy 2-core machine.
SLOW_LOAD = {"annotations": {"forescale.io/simulated-load-seconds": "20"}}


def test_sample_becomes_children_then_ready(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    create_token_secret(kubectl, namespace)
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, sample(podMetadata=SLOW_LOAD))
        for kind in ("deployment", "service", "poddisruptionbudget"):
            child = eventually(lambda k=kind: get(kubectl, namespace, k, "llama-8b"), 30, kind)
            meta = child["metadata"]
            (ref,) = meta["ownerReferences"]
            assert (ref["kind"], ref["name"], ref["controller"]) == (
                "LLMDeployment",
                "llama-8b",
                True,
            )
            assert meta["labels"]["app.kubernetes.io/managed-by"] == "forescale"
            assert meta["labels"]["forescale.io/llmdeployment"] == "llama-8b"
        # While the model loads the pod is Running but not Ready: Progressing/ModelLoading.
        loading = eventually(
            lambda: (
                llmd
                if condition(
                    llmd := get(kubectl, namespace, "llmd", "llama-8b"), "Progressing"
                ).get("reason")
                == "ModelLoading"
                else None
            ),
            30,
            "Progressing=ModelLoading",
            interval=0.2,
        )
        assert condition(loading, "Ready")["status"] == "False"
        ready = eventually(
            lambda: (
                llmd
                if condition(llmd := get(kubectl, namespace, "llmd", "llama-8b"), "Ready").get(
                    "status"
                )
                == "True"
                else None
            ),
            60,
            "Ready=True",
        )
        status = ready["status"]
        assert status["observedGeneration"] == ready["metadata"]["generation"]
        assert status["readyReplicas"] == 1
        assert status["selector"] == (
            "app.kubernetes.io/instance=llama-8b,forescale.io/llmdeployment=llama-8b"
        )
        assert condition(ready, "Progressing")["status"] == "False"
        assert condition(ready, "Degraded")["status"] == "False"
        table = kubectl.ok("get", "llmd", "-n", namespace)
        header, row = table.splitlines()[:2]
        assert header.split()[:4] == ["NAME", "MODEL", "READY", "DESIRED"]
        assert row.split()[:4] == ["llama-8b", "meta-llama/Llama-3.1-8B-Instruct", "1", "1"]
        assert "True" in row.split()
        reasons = {e["reason"] for e in events(kubectl, namespace, "llama-8b")}
        assert "Ready" in reasons
        # kopf's bookkeeping stays out of status.
        assert "kopf" not in status
        # The operator never writes the spec or the metadata: every field it manages on
        # the object is in /status (kopf adds no annotation, no finalizer), and the spec's
        # generation is still the user's first.
        meta = ready["metadata"]
        assert meta["generation"] == 1
        assert not meta.get("finalizers")
        assert not [k for k in meta.get("annotations") or {} if "kopf" in k]
        managed = json.loads(
            kubectl.ok(
                "get", "llmd", "llama-8b", "-n", namespace, "-o", "json", "--show-managed-fields"
            )
        )["metadata"]["managedFields"]
        assert any(entry.get("subresource") == "status" for entry in managed), managed
        outside_status = [
            (entry["manager"], entry.get("operation"))
            for entry in managed
            if entry.get("subresource") != "status" and not entry["manager"].startswith("kubectl")
        ]
        assert outside_status == [], managed


def test_spec_change_rolls_out(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    manifest = sample("llmdeployment-minimal.yaml", podMetadata=LOAD)
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, manifest)
        eventually(
            lambda: (
                condition(get(kubectl, namespace, "llmd", "qwen-small"), "Ready").get("status")
                == "True"
            ),
            60,
            "first rollout Ready",
        )
        manifest["spec"]["engine"] = {"maxNumSeqs": 64}
        apply(kubectl, namespace, manifest)

        def rolled() -> bool:
            deployment = get(kubectl, namespace, "deployment", "qwen-small") or {}
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            llmd = get(kubectl, namespace, "llmd", "qwen-small") or {}
            status = llmd.get("status", {})
            return (
                "--max-num-seqs=64" in container["args"]
                and status.get("observedGeneration") == llmd["metadata"]["generation"]
                and status.get("updatedReplicas") == 1
                and status.get("readyReplicas") == 1
                and condition(llmd, "Progressing").get("status") == "False"
            )

        eventually(rolled, 90, "rollout of maxNumSeqs=64")


def test_service_and_pdb_drift_is_repaired(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    manifest = sample("llmdeployment-minimal.yaml", podMetadata=LOAD)
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, manifest)
        service = eventually(lambda: get(kubectl, namespace, "service", "qwen-small"), 30, "svc")
        kubectl.ok("delete", "service", "qwen-small", "-n", namespace)
        eventually(
            lambda: (
                (svc := get(kubectl, namespace, "service", "qwen-small"))
                and svc["metadata"]["uid"] != service["metadata"]["uid"]
            ),
            30,
            "the deleted Service to come back",
        )
        kubectl.ok(
            "patch", "service", "qwen-small", "-n", namespace, "--type=merge",
            "-p", '{"spec":{"ports":[{"name":"http","port":1234,"targetPort":"http"}]}}',
        )  # fmt: skip
        eventually(
            lambda: (
                (get(kubectl, namespace, "service", "qwen-small") or {})["spec"]["ports"][0]["port"]
                == 8000
            ),
            30,
            "the edited Service port to be restored",
        )
        kubectl.ok("delete", "poddisruptionbudget", "qwen-small", "-n", namespace)
        eventually(lambda: get(kubectl, namespace, "pdb", "qwen-small"), 30, "PDB restored")


def test_delete_removes_children(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, sample("llmdeployment-minimal.yaml", podMetadata=LOAD))
        eventually(lambda: get(kubectl, namespace, "deployment", "qwen-small"), 30, "deployment")
        kubectl.ok("delete", "llmd", "qwen-small", "-n", namespace, "--wait=true")
        for kind in ("deployment", "service", "poddisruptionbudget"):
            eventually(
                lambda k=kind: get(kubectl, namespace, k, "qwen-small") is None,
                60,
                f"{kind} garbage-collected",
            )


def test_all_namespaces_mode_serves_with_the_cluster_role(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    """The manifests' default (``--all-namespaces``, the ClusterRole of
    ``manifests/rbac/role.yaml``): cluster-wide watches and reads work as the operator's
    own user, and an LLMDeployment in any namespace becomes Ready."""
    with running_operator(operator_kubeconfig, namespace, kubectl, all_namespaces=True):
        apply(kubectl, namespace, sample("llmdeployment-minimal.yaml", podMetadata=LOAD))
        eventually(
            lambda: (
                condition(get(kubectl, namespace, "llmd", "qwen-small"), "Ready").get("status")
                == "True"
            ),
            90,
            "Ready=True with --all-namespaces",
        )
