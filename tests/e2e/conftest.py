"""e2e tier: the full sandbox -- control plane, kwok, Prometheus, the simulated fleet.

The control-plane fixtures come from forescale.sandbox.pytest_plugin (as in the
integration tier); this file adds, once per session, the real Prometheus, the fleet
bridge (one ``forescale sim-server`` per scheduled forescale pod) and the router, and per
test the operator as its own ``forescale run`` process. A part that cannot start makes
the dependent tests FAIL with the reason, never skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from forescale.sandbox.cluster import Cluster
from forescale.sandbox.fleet_bridge import FleetBridge
from forescale.sandbox.operator_process import OperatorProcess
from forescale.sandbox.processes import ComponentError
from forescale.sandbox.prometheus_component import PrometheusComponent
from forescale.sandbox.pytest_plugin import *  # noqa: F403 - fixtures and hooks
from forescale.sandbox.pytest_plugin import (
    TEST_DEFAULT_LOAD_SECONDS,
    Kubectl,
    components_started,
)
from forescale.sandbox.routing import Router


@dataclass
class Fleet:
    """The session's Prometheus, fleet bridge and router."""

    cluster: Cluster
    prometheus: PrometheusComponent
    bridge: FleetBridge
    router: Router


@pytest.fixture(scope="session")
def fleet(sandbox_cluster: Cluster) -> Iterator[Fleet]:
    """Prometheus (1 s scrape), the bridge and the router on the session's cluster."""
    prometheus = PrometheusComponent(scrape_interval_seconds=1.0)
    # 30 s caps each termination wait: the preStop sleep of PreStopWait (125 s rendered)
    # must outlast test_drain's 15 s generations, which the 10 s endpoint-propagation sleep
    # of the other modes must not.
    bridge = FleetBridge(
        prometheus, default_load_seconds=TEST_DEFAULT_LOAD_SECONDS, drain_seconds=30
    )
    router = Router(bridge.backends)
    with components_started(sandbox_cluster, [prometheus, bridge, router], "the simulated fleet"):
        yield Fleet(sandbox_cluster, prometheus, bridge, router)


@pytest.fixture
def operator(
    fleet: Fleet, namespace: str, kubectl: Kubectl, llmd_crd: list[Path]
) -> Iterator[OperatorProcess]:
    """``forescale run -n <namespace>`` as the operator user, against the fleet's Prometheus.

    The CRD is installed first (``llmd_crd``).

    Its LLMDeployments are deleted while it still runs, so their children go before the
    namespace fixture's deletion starts.
    """
    process = OperatorProcess(
        [namespace],
        lambda: fleet.prometheus.url,
        reconcile_seconds=2,
        rate_window_seconds=10,
        log_name=f"operator-{namespace}",
    )
    try:
        process.start(fleet.cluster)
    except ComponentError as error:
        process.stop()
        pytest.fail(f"the operator did not start: {error}")
    try:
        yield process
    finally:
        kubectl("delete", "llmd", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
        process.stop()
