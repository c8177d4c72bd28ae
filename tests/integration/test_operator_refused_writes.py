"""Writes the real API server refuses: said where the runbooks look, nothing lost once allowed.

Three faults, all made by the real API server while a user changes the LLMDeployment
(``minReplicas`` 1 -> 2), so the operator cannot bring its Deployment to the new spec:

* a ValidatingAdmissionPolicy (what a change freeze or a policy engine installs) denies the
  operator's updates of Deployments in the namespace: ``Degraded=True ChildRejected`` at
  the first refusal, quoting the policy. The API server answers it with 422, the code of a
  spec it finds invalid, and the operator used to report ``InvalidSpec`` (the spec at
  fault), mark the generation observed and count no failure, so neither the runbook's
  ``GEN``/``OBSERVED`` columns nor ``ForescaleReconcileErrors`` showed it;
* the operator's ClusterRole loses ``patch`` on Deployments: ``Degraded=True
  ReconcileError`` naming the verb and resource;
* a validating webhook on Deployment updates with ``failurePolicy: Fail`` is down (its
  port closed: a policy engine's pods not running): ``Degraded=True ReconcileError``
  naming the webhook, in the API server's words, not its Status JSON.

Each is then read the way ``docs/runbooks/ForescaleReconcileErrors.md`` tells an SRE to
read it: its log grep, its ``kubectl get llmd`` columns, its Event listing and its PromQL
are run as written and must show the failure; a real Prometheus evaluating the shipped
rules has ``ForescaleReconcileErrors`` pending. Once the fault is lifted, the change made
meanwhile lands (from the operator's own backoff, no edit) and ``Degraded`` clears.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from forescale.sandbox.prometheus_server import PrometheusServer
from forescale.sandbox.pytest_plugin import Kubectl

from .admission_support import admission_policy, on_deployments, unreachable_webhook
from .operator_support import (
    OperatorProcesses,
    apply,
    events,
    eventually,
    get,
    minimal,
    operator_username,
    wait_condition,
)
from .runbook_support import fenced_lines, in_bash

pytestmark = pytest.mark.integration

NAME = "frozen"
FREEZE_MESSAGE = "change freeze: Deployments in this namespace are read-only"
RUNBOOK = Path(__file__).parents[2] / "docs" / "runbooks" / "ForescaleReconcileErrors.md"


def _change_freeze(kubectl: Kubectl, namespace: str) -> contextlib.AbstractContextManager[None]:
    """A ValidatingAdmissionPolicy denying the operator's updates of Deployments in
    ``namespace`` for the length of the block."""
    user = operator_username(kubectl)
    spec = {
        "failurePolicy": "Fail",
        "matchConstraints": on_deployments("UPDATE"),
        "matchConditions": [
            {"name": "the-operator", "expression": f"request.userInfo.username == '{user}'"}
        ],
        "validations": [{"expression": "false", "message": FREEZE_MESSAGE}],
    }
    return admission_policy(kubectl, "Validating", namespace, spec, validationActions=["Deny"])


def _operator_refused(kubectl: Kubectl, namespace: str, phrase: str) -> str | None:
    """kubectl's error when the operator's user patches the Deployment, once it says
    ``phrase`` (None before: a policy or an RBAC change takes effect within a second)."""
    patch = json.dumps({"metadata": {"annotations": {"forescale.io/probe": "x"}}})
    answer = kubectl.as_operator(
        "patch", "deployment", NAME, "-n", namespace, "--type=merge", "-p", patch
    )
    return answer.stderr if answer.returncode != 0 and phrase in answer.stderr else None


def _runbook_command(starting: str) -> str:
    (command,) = [c for c in fenced_lines(RUNBOOK) if c.startswith(starting)]
    return command


def _shell(kubectl: Kubectl, command: str, stdin: str | None = None) -> str:
    """``command``'s output; it must not fail (grep finding nothing is exit 1)."""
    done = in_bash(kubectl, command, stdin)
    assert done.returncode in (0, 1) and not done.stderr, (command, done.stderr)
    return done.stdout


def _runbook_log_lines(kubectl: Kubectl, log: str) -> list[str]:
    """What the runbook's ``kubectl logs ... | ...`` prints of the operator's ``log``: its
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


def _change_min_replicas(kubectl: Kubectl, namespace: str) -> None:
    kubectl.ok(
        "patch", "llmd", NAME, "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"scaling": {"minReplicas": 2}}}),
    )  # fmt: skip


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
    wait_condition(kubectl, namespace, NAME, "Degraded", status="False")
    body = get(kubectl, namespace, "llmd", NAME) or {}
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]


@dataclass(frozen=True)
class Fault:
    """A write refusal the API server makes, and what the operator must say about it."""

    made_by: Callable[[Kubectl, str], contextlib.AbstractContextManager[None]]
    """The fault, for the length of the block (kubectl, namespace)."""
    probe: str
    """What kubectl's error says once the fault is in force."""
    reason: str
    """The Degraded reason (and the Warning Event's)."""
    says: tuple[str, ...]
    """Patterns the condition's message must match."""
    quoted: str
    """A phrase of the refusal that the Warning and every runbook step must show."""


FAULTS = {
    "policy": Fault(
        _change_freeze,
        "ValidatingAdmissionPolicy",
        "ChildRejected",
        (re.escape(FREEZE_MESSAGE),),
        FREEZE_MESSAGE,
    ),
    "rbac": Fault(
        lambda kubectl, _: _without_deployment_patch(kubectl),
        "cannot patch",
        "ReconcileError",
        ("403", r'cannot patch resource \\?"deployments\\?"'),
        "cannot patch resource",
    ),
    "webhook-down": Fault(
        unreachable_webhook,
        "failed calling webhook",
        "ReconcileError",
        ("500", 'failed calling webhook "check.forescale-test.io"', "connection refused"),
        "failed calling webhook",
    ),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_refused_write_is_said_where_the_runbook_looks_and_lands_once_allowed(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorProcesses,
    prometheus: PrometheusServer,
    fault: Fault,
) -> None:
    operator = operators.start("operator", metrics_port=prometheus.operators[0].port)
    apply(kubectl, namespace, minimal(NAME, scaling={"minReplicas": 1, "maxReplicas": 3}))
    wait_condition(kubectl, namespace, NAME, "Ready")
    with fault.made_by(kubectl, namespace):
        eventually(lambda: _operator_refused(kubectl, namespace, fault.probe), 30, "the fault")
        _change_min_replicas(kubectl, namespace)
        try:
            reported = wait_condition(kubectl, namespace, NAME, "Degraded", reason=fault.reason)
        except AssertionError as error:
            raise AssertionError(f"{error}\noperator log:\n{operator.text()[-3000:]}") from None
        for pattern in fault.says:
            assert re.search(pattern, reported["message"]), (pattern, reported)
        said = events(kubectl, namespace, NAME)
        warnings = [e for e in said if e["reason"] == fault.reason and e["type"] == "Warning"]
        assert warnings and fault.quoted in warnings[0]["message"], warnings
        assert "InvalidSpec" not in {e["reason"] for e in said}
        _read_as_the_runbook_says(
            kubectl, namespace, prometheus, operator, reason=fault.reason, quoted=fault.quoted
        )
    _lands_once_allowed(kubectl, namespace)
