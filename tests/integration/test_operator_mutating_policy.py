"""A cluster policy that mutates the operator's Deployment is lived with, not fought.

Policy engines commonly add to what an operator applies (a cost-center label, an
annotation the mesh or the backup tool reads, a default it insists on). An operator that
treats the mutated fields as drift re-applies, the policy mutates again, and every pass is
a write, or a rollout when the pod template moved. Here a real MutatingAdmissionPolicy (GA
in Kubernetes 1.36) adds a pod-template annotation and a Deployment label to every
Deployment created or updated in the namespace; the operator must converge once, keep the
mutation, roll out only when its own spec asks for it, and post no PodTemplateRestored.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest

from forescale.sandbox.pytest_plugin import Kubectl

from .admission_support import admission_policy, on_deployments
from .operator_support import (
    OperatorProcesses,
    apply,
    events,
    eventually,
    get,
    minimal,
    wait_condition,
)

pytestmark = pytest.mark.integration

NAME = "mutated"
INJECTED = "policy.example.com/injected"
QUIET_SECONDS = 20.0


MUTATION = (
    'Object{metadata: Object.metadata{labels: {"policy.example.com/cost-center": "ml"}}, '
    "spec: Object.spec{template: Object.spec.template{metadata: "
    f'Object.spec.template.metadata{{annotations: {{"{INJECTED}": "yes"}}}}}}}}}}'
)
"""A cost-center label on the Deployment and an annotation on its pod template (CEL)."""


def _mutating_policy(kubectl: Kubectl, namespace: str) -> contextlib.AbstractContextManager[None]:
    spec = {
        "failurePolicy": "Fail",
        "reinvocationPolicy": "Never",
        "matchConstraints": on_deployments("CREATE", "UPDATE"),
        "mutations": [
            {"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": MUTATION}}
        ],
    }
    return admission_policy(kubectl, "Mutating", namespace, spec)


def _in_force(kubectl: Kubectl, namespace: str) -> bool:
    """A server-side dry-run Deployment comes back mutated (the policy is loaded)."""
    probe = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "probe"},
        "spec": {
            "selector": {"matchLabels": {"app": "probe"}},
            "template": {
                "metadata": {"labels": {"app": "probe"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    out = kubectl.ok(
        "create", "-n", namespace, "--dry-run=server", "-o", "json", "-f", "-",
        input=json.dumps(probe),
    )  # fmt: skip
    annotations = json.loads(out)["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(INJECTED) == "yes"


def _deployment(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    return get(kubectl, namespace, "deployment", NAME) or {}


def _replica_sets(kubectl: Kubectl, namespace: str) -> int:
    out = kubectl.ok(
        "get", "rs", "-n", namespace, "-l", f"forescale.io/llmdeployment={NAME}", "-o", "json"
    )
    return len(json.loads(out)["items"])


def _quiet(kubectl: Kubectl, namespace: str) -> tuple[int, int]:
    """(generation, ReplicaSets) after ``QUIET_SECONDS`` in which neither moved."""
    before = (_deployment(kubectl, namespace)["metadata"]["generation"],
              _replica_sets(kubectl, namespace))  # fmt: skip
    time.sleep(QUIET_SECONDS)
    after = (_deployment(kubectl, namespace)["metadata"]["generation"],
             _replica_sets(kubectl, namespace))  # fmt: skip
    assert after == before, (
        f"the Deployment kept changing: (generation, ReplicaSets) {before} -> {after}"
    )
    return after


def test_a_mutating_policy_is_lived_with(
    kubectl: Kubectl, namespace: str, operators: OperatorProcesses
) -> None:
    with _mutating_policy(kubectl, namespace):
        eventually(lambda: _in_force(kubectl, namespace), 30, "the mutating policy in force")
        operator = operators.start("operator")
        apply(kubectl, namespace, minimal(NAME))
        wait_condition(kubectl, namespace, NAME, "Ready")
        deployment = _deployment(kubectl, namespace)
        assert deployment["spec"]["template"]["metadata"]["annotations"].get(INJECTED) == "yes"
        assert deployment["metadata"]["labels"].get("policy.example.com/cost-center") == "ml"
        generation, replica_sets = _quiet(kubectl, namespace)
        assert replica_sets == 1

        # A change of the pod template: one rollout, the mutation kept, then quiet again.
        kubectl.ok(
            "patch", "llmd", NAME, "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"engine": {"extraArgs": ["--enable-prefix-caching"]}}}),
        )  # fmt: skip
        eventually(
            lambda: _deployment(kubectl, namespace)["metadata"]["generation"] > generation,
            30,
            "the template change applied",
        )
        rolled, replica_sets = _quiet(kubectl, namespace)
        assert rolled == generation + 1 and replica_sets == 2, (rolled, replica_sets)
        template = _deployment(kubectl, namespace)["spec"]["template"]
        assert template["metadata"]["annotations"].get(INJECTED) == "yes"
        reasons = [e["reason"] for e in events(kubectl, namespace, NAME)]
        assert "PodTemplateRestored" not in reasons, reasons
        assert operator.process.poll() is None, operator.text()[-3000:]
