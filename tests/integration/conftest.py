"""Integration tier: real etcd, kube-apiserver, controllers, scheduler and kwok.

The fixtures live in forescale.sandbox.pytest_plugin so the e2e tier can reuse them; the
ones here run the operator as processes and a Prometheus evaluating the alert rules over
them, which only this tier does.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from forescale.sandbox.ports import free_port
from forescale.sandbox.prometheus_server import OperatorTarget, PrometheusServer
from forescale.sandbox.pytest_plugin import *  # noqa: F403 - fixtures and hooks
from forescale.sandbox.pytest_plugin import Kubectl
from tests.unit.manifests.manifest_support import RULES_FILE

from .operator_support import OperatorProcesses
from .prometheus_support import running_prometheus


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


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    """A real Prometheus evaluating the shipped alert rules over the operator's /metrics,
    scraped as the ServiceMonitor has it scraped, on a free port (``operators[0].port``:
    the ``--metrics-port`` to start the operator with)."""
    with running_prometheus(
        tmp_path / "prometheus",
        rule_files=[RULES_FILE],
        operators=[OperatorTarget(f"127.0.0.1:{free_port()}")],
    ) as server:
        yield server
