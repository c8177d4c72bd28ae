"""Admission policies (ValidatingAdmissionPolicy, MutatingAdmissionPolicy, GA in
Kubernetes 1.30 and 1.36) installed for the length of a test, bound to its namespace:
the cluster policies a user's operator meets (a change freeze, a policy engine's rules)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import yaml

from forescale.sandbox.pytest_plugin import Kubectl


@contextlib.contextmanager
def admission_policy(
    kubectl: Kubectl,
    kind: Literal["Validating", "Mutating"],
    namespace: str,
    spec: dict[str, Any],
    **binding_spec: Any,
) -> Iterator[None]:
    """A ``{kind}AdmissionPolicy`` with ``spec``, bound to ``namespace`` only (further
    binding fields in ``binding_spec``); both cluster-scoped, so deleted on the way out."""
    name = f"{kind.lower()}-{namespace}"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": f"{kind}AdmissionPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": f"{kind}AdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            },
            **binding_spec,
        },
    }
    manifests = yaml.safe_dump_all([policy, binding])
    kubectl.ok("apply", "-f", "-", input=manifests)
    try:
        yield
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=true", input=manifests)


def on_deployments(*operations: str) -> dict[str, Any]:
    """``matchConstraints`` for apps/v1 Deployments and ``operations``."""
    rule = {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": list(operations),
        "resources": ["deployments"],
    }
    return {"resourceRules": [rule]}
