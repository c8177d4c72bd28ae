"""Integration tier: real etcd, kube-apiserver, controllers, scheduler and kwok.

The fixtures live in forescale.sandbox.pytest_plugin so the e2e tier can reuse them; the
one here runs the operator as processes, which only this tier does.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from forescale.sandbox.pytest_plugin import *  # noqa: F403 - fixtures and hooks
from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import OperatorProcesses


@pytest.fixture
def operators(
    kubectl: Kubectl,
    namespace: str,
    operator_kubeconfig: Path,
    llmd_crd: list[Path],
    tmp_path: Path,
) -> Iterator[OperatorProcesses]:
    """``forescale run`` processes in the test's namespace; at the end the namespace's
    LLMDeployments are deleted while they still run, then each is stopped."""
    started = OperatorProcesses(operator_kubeconfig, namespace, tmp_path)
    try:
        yield started
    finally:
        kubectl("delete", "llmd", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
        for operator in started.started.values():
            operator.stop()
