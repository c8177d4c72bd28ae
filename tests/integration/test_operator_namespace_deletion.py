"""Deleting a namespace with an LLMDeployment in it, while the operator serves it.

A team's namespace is torn down (by hand, or by Argo CD pruning an Application): the
namespace controller deletes the LLMDeployment and its children in no particular order,
and the API server refuses new content in the namespace from then on. The operator must
not hold the deletion up (it adds no finalizer) and must not crash on the refusals; and
once the LLMDeployment is gone its per-deployment series must go too, or the alerts keyed
on them (``LLMDeploymentReplicasNotReady``, ``LLMDeploymentDegraded``) would page about a
deployment that no longer exists.
"""

from __future__ import annotations

import pytest

from forescale.sandbox.ports import free_port
from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import (
    OperatorProcess,
    OperatorProcesses,
    apply,
    eventually,
    minimal,
    wait_condition,
)

pytestmark = pytest.mark.integration


def _series(operator: OperatorProcess, namespace: str) -> list[str]:
    """The operator's /metrics lines labelled with ``namespace``."""
    return [line for line in operator.scrape().splitlines() if f'namespace="{namespace}"' in line]


def test_a_deleted_namespace_goes_and_takes_its_series_with_it(
    kubectl: Kubectl, namespace: str, operators: OperatorProcesses
) -> None:
    doomed = f"{namespace[:52]}-gone"
    kubectl.ok("create", "namespace", doomed)
    operator = operators.start("operator", metrics_port=free_port(), all_namespaces=True)
    try:
        manifest = minimal(scaling={"minReplicas": 2, "maxReplicas": 3})
        apply(kubectl, doomed, manifest)
        wait_condition(kubectl, doomed, manifest["metadata"]["name"], "Ready")
        assert any("forescale_desired_replicas" in s for s in _series(operator, doomed))

        deleted = kubectl("delete", "namespace", doomed, "--wait=true", "--timeout=90s")
        assert deleted.returncode == 0, f"{deleted.stderr}\n{operator.text()[-3000:]}"
        assert operator.process.poll() is None, operator.text()[-3000:]
        try:
            eventually(lambda: not _series(operator, doomed), 30, "no series of the namespace")
        except AssertionError as error:
            left = "\n".join(_series(operator, doomed))
            raise AssertionError(f"{error}; still exported:\n{left}") from None
    finally:
        kubectl("delete", "namespace", doomed, "--ignore-not-found", "--wait=false")
