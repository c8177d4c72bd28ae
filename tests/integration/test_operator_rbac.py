"""The operator user gets exactly manifests/rbac/role.yaml: what it grants works, the rest
is forbidden by the real RBAC authorizer."""

from __future__ import annotations

import pytest

from forescale.sandbox.pytest_plugin import Kubectl

from .gpu_workloads import SAMPLE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("llmd_crd")]

ALLOWED = [
    ("watch", "llmdeployments.forescale.io"),
    ("patch", "llmdeployments.forescale.io", "--subresource=status"),
    ("patch", "llmdeployments.forescale.io", "--subresource=scale"),
    ("create", "deployments.apps"),
    ("delete", "deployments.apps"),
    ("patch", "services"),
    ("create", "poddisruptionbudgets.policy"),
    ("create", "podmonitors.monitoring.coreos.com"),
    ("list", "pods"),
    ("watch", "nodes"),
    ("get", "secrets"),
    ("create", "events"),
    ("create", "events.events.k8s.io"),
    ("patch", "clusterkopfpeerings.kopf.dev"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("watch", "namespaces"),
]

FORBIDDEN = [
    ("create", "llmdeployments.forescale.io"),
    ("delete", "llmdeployments.forescale.io"),
    ("update", "llmdeployments.forescale.io"),
    ("list", "secrets"),
    ("delete", "pods"),
    ("create", "pods"),
    ("patch", "nodes"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("delete", "namespaces"),
    ("*", "*"),
]


def _can_i(kubectl: Kubectl, namespace: str, verb: str, resource: str, *extra: str) -> str:
    result = kubectl(
        "auth", "can-i", verb, resource, *extra, "-n", namespace, "--as=forescale-operator"
    )
    return result.stdout.strip()


@pytest.mark.parametrize("check", ALLOWED, ids=" ".join)
def test_operator_may(kubectl: Kubectl, check: tuple[str, ...]) -> None:
    assert _can_i(kubectl, "default", *check) == "yes"


@pytest.mark.parametrize("check", FORBIDDEN, ids=" ".join)
def test_operator_may_not(kubectl: Kubectl, check: tuple[str, ...]) -> None:
    assert _can_i(kubectl, "default", *check) == "no"


def test_operator_kubeconfig_is_really_limited(kubectl: Kubectl, namespace: str) -> None:
    """Not just can-i: real requests with the operator's own credentials."""
    kubectl.ok("apply", "-n", namespace, "-f", str(SAMPLE))
    listed = kubectl.as_operator("get", "llmd", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    assert "llama-8b" in listed.stdout
    scaled = kubectl.as_operator("scale", "llmd", "llama-8b", "-n", namespace, "--replicas=2")
    assert scaled.returncode == 0, scaled.stderr
    deleted = kubectl.as_operator("delete", "llmd", "llama-8b", "-n", namespace)
    assert deleted.returncode != 0
    assert "forbidden" in deleted.stderr
    secrets = kubectl.as_operator("get", "secrets", "-n", namespace)
    assert "forbidden" in secrets.stderr
