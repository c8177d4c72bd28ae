"""kwok as a sandbox component: it plays kubelet for a pool of fake GPU nodes.

Why kwok: scheduling, GPU accounting and readiness timing are what the operator reacts
to, and kwok gives real Node and Pod objects for them without containers. It manages only
nodes labelled ``forescale.io/fake-gpu-node=true`` and uses the stages from
:mod:`forescale.sandbox.gpu_nodes` (no built-in ones), so it never touches anything else.

It also plays the kubelet's log endpoint: ``kubectl logs`` of a pod on a fake node reads
files kwok serves, the shared ones of its config's ``ClusterLogs`` for every pod, or a
pod's own through a ``Logs`` object (kwok's CRD, installed from the pinned kwok module
before kwok starts with ``--enable-crds=Logs``), which the fleet bridge creates for each
replica so that its ``vllm`` container shows that replica's log.
"""

from __future__ import annotations

from typing import Any

import yaml

from forescale.sandbox import binaries, upstream
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.gpu_nodes import (
    DEFAULT_LOAD_SECONDS,
    LOGGED_CONTAINERS,
    MANAGED_LABEL,
    OTHER_CONTAINERS,
    GpuNodePool,
    kwok_config,
    log_file,
    node_manifests,
)
from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import SupervisedProcess, wait_until

START_TIMEOUT = 60.0
POD_LOGS_DIR = "pod-logs"
"""Under the cluster's workdir: the files ``kubectl logs`` reads (``gpu_nodes.pod_logs``)."""


def _established(crd: dict[str, Any]) -> bool:
    conditions = crd.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


class Kwok:
    """kwok plus the Node objects of one :class:`GpuNodePool`."""

    name = "kwok"

    def __init__(
        self, pool: GpuNodePool | None = None, default_load_seconds: float = DEFAULT_LOAD_SECONDS
    ) -> None:
        self.pool = pool or GpuNodePool()
        self.default_load_seconds = default_load_seconds
        self.process: SupervisedProcess | None = None

    def processes(self) -> list[SupervisedProcess]:
        return [self.process] if self.process is not None else []

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def start(self, cluster: Cluster) -> None:
        access = cluster.require_access()
        port = free_port()
        config = cluster.workdir / "kwok.yaml"
        logs = cluster.workdir / POD_LOGS_DIR
        logs.mkdir(exist_ok=True)
        # A container that printed nothing has an empty log; one that never restarted has
        # no previous log (kubectl logs --previous is then an error, as from a kubelet).
        for container in (*LOGGED_CONTAINERS, OTHER_CONTAINERS):
            log_file(logs, container).touch()
        config.write_text(
            yaml.safe_dump_all(kwok_config(port, self.default_load_seconds, logs), sort_keys=False)
        )
        api = cluster.admin_api()
        # Per-pod logs (a replica's own vLLM log, gpu_nodes.replica_logs) are kwok's Logs
        # objects, which kwok watches only with its CRD served.
        logs_crd = upstream.kwok_logs_crd()
        api.apply(logs_crd)
        wait_until(
            lambda: _established(api.get(api.object_path(logs_crd))),
            timeout=START_TIMEOUT,
            what="kwok's Logs CRD to be Established",
        )
        self.process = SupervisedProcess(
            self.name,
            [
                str(binaries.find("kwok")),
                f"--config={config}",
                "--enable-crds=Logs",
                f"--kubeconfig={access.admin_kubeconfig}",
                f"--manage-nodes-with-label-selector={MANAGED_LABEL}=true",
                f"--server-address=127.0.0.1:{port}",
                "--node-ip=127.0.0.1",
                f"--node-port={port}",
            ],
            cluster.logs_dir / f"{self.name}.log",
            # kwok reads ~/.kwok/kwok.yaml by default; a private HOME keeps a user's
            # own kwok settings out of the sandbox.
            env={"HOME": str(cluster.workdir)},
        )
        self.process.start()
        for node in node_manifests(self.pool):
            api.apply(node)
        names = set(self.pool.node_names())

        def all_ready() -> bool:
            nodes = api.get(f"/api/v1/nodes?labelSelector={MANAGED_LABEL}%3Dtrue")["items"]
            ready = {
                node["metadata"]["name"]
                for node in nodes
                if any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in node.get("status", {}).get("conditions", [])
                )
            }
            return names <= ready

        wait_until(
            all_ready,
            timeout=START_TIMEOUT,
            what=f"{len(names)} fake GPU nodes to become Ready",
            watch=[self.process],
        )
        cluster.extras["gpu_nodes"] = len(names)
        cluster.extras["pod_logs"] = str(logs)
        cluster.extras["gpus_total"] = self.pool.total_gpus
