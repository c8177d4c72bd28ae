"""A real Prometheus (the Debian package's binary) scraping simulated vLLM replicas.

The sandbox and the Prometheus integration tests need the real query engine (``rate``,
``histogram_quantile``, staleness) because that is what the reader's PromQL runs against in
a cluster; a fake would only test our assumptions about it. The packaged service is never
used: each ``PrometheusServer`` runs its own process bound to 127.0.0.1 on a free port, with
its own temporary TSDB, config and log, and is stopped by whoever started it.

Targets come from ``file_sd_configs``: a JSON file this class rewrites atomically (write,
then rename) as replicas come and go, which Prometheus picks up through inotify. Each
target carries the labels ``namespace``, ``pod`` and ``llmdeployment`` -- exactly what the
PodMonitor forescale renders produces in a cluster through relabeling
(``__meta_kubernetes_namespace`` -> ``namespace``, ``__meta_kubernetes_pod_name`` -> ``pod``,
the pod label ``forescale.io/llmdeployment`` -> ``llmdeployment``), so the reader's queries
are identical in both places. Targets must be loopback addresses: simulated pods' cluster
IPs are fake and must never be dialled.
"""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from forescale.metrics.promql import duration
from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import ComponentError, SupervisedProcess, wait_until

PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
INSTALL_HINT = "install the Debian prometheus package (make install)"
_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class ScrapeTarget:
    """One simulated replica: where to scrape it and whose pod it stands for."""

    address: str
    """``127.0.0.1:PORT`` (loopback only)."""
    namespace: str
    pod: str
    llmdeployment: str

    def __post_init__(self) -> None:
        host, _, port = self.address.rpartition(":")
        host = host.strip("[]")
        if not port.isdigit() or not _is_loopback(host):
            raise ValueError(f"scrape target {self.address!r} is not a loopback host:port")


@dataclass(frozen=True)
class OperatorTarget:
    """The operator's /metrics, scraped as the shipped ServiceMonitor has it scraped: job
    ``forescale-operator``, ``honor_labels`` (its series carry the LLMDeployment's
    namespace), and the operator pod's own namespace and name as target labels."""

    address: str
    namespace: str = "forescale-system"
    pod: str = "forescale-operator-0"

    def __post_init__(self) -> None:
        ScrapeTarget(self.address, self.namespace, self.pod, "")  # the same loopback check

    @property
    def port(self) -> int:
        """The port the operator's ``--metrics-port`` must name to be scraped."""
        return int(self.address.rpartition(":")[2])


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def targets_document(targets: Iterable[ScrapeTarget]) -> list[dict[str, Any]]:
    """The file_sd JSON: one group per target, carrying the PodMonitor-equivalent labels."""
    return [
        {
            "targets": [t.address],
            "labels": {"namespace": t.namespace, "pod": t.pod, "llmdeployment": t.llmdeployment},
        }
        for t in sorted(targets, key=lambda t: (t.namespace, t.pod))
    ]


def operators_document(operators: Iterable[OperatorTarget]) -> list[dict[str, Any]]:
    """The operator job's file_sd JSON: each operator with its pod's namespace and name."""
    return [
        {"targets": [o.address], "labels": {"namespace": o.namespace, "pod": o.pod}}
        for o in sorted(operators, key=lambda o: o.address)
    ]


def config_document(
    targets_file: Path,
    scrape_interval_seconds: float,
    *,
    operators_file: Path | None = None,
    rule_files: Sequence[Path] = (),
    alertmanagers: Sequence[str] = (),
) -> dict[str, Any]:
    """The Prometheus configuration (JSON is valid YAML): the vLLM scrape job and, where
    given, the operator's job (targets from ``operators_file``), alerting rule files and
    the Alertmanagers (``127.0.0.1:PORT``) their alerts are sent to."""
    interval = duration(scrape_interval_seconds)
    scrape_configs: list[dict[str, Any]] = [
        {
            "job_name": "vllm",
            "metrics_path": "/metrics",
            "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": interval}],
        }
    ]
    if operators_file is not None:
        scrape_configs.append(
            {
                "job_name": "forescale-operator",
                "metrics_path": "/metrics",
                "honor_labels": True,
                "file_sd_configs": [{"files": [str(operators_file)], "refresh_interval": interval}],
            }
        )
    document: dict[str, Any] = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "scrape_configs": scrape_configs,
    }
    if rule_files:
        document["rule_files"] = [str(path) for path in rule_files]
    if alertmanagers:
        document["alerting"] = {
            "alertmanagers": [
                {"api_version": "v2", "static_configs": [{"targets": list(alertmanagers)}]}
            ]
        }
    return document


def _write_atomically(path: Path, document: object) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    os.replace(temporary, path)


class PrometheusServer:
    """A Prometheus process on 127.0.0.1 with file-based service discovery.

    ``start()`` after ``stop()`` restarts it on the same port with the same TSDB, the way a
    Prometheus pod restart looks to the operator.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        scrape_interval_seconds: float = 1.0,
        binary: Path = PROMETHEUS_BINARY,
        ready_timeout_seconds: float = 30.0,
        rule_files: Sequence[Path] = (),
        operators: Sequence[OperatorTarget] = (),
        alertmanagers: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.rule_files = list(rule_files)
        self.alertmanagers = list(alertmanagers)
        self.operators = list(operators)
        self.scrape_interval_seconds = scrape_interval_seconds
        self.binary = binary
        self.ready_timeout_seconds = ready_timeout_seconds
        self.targets_file = workdir / "targets.json"
        self.operators_file = workdir / "operators.json"
        self.config_file = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        self.port: int | None = None
        self._targets: dict[tuple[str, str], ScrapeTarget] = {}
        self._process: SupervisedProcess | None = None

    @property
    def process(self) -> SupervisedProcess | None:
        """The Prometheus process (None before the first start), for status listings."""
        return self._process

    @property
    def url(self) -> str:
        """Base URL of the HTTP API (valid after the first start)."""
        if self.port is None:
            raise RuntimeError("Prometheus has not been started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Launch Prometheus and return once ``/-/ready`` answers 200."""
        if not self.binary.is_file():
            raise ComponentError(f"{self.binary} not found: {INSTALL_HINT}")
        if self._process is not None and self._process.running():
            raise RuntimeError("Prometheus is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.targets_file, targets_document(self._targets.values()))
        _write_atomically(self.operators_file, operators_document(self.operators))
        _write_atomically(
            self.config_file,
            config_document(
                self.targets_file,
                self.scrape_interval_seconds,
                operators_file=self.operators_file,
                rule_files=self.rule_files,
                alertmanagers=self.alertmanagers,
            ),
        )
        if self.port is None:
            self.port = free_port()
        self._process = SupervisedProcess(
            "prometheus",
            [
                str(self.binary),
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                "--storage.tsdb.retention.time=1d",
                f"--web.listen-address=127.0.0.1:{self.port}",
                # The alerts' links (generatorURL) name this address, not the host's name.
                f"--web.external-url={self.url}/",
            ],
            self.log_path,
        )
        self._process.start()
        wait_until(
            self.ready,
            timeout=self.ready_timeout_seconds,
            what=f"Prometheus ready on {self.url}",
            watch=[self._process],
        )

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL); the TSDB and port are kept for restart."""
        if self._process is not None:
            self._process.stop()

    def running(self) -> bool:
        """True while the Prometheus process is alive."""
        return self._process is not None and self._process.running()

    def ready(self) -> bool:
        """True when ``/-/ready`` answers 200."""
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def set_targets(self, targets: Iterable[ScrapeTarget]) -> None:
        """Replace the scraped replicas (atomic rewrite of the file_sd JSON)."""
        self._targets = {(t.namespace, t.pod): t for t in targets}
        self._write_targets()

    def add_target(self, target: ScrapeTarget) -> None:
        """Start scraping one more replica."""
        self._targets[(target.namespace, target.pod)] = target
        self._write_targets()

    def remove_target(self, namespace: str, pod: str) -> None:
        """Stop scraping a replica (its series go stale at Prometheus' next SD refresh)."""
        self._targets.pop((namespace, pod), None)
        self._write_targets()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector (raises OSError or ValueError on failure)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise ValueError(f"query {promql!r} failed: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def healthy_pods(self) -> set[tuple[str, str]]:
        """``(namespace, pod)`` of replica targets whose last scrape succeeded."""
        with urllib.request.urlopen(f"{self.url}/api/v1/targets?state=active", timeout=5) as r:
            body = json.load(r)
        return {
            (t["labels"]["namespace"], t["labels"]["pod"])
            for t in body["data"]["activeTargets"]
            if t.get("health") == "up" and t["labels"].get("job") == "vllm"
        }

    def wait_until_scraped(self, timeout_seconds: float = 30.0) -> None:
        """Block until every configured target has been scraped successfully."""
        wanted = set(self._targets)
        watch = [self._process] if self._process is not None else []
        wait_until(
            lambda: wanted <= self.healthy_pods(),
            timeout=timeout_seconds,
            what=f"Prometheus to scrape {sorted(wanted)}",
            watch=watch,
        )

    def _write_targets(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.targets_file, targets_document(self._targets.values()))

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
