"""Prometheus as a sandbox component: the real server, started and stopped with the cluster.

:class:`~forescale.sandbox.prometheus_server.PrometheusServer` is a self-contained process
wrapper the Prometheus tests use on their own; the sandbox needs the same server as one more
entry in its ordered component list (started after the control plane, stopped before it,
its process shown by ``forescale sandbox status``), and needs it to exist before the fleet
bridge registers the first target. This adapter gives it that shape and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from forescale.sandbox.cluster import Cluster
from forescale.sandbox.processes import SupervisedProcess
from forescale.sandbox.prometheus_server import OperatorTarget, PrometheusServer, ScrapeTarget


class PrometheusComponent:
    """A :class:`PrometheusServer` in ``<workdir>/prometheus``; a target sink for the bridge."""

    name = "prometheus"

    def __init__(
        self,
        scrape_interval_seconds: float = 1.0,
        *,
        rule_files: Sequence[Path] = (),
        operators: Sequence[OperatorTarget] = (),
        alertmanagers: Sequence[str] = (),
    ) -> None:
        self.scrape_interval_seconds = scrape_interval_seconds
        self.rule_files = list(rule_files)
        self.operators = list(operators)
        self.alertmanagers = list(alertmanagers)
        self.server: PrometheusServer | None = None

    @property
    def url(self) -> str:
        return self.require().url

    def require(self) -> PrometheusServer:
        if self.server is None:
            raise RuntimeError("Prometheus has not been started")
        return self.server

    def start(self, cluster: Cluster) -> None:
        if self.server is None:
            self.server = PrometheusServer(
                cluster.workdir / "prometheus",
                scrape_interval_seconds=self.scrape_interval_seconds,
                rule_files=self.rule_files,
                operators=self.operators,
                alertmanagers=self.alertmanagers,
            )
        self.server.start()
        cluster.extras["prometheus"] = self.server.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def restart(self) -> None:
        """Start again after :meth:`stop` (same port, same TSDB), like a pod restart."""
        self.require().start()

    def processes(self) -> list[SupervisedProcess]:
        process = self.server.process if self.server is not None else None
        return [process] if process is not None else []

    def add_target(self, target: ScrapeTarget) -> None:
        self.require().add_target(target)

    def remove_target(self, namespace: str, pod: str) -> None:
        self.require().remove_target(namespace, pod)
