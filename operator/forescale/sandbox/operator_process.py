"""The operator as a sandbox component: ``forescale run`` in its own process.

Why a process and not kopf's in-process runner: the demo and the e2e tier should run the
operator the way a Deployment does -- its own interpreter, its own event loop, the
``forescale-operator`` kubeconfig bound only to manifests/rbac/role.yaml, pointed at
Prometheus by URL -- so what they show is what ships, and a crash in the operator is a
dead component with a log tail, not an exception inside the harness.

The sandbox runs it with short windows (reconcile every 2 s, a 10 s rate window over a
1 s scrape) so a spike plays out in minutes instead of the production quarter hour.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from forescale.sandbox.cluster import Cluster
from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import SupervisedProcess, wait_until

START_TIMEOUT = 90.0


def operator_argv(
    namespaces: Sequence[str],
    prometheus_url: str,
    *,
    metrics_port: int,
    health_port: int,
    python: str = sys.executable,
) -> list[str]:
    """The ``forescale run`` command line (every listener on 127.0.0.1)."""
    argv = [python, "-m", "forescale", "run"]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    return [
        *argv,
        f"--prometheus-url={prometheus_url}",
        f"--metrics-port={metrics_port}",
        "--metrics-host=127.0.0.1",
        f"--liveness-endpoint=http://127.0.0.1:{health_port}/healthz",
    ]


class OperatorProcess:
    """``forescale run -n NS...`` as the operator user, until stopped."""

    name = "forescale-operator"

    def __init__(
        self,
        namespaces: Sequence[str],
        prometheus_url: Callable[[], str] | str,
        *,
        reconcile_seconds: float = 2.0,
        rate_window_seconds: float = 10.0,
        log_name: str | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.namespaces = list(namespaces)
        self._prometheus_url = prometheus_url
        self.reconcile_seconds = reconcile_seconds
        self.rate_window_seconds = rate_window_seconds
        self.log_name = log_name or self.name
        self.process: SupervisedProcess | None = None
        self.metrics_port: int | None = metrics_port
        """Where /metrics listens (a free port when None): a FleetStack's
        ``operator_metrics_port`` is scraped by its Prometheus."""
        self.health_port: int | None = None

    def start(self, cluster: Cluster) -> None:
        access = cluster.require_access()
        source = self._prometheus_url
        url = source if isinstance(source, str) else source()
        self.metrics_port = self.metrics_port or free_port()
        self.health_port = free_port()
        self.process = SupervisedProcess(
            self.name,
            operator_argv(
                self.namespaces,
                url,
                metrics_port=self.metrics_port,
                health_port=self.health_port,
            ),
            cluster.logs_dir / f"{self.log_name}.log",
            env={
                "KUBECONFIG": str(access.operator_kubeconfig),
                "FORESCALE_RECONCILE_SECONDS": f"{self.reconcile_seconds:g}",
                "FORESCALE_RATE_WINDOW_SECONDS": f"{self.rate_window_seconds:g}",
                "PYTHONUNBUFFERED": "1",
            },
        )
        self.process.start()
        wait_until(
            self.alive,
            timeout=START_TIMEOUT,
            what="the operator's liveness endpoint",
            watch=[self.process],
            interval=0.5,
        )

    def alive(self) -> bool:
        """kopf's liveness endpoint answers 200 (the operator has started its watches)."""
        if self.health_port is None:
            return False
        try:
            url = f"http://127.0.0.1:{self.health_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=20)

    def processes(self) -> list[SupervisedProcess]:
        return [self.process] if self.process is not None else []
