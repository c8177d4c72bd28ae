"""The operator user gets exactly manifests/rbac/role.yaml: what it grants works, the rest
is forbidden by the real RBAC authorizer."""

from __future__ import annotations

import json

import pytest

from forescale.sandbox.pytest_plugin import Kubectl

from .gpu_workloads import SAMPLE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("llmd_crd")]

# (verb, API group, resource[/subresource]); groups are explicit so a check does not
# depend on the CRD of that group being installed (kubectl auth can-i needs discovery).
ALLOWED = [
    ("watch", "forescale.io", "llmdeployments"),
    ("patch", "forescale.io", "llmdeployments/status"),
    ("create", "apps", "deployments"),
    ("patch", "apps", "deployments"),
    ("patch", "", "services"),
    ("create", "policy", "poddisruptionbudgets"),
    ("create", "monitoring.coreos.com", "podmonitors"),
    ("list", "", "pods"),
    ("list", "", "nodes"),
    ("get", "", "persistentvolumeclaims"),
    ("create", "", "events"),
    ("patch", "", "events"),
    ("list", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("watch", "", "namespaces"),
]

FORBIDDEN = [
    ("create", "forescale.io", "llmdeployments"),
    ("delete", "forescale.io", "llmdeployments"),
    ("update", "forescale.io", "llmdeployments"),
    ("list", "", "secrets"),
    # Issue 12: no Secret read anywhere, no verbs the code does not use.
    ("get", "", "secrets"),
    ("patch", "forescale.io", "llmdeployments/scale"),
    ("update", "forescale.io", "llmdeployments/scale"),
    ("delete", "apps", "deployments"),
    ("update", "apps", "deployments"),
    ("delete", "", "services"),
    ("delete", "policy", "poddisruptionbudgets"),
    ("patch", "kopf.dev", "clusterkopfpeerings"),
    ("create", "coordination.k8s.io", "leases"),
    ("delete", "", "pods"),
    ("create", "", "pods"),
    ("patch", "", "nodes"),
    ("create", "rbac.authorization.k8s.io", "clusterroles"),
    ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("delete", "", "namespaces"),
    ("*", "*", "*"),
]


def _allowed(kubectl: Kubectl, verb: str, group: str, resource: str) -> bool:
    """Ask the real authorizer (SubjectAccessReview) about the operator user."""
    name, _, subresource = resource.partition("/")
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "forescale-operator",
            "groups": ["system:authenticated"],
            "resourceAttributes": {
                "namespace": "default",
                "verb": verb,
                "group": group,
                "resource": name,
                "subresource": subresource,
            },
        },
    }
    out = kubectl.ok("create", "-o", "json", "-f", "-", input=json.dumps(review))
    allowed: bool = json.loads(out)["status"].get("allowed", False)
    return allowed


@pytest.mark.parametrize("check", ALLOWED, ids="/".join)
def test_operator_may(kubectl: Kubectl, check: tuple[str, str, str]) -> None:
    assert _allowed(kubectl, *check)


@pytest.mark.parametrize("check", FORBIDDEN, ids="/".join)
def test_operator_may_not(kubectl: Kubectl, check: tuple[str, str, str]) -> None:
    assert not _allowed(kubectl, *check)


def test_kubectl_auth_can_i_as_the_operator(kubectl: Kubectl) -> None:
    """The everyday spelling works too, for resources the cluster serves."""
    base = ("auth", "can-i", "-n", "default", "--as=forescale-operator")
    assert kubectl(*base, "patch", "llmdeployments.forescale.io/status").stdout.strip() == "yes"
    assert kubectl(*base, "delete", "llmdeployments.forescale.io").stdout.strip() == "no"
    assert kubectl(*base, "get", "secrets").stdout.strip() == "no"


def test_operator_kubeconfig_is_really_limited(kubectl: Kubectl, namespace: str) -> None:
    """Not just can-i: real requests with the operator's own credentials."""
    kubectl.ok("apply", "-n", namespace, "-f", str(SAMPLE))
    listed = kubectl.as_operator("get", "llmd", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    assert "llama-8b" in listed.stdout
    scaled = kubectl.as_operator("scale", "llmd", "llama-8b", "-n", namespace, "--replicas=2")
    assert scaled.returncode != 0, "the operator never scales its own resource"
    deleted = kubectl.as_operator("delete", "llmd", "llama-8b", "-n", namespace)
    assert deleted.returncode != 0
    assert "forbidden" in deleted.stderr
    secrets = kubectl.as_operator("get", "secrets", "-n", namespace)
    assert "forbidden" in secrets.stderr
