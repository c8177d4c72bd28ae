"""The standard sandbox stack: control plane plus fake GPU nodes, as one Cluster.

Why a separate module: :mod:`forescale.sandbox.cluster` must not know concrete components
(they import it), and the CLI, the pytest plugin and later the e2e harness should build
the very same stack from one function and then append their own components
(Prometheus, operator, simulated fleet) with ``Cluster.add``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forescale.sandbox import binaries
from forescale.sandbox.alertmanager_server import AlertmanagerComponent
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.controlplane import control_plane
from forescale.sandbox.fleet_bridge import FleetBridge
from forescale.sandbox.gpu_nodes import DEFAULT_LOAD_SECONDS, GpuNodePool
from forescale.sandbox.kwok import Kwok
from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import ComponentError
from forescale.sandbox.prometheus_component import PrometheusComponent
from forescale.sandbox.prometheus_server import OperatorTarget
from forescale.sandbox.routing import Router


def standard_cluster(
    *,
    workdir: Path | None = None,
    pool: GpuNodePool | None = None,
    default_load_seconds: float = DEFAULT_LOAD_SECONDS,
    operator_role_file: Path | None = None,
    with_nodes: bool = True,
    keep_workdir: bool = False,
) -> Cluster:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and (optionally) kwok.

    Nothing is started until ``Cluster.start()`` or ``with cluster:``.
    """
    cluster = Cluster(
        control_plane(operator_role_file=operator_role_file),
        workdir=workdir,
        keep_workdir=keep_workdir,
    )
    if with_nodes:
        cluster.add(Kwok(pool, default_load_seconds=default_load_seconds))
    return cluster


@dataclass
class FleetStack:
    """A standard cluster plus Alertmanager, Prometheus, the fleet bridge and the router, as
    one unit.

    The components are in ``cluster`` (started and stopped with it, in order: Alertmanager
    before the Prometheus that sends it the shipped rules' alerts, Prometheus before the
    bridge that registers targets in it, the router last); the fields are the same
    objects, for callers that need their URLs or state.
    """

    cluster: Cluster
    prometheus: PrometheusComponent
    bridge: FleetBridge
    router: Router
    alertmanager: AlertmanagerComponent
    operator_metrics_port: int = 0
    """Where the sandbox's Prometheus scrapes the operator (job ``forescale-operator``, as
    the shipped ServiceMonitor has it): an operator started with ``--metrics-port`` set to
    it is scraped, and the shipped alert rules evaluate its series."""


def fleet_stack(
    *,
    workdir: Path | None = None,
    pool: GpuNodePool | None = None,
    default_load_seconds: float = DEFAULT_LOAD_SECONDS,
    scrape_interval_seconds: float = 1.0,
    drain_seconds: float = 30.0,
    keep_workdir: bool = False,
) -> FleetStack:
    """The standard cluster with a live simulated fleet: what ``sandbox up``/``demo`` run.

    Nothing is started until ``Cluster.start()``.
    """
    cluster = standard_cluster(
        workdir=workdir,
        pool=pool,
        default_load_seconds=default_load_seconds,
        keep_workdir=keep_workdir,
    )
    operator_metrics_port = free_port()
    root = binaries.repo_root()
    if root is None:
        raise ComponentError(
            "cannot find the forescale checkout (hack/versions.env): the fleet stack runs "
            "its manifests/prometheus rules and Alertmanager configuration"
        )
    shipped = root / "manifests" / "prometheus"
    alertmanager = AlertmanagerComponent(shipped / "alertmanager.yaml")
    prometheus = PrometheusComponent(
        scrape_interval_seconds,
        rule_files=[shipped / "rules.yaml"],
        operators=[
            OperatorTarget(f"127.0.0.1:{operator_metrics_port}", pod="forescale-operator-sandbox")
        ],
        alertmanagers=[alertmanager.address],
    )
    bridge = FleetBridge(
        prometheus, default_load_seconds=default_load_seconds, drain_seconds=drain_seconds
    )
    router = Router(bridge.backends)
    cluster.add(alertmanager)
    cluster.add(prometheus)
    cluster.add(bridge)
    cluster.add(router)
    return FleetStack(cluster, prometheus, bridge, router, alertmanager, operator_metrics_port)
