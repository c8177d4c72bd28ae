"""Safe in a shared cluster, against the real API server, with the operator as its own
least-privilege user. Each test is one finding of issue 12 (found at commit 3094352)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import (
    apply,
    condition,
    events,
    eventually,
    get,
    minimal,
    running_operator,
)

pytestmark = pytest.mark.integration


def _reasons(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in events(kubectl, namespace, name)]


def test_a_foreign_service_is_neither_adopted_nor_collected(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    """Finding: an LLMDeployment named like a Service rewrote it and then GC'd it."""
    victim = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "victim", "labels": {"app": "victim"}},
        "spec": {"selector": {"app": "victim"}, "ports": [{"name": "web", "port": 80}]},
    }
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(victim))
    before = get(kubectl, namespace, "service", "victim") or {}
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, minimal("victim"))
        eventually(
            lambda: (
                condition(get(kubectl, namespace, "llmd", "victim"), "Degraded").get("reason")
                == "NameConflict"
            ),
            30,
            "Degraded=NameConflict",
        )
        assert "NameConflict" in _reasons(kubectl, namespace, "victim")
        after = get(kubectl, namespace, "service", "victim") or {}
        assert after["spec"]["selector"] == {"app": "victim"}
        assert [p["port"] for p in after["spec"]["ports"]] == [80]
        assert not after["metadata"].get("ownerReferences")
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert get(kubectl, namespace, "deployment", "victim") is None
        kubectl.ok("delete", "llmd", "victim", "-n", namespace, "--wait=true", "--timeout=30s")
    still = get(kubectl, namespace, "service", "victim")
    assert still is not None and still["spec"]["selector"] == {"app": "victim"}


def test_an_injected_privileged_sidecar_is_removed(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    """Finding: a privileged sidecar with hostPath /, privileged vllm and hostNetwork stayed."""
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, minimal())
        eventually(lambda: get(kubectl, namespace, "deployment", "qwen-small"), 30, "Deployment")
        patch = {
            "spec": {
                "template": {
                    "spec": {
                        "hostNetwork": True,
                        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
                        "containers": [
                            {
                                "name": "vllm",
                                "securityContext": {
                                    "privileged": True,
                                    "allowPrivilegeEscalation": True,
                                },
                            },
                            {
                                "name": "miner",
                                "image": "busybox",
                                "securityContext": {"privileged": True},
                                "volumeMounts": [{"name": "root", "mountPath": "/host"}],
                            },
                        ],
                    }
                }
            }
        }
        kubectl.ok(
            "patch", "deployment", "qwen-small", "-n", namespace, "--type=strategic",
            "-p", json.dumps(patch),
        )  # fmt: skip

        def clean() -> bool:
            pod = (get(kubectl, namespace, "deployment", "qwen-small") or {})["spec"]["template"][
                "spec"
            ]
            names = [c["name"] for c in pod["containers"]]
            privileged = [
                c for c in pod["containers"] if (c.get("securityContext") or {}).get("privileged")
            ]
            volumes = [v["name"] for v in pod.get("volumes", [])]
            return (
                names == ["vllm"]
                and not privileged
                and not pod.get("hostNetwork")
                and "root" not in volumes
            )

        eventually(clean, 30, "the injected fields to be removed")
        assert "PodTemplateRestored" in _reasons(kubectl, namespace, "qwen-small")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "x" * 70}, "metadata.name"),
        ({"name": "llama.v1.prod"}, "metadata.name"),
        (
            {
                "source": {
                    "huggingFace": {"tokenSecret": {"name": "../../kube-system/secrets/oracle-yes"}}
                }
            },
            "tokenSecret.name",
        ),
        ({"capacity": "0"}, "requestsPerSecond"),
        ({"affinity": {"foo": "bar"}}, "foo"),
        ({"nodeSelector": {"bad key!": "x"}}, "nodeSelector"),
        ({"annotations": {f"big-{i}": "x" * 60_000 for i in range(5)}}, "annotations"),
    ],
    ids=[
        "long-name",
        "dotted-name",
        "secret-path",
        "zero-capacity",
        "affinity",
        "node-selector",
        "annotations",
    ],
)
def test_the_api_server_rejects_specs_that_cannot_become_children(
    kubectl: Kubectl, namespace: str, llmd_crd: list[Path], change: dict[str, Any], field: str
) -> None:
    """Finding: each of these was accepted and then hung in Unknown (one stuck on delete)."""
    manifest = minimal()
    spec = manifest["spec"]
    if "name" in change:
        manifest["metadata"]["name"] = change["name"]
    if "source" in change:
        spec["model"]["source"] = change["source"]
    if "capacity" in change:
        spec["scaling"] = {"capacity": {"requestsPerSecond": change["capacity"]}}
    if "affinity" in change:
        spec["placement"] = {"affinity": change["affinity"]}
    if "nodeSelector" in change:
        spec["placement"] = {"nodeSelector": change["nodeSelector"]}
    if "annotations" in change:
        spec["podMetadata"] = {"annotations": change["annotations"]}
    result = kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))
    assert result.returncode != 0, f"accepted: {result.stdout}"
    assert field in result.stderr, result.stderr


def test_an_emoji_model_name_converges_and_deletion_completes(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    """Finding: an emoji in the model name got 400 on every pass; deletion could hang."""
    manifest = minimal()
    manifest["spec"]["model"]["name"] = "org/llama-\U0001f999"
    with running_operator(operator_kubeconfig, namespace):
        apply(kubectl, namespace, manifest)
        deployment = eventually(
            lambda: get(kubectl, namespace, "deployment", "qwen-small"), 30, "the Deployment"
        )
        args = " ".join(deployment["spec"]["template"]["spec"]["containers"][0]["args"])
        assert "\U0001f999" in args
        llmd = get(kubectl, namespace, "llmd", "qwen-small") or {}
        assert not llmd["metadata"].get("finalizers"), "no finalizer: deletion never waits on us"
    # The operator is stopped: deletion still completes (children go with the GC).
    kubectl.ok("delete", "llmd", "qwen-small", "-n", namespace, "--wait=true", "--timeout=30s")


def test_pods_refused_by_admission_degrade_with_the_message(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    """Finding: refused pods left Degraded=False "No problem detected"."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-pods"},
        "spec": {"hard": {"pods": "0"}},
    }
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(quota))
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, minimal())
        eventually(
            lambda: (
                condition(get(kubectl, namespace, "llmd", "qwen-small"), "Degraded").get("reason")
                == "PodsRejected"
            ),
            60,
            "Degraded=PodsRejected",
        )
        message = condition(get(kubectl, namespace, "llmd", "qwen-small"), "Degraded")["message"]
        assert "forbidden" in message, message


def test_the_samples_run_in_a_namespace_enforcing_restricted(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, llmd_crd: list[Path]
) -> None:
    """Finding: vLLM pods were refused under Pod Security `restricted`."""
    kubectl.ok("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, minimal())
        eventually(
            lambda: (
                condition(get(kubectl, namespace, "llmd", "qwen-small"), "Ready").get("status")
                == "True"
            ),
            60,
            "Ready in a restricted namespace",
        )
