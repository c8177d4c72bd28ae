"""Writes the real API server refuses: said where the runbooks look, nothing lost once allowed.

Two faults, both made by the real API server while a user changes the LLMDeployment
(``minReplicas`` 1 -> 2), so the operator cannot bring its Deployment to the new spec:

* a ValidatingAdmissionPolicy (what a change freeze or a policy engine installs) denies the
  operator's updates of Deployments in the namespace: ``Degraded=True ChildRejected`` at
  the first refusal, quoting the policy. The API server answers it with 422, the code of a
  spec it finds invalid, and the operator used to report ``InvalidSpec`` (the spec at
  fault), mark the generation observed and count no failure, so neither the runbook's
  ``GEN``/``OBSERVED`` columns nor ``ForescaleReconcileErrors`` showed it;
* the operator's ClusterRole loses ``patch`` on Deployments: ``Degraded=True
  ReconcileError`` naming the verb and resource.

Each is then read the way ``docs/runbooks/ForescaleReconcileErrors.md`` tells an SRE to
read it: its log grep, its ``kubectl get llmd`` columns, its Event listing and its PromQL
are run as written and must show the failure; a real Prometheus evaluating the shipped
rules has ``ForescaleReconcileErrors`` pending. Once the fault is lifted, the change made
meanwhile lands (from the operator's own backoff, no edit) and ``Degraded`` clears.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.sandbox.prometheus_server import PrometheusServer
from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import (
    OperatorProcesses,
    apply,
    condition,
    events,
    eventually,
    get,
    sample,
)
from .runbook_support import fenced_lines, in_bash

pytestmark = pytest.mark.integration

NAME = "frozen"
LOAD = {"annotations": {"forescale.io/simulated-load-seconds": "1"}}
FREEZE_MESSAGE = "change freeze: Deployments in this namespace are read-only"
RUNBOOK = Path(__file__).parents[2] / "docs" / "runbooks" / "ForescaleReconcileErrors.md"


def _username(kubectl: Kubectl) -> str:
    """The operator's user as the API server authenticates it."""
    answer = kubectl.as_operator("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert answer.returncode == 0 and answer.stdout.strip(), answer.stderr
    return answer.stdout.strip()


@contextlib.contextmanager
def _change_freeze(kubectl: Kubectl, namespace: str, user: str) -> Iterator[None]:
    """A ValidatingAdmissionPolicy denying ``user``'s updates of Deployments in
    ``namespace`` for the length of the block (cluster-scoped: deleted on the way out)."""
    name = f"freeze-{namespace}"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["deployments"],
                    }
                ]
            },
            "matchConditions": [
                {"name": "the-operator", "expression": f"request.userInfo.username == '{user}'"}
            ],
            "validations": [{"expression": "false", "message": FREEZE_MESSAGE}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            },
        },
    }
    manifests = yaml.safe_dump_all([policy, binding])
    kubectl.ok("apply", "-f", "-", input=manifests)
    try:
        yield
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=true", input=manifests)


def _refused(kubectl: Kubectl, namespace: str) -> str | None:
    """The API server's answer to the operator's user updating a Deployment, once the
    policy is in force (None before: admission policies take effect within a second)."""
    patch = json.dumps({"metadata": {"annotations": {"forescale.io/probe": "x"}}})
    answer = kubectl.as_operator(
        "patch", "deployment", NAME, "-n", namespace, "--type=merge", "-p", patch
    )
    return answer.stderr if answer.returncode != 0 and FREEZE_MESSAGE in answer.stderr else None


def _runbook_command(starting: str) -> str:
    (command,) = [c for c in fenced_lines(RUNBOOK) if c.startswith(starting)]
    return command


def _shell(kubectl: Kubectl, command: str, stdin: str | None = None) -> str:
    """``command``'s output; it must not fail (grep finding nothing is exit 1)."""
    done = in_bash(kubectl, command, stdin)
    assert done.returncode in (0, 1) and not done.stderr, (command, done.stderr)
    return done.stdout


def _runbook_log_lines(kubectl: Kubectl, log: str) -> list[str]:
    """What the runbook's ``kubectl logs POD | ...`` prints of the operator's ``log``: its
    pipeline after ``kubectl logs`` run on the log itself."""
    pipeline = _runbook_command("kubectl logs").split("|", 1)[1]
    return _shell(kubectl, pipeline, stdin=log).splitlines()


def _runbook_table(kubectl: Kubectl) -> list[dict[str, str]]:
    """The runbook's ``kubectl get llmd -A -o custom-columns=...``, by column."""
    header, *rows = _shell(kubectl, _runbook_command("kubectl get llmd")).splitlines()
    return [dict(zip(header.split(), row.split(), strict=True)) for row in rows]


def _runbook_events(kubectl: Kubectl) -> list[str]:
    """The lines of the runbook's Event listing."""
    return _shell(kubectl, _runbook_command("kubectl get events")).splitlines()


@contextlib.contextmanager
def _without_deployment_patch(kubectl: Kubectl) -> Iterator[None]:
    """The operator's ClusterRole without ``patch`` on Deployments for the length of the
    block (the sandbox's role, as manifests/rbac/role.yaml made it, restored on the way
    out)."""
    live = json.loads(kubectl.ok("get", "clusterrole", "forescale-operator", "-o", "json"))
    pruned = json.loads(json.dumps(live))
    for rule in pruned["rules"]:
        if "deployments" in rule.get("resources", []) and "apps" in rule.get("apiGroups", []):
            rule["verbs"] = [verb for verb in rule["verbs"] if verb != "patch"]
    kubectl.ok("replace", "-f", "-", input=json.dumps(pruned))
    try:
        yield
    finally:
        restored = {
            **live,
            "metadata": {
                "name": live["metadata"]["name"],
                "labels": live["metadata"].get("labels", {}),
            },
        }
        kubectl.ok("replace", "-f", "-", input=json.dumps(restored))


def _forbidden(kubectl: Kubectl, namespace: str) -> str | None:
    """kubectl as the operator, once RBAC refuses it a Deployment patch (None before)."""
    patch = json.dumps({"metadata": {"annotations": {"forescale.io/probe": "x"}}})
    answer = kubectl.as_operator(
        "patch", "deployment", NAME, "-n", namespace, "--type=merge", "-p", patch
    )
    return answer.stderr if answer.returncode != 0 and "cannot patch" in answer.stderr else None


def _deployed(kubectl: Kubectl, namespace: str, operators: OperatorProcesses, port: int) -> Any:
    """The operator running and ``NAME`` Ready at one replica (``minReplicas: 1``)."""
    operator = operators.start("operator", metrics_port=port)
    manifest = sample("llmdeployment-minimal.yaml", podMetadata=LOAD)
    manifest["metadata"]["name"] = NAME
    manifest["spec"]["scaling"] = {"minReplicas": 1, "maxReplicas": 3}
    apply(kubectl, namespace, manifest)
    eventually(
        lambda: condition(get(kubectl, namespace, "llmd", NAME), "Ready").get("status") == "True",
        60,
        "Ready before the fault",
    )
    return operator


def _change_min_replicas(kubectl: Kubectl, namespace: str) -> None:
    kubectl.ok(
        "patch", "llmd", NAME, "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"scaling": {"minReplicas": 2}}}),
    )  # fmt: skip


def _degraded(kubectl: Kubectl, namespace: str, reason: str, operator: Any) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        now = condition(get(kubectl, namespace, "llmd", NAME), "Degraded")
        return now if now.get("reason") == reason else None

    try:
        return eventually(found, 60, f"Degraded={reason}")
    except AssertionError as error:
        raise AssertionError(f"{error}\noperator log:\n{operator.text()[-3000:]}") from None


def _read_as_the_runbook_says(
    kubectl: Kubectl,
    namespace: str,
    prometheus: PrometheusServer,
    operator: Any,
    *,
    reason: str,
    quoted: str,
) -> None:
    """Every step of the runbook's Diagnosis shows the failure (``quoted``: a phrase of
    the API server's refusal), and the alert is pending."""
    body = get(kubectl, namespace, "llmd", NAME) or {}
    assert body["status"]["observedGeneration"] < body["metadata"]["generation"], body["status"]
    assert (get(kubectl, namespace, "deployment", NAME) or {})["spec"]["replicas"] == 1
    logged = _runbook_log_lines(kubectl, operator.text())
    assert any(quoted in line and f"{namespace}/{NAME}" in line for line in logged), (
        f"the runbook's log grep shows nothing of the refusal:\n{operator.text()[-3000:]}"
    )
    (row,) = [r for r in _runbook_table(kubectl) if r["NS"] == namespace]
    assert (row["NAME"], row["DEGRADED"]) == (NAME, reason), row
    assert int(row["OBSERVED"]) < int(row["GEN"]), row
    listed = _runbook_events(kubectl)
    assert any(reason in line and quoted in line for line in listed), listed
    (promql,) = fenced_lines(RUNBOOK, ("promql",))
    failing = eventually(
        lambda: [r for r in prometheus.query(promql) if float(r["value"][1]) > 0],
        30,
        "the runbook's PromQL above 0",
    )
    assert [r["metric"].get("pod") for r in failing] == [prometheus.operators[0].pod], failing
    alert = eventually(
        lambda: prometheus.query('ALERTS{alertname="ForescaleReconcileErrors"}'),
        60,
        "ForescaleReconcileErrors pending",
    )[0]["metric"]
    (scraped,) = prometheus.operators
    assert (alert["alertstate"], alert["severity"], alert["pod"]) == (
        "pending",
        "warning",
        scraped.pod,
    ), alert


def _lands_once_allowed(kubectl: Kubectl, namespace: str) -> None:
    """The change made during the fault reaches the Deployment and Degraded clears, by the
    operator's own retries: nothing is re-applied."""
    eventually(
        lambda: (get(kubectl, namespace, "deployment", NAME) or {})["spec"]["replicas"] == 2,
        90,
        "the change held during the fault applied",
    )
    eventually(
        lambda: (
            condition(get(kubectl, namespace, "llmd", NAME), "Degraded").get("status") == "False"
        ),
        60,
        "Degraded cleared",
    )
    body = get(kubectl, namespace, "llmd", NAME) or {}
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]


def test_a_policy_refusal_is_child_rejected_and_the_change_lands_once_lifted(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorProcesses,
    prometheus: PrometheusServer,
) -> None:
    operator = _deployed(kubectl, namespace, operators, prometheus.operators[0].port)
    with _change_freeze(kubectl, namespace, _username(kubectl)):
        refusal = eventually(lambda: _refused(kubectl, namespace), 30, "the policy in force")
        assert "ValidatingAdmissionPolicy" in refusal, refusal
        _change_min_replicas(kubectl, namespace)
        reported = _degraded(kubectl, namespace, "ChildRejected", operator)
        assert reported["status"] == "True"
        assert FREEZE_MESSAGE in reported["message"], reported
        warnings = [
            e for e in events(kubectl, namespace, NAME)
            if e["reason"] == "ChildRejected" and e["type"] == "Warning"
        ]  # fmt: skip
        assert warnings and FREEZE_MESSAGE in warnings[0]["message"], warnings
        assert "InvalidSpec" not in {e["reason"] for e in events(kubectl, namespace, NAME)}
        _read_as_the_runbook_says(
            kubectl, namespace, prometheus, operator, reason="ChildRejected", quoted=FREEZE_MESSAGE
        )
    _lands_once_allowed(kubectl, namespace)


def test_a_missing_permission_is_a_reconcile_error_and_the_change_lands_once_granted(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorProcesses,
    prometheus: PrometheusServer,
) -> None:
    operator = _deployed(kubectl, namespace, operators, prometheus.operators[0].port)
    with _without_deployment_patch(kubectl):
        eventually(lambda: _forbidden(kubectl, namespace), 30, "the permission gone")
        _change_min_replicas(kubectl, namespace)
        reported = _degraded(kubectl, namespace, "ReconcileError", operator)
        assert reported["status"] == "True"
        assert "403" in reported["message"], reported
        assert 'cannot patch resource \\"deployments\\"' in reported["message"] or (
            'cannot patch resource "deployments"' in reported["message"]
        ), reported
        _read_as_the_runbook_says(
            kubectl,
            namespace,
            prometheus,
            operator,
            reason="ReconcileError",
            quoted="cannot patch resource",
        )
    _lands_once_allowed(kubectl, namespace)
