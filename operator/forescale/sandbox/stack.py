"""The standard sandbox stack: control plane plus fake GPU nodes, as one Cluster.

Why a separate module: :mod:`forescale.sandbox.cluster` must not know concrete components
(they import it), and the CLI, the pytest plugin and later the e2e harness should build
the very same stack from one function and then append their own components
(Prometheus, operator, simulated fleet) with ``Cluster.add``.
"""

from __future__ import annotations

from pathlib import Path

from forescale.sandbox.cluster import Cluster
from forescale.sandbox.controlplane import control_plane
from forescale.sandbox.gpu_nodes import DEFAULT_LOAD_SECONDS, GpuNodePool
from forescale.sandbox.kwok import Kwok


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
