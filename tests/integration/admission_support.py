"""Admission control installed for the length of a test, bound to its namespace: the
cluster policies a user's operator meets (a change freeze, a policy engine's rules) as
ValidatingAdmissionPolicy and MutatingAdmissionPolicy (GA in Kubernetes 1.30 and 1.36),
and validating webhooks (a policy engine's, a slow or a down one)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import yaml

from forescale.sandbox.ports import free_port
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


def validating_webhook(
    namespace: str, client_config: dict[str, Any], rule: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """A ValidatingWebhookConfiguration of one webhook on ``rule`` in ``namespace`` only
    (``fields``: ``failurePolicy``, ``objectSelector``, ``timeoutSeconds``...)."""
    webhook = {
        "name": "check.forescale-test.io",
        "clientConfig": client_config,
        "rules": [rule],
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        **fields,
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": f"webhook-{namespace}"},
        "webhooks": [webhook],
    }


@contextlib.contextmanager
def unreachable_webhook(kubectl: Kubectl, namespace: str) -> Iterator[None]:
    """A validating webhook on Deployment updates, ``failurePolicy: Fail``, whose server is
    down (a closed loopback port): a policy engine's pods not running."""
    client_config = {"url": f"https://127.0.0.1:{free_port()}/validate"}
    rule = {**on_deployments("UPDATE")["resourceRules"][0]}
    manifest = yaml.safe_dump(
        validating_webhook(namespace, client_config, rule, failurePolicy="Fail")
    )
    kubectl.ok("apply", "-f", "-", input=manifest)
    try:
        yield
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=true", input=manifest)
