"""A real Alertmanager (the Debian package's binary) behind the sandbox's Prometheus.

The shipped alert rules only page someone through Alertmanager, and
``manifests/prometheus/alertmanager.yaml`` says how: grouping, the page and ticket
receivers, the inhibit rule. The sandbox runs that very file, so ``forescale sandbox up``
shows each firing alert where an SRE would look for it, already routed, and the hop from
Prometheus' rule evaluation to a receiver is the real one (the Prometheus configuration's
``alerting`` block, its notifier, Alertmanager's v2 API).

Like :mod:`forescale.sandbox.prometheus_server`, the packaged service is never used: each
``AlertmanagerServer`` is its own process on 127.0.0.1 with its own storage and log, and
gossip clustering is off (``--cluster.listen-address=``), so nothing else listens.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from forescale.sandbox.cluster import Cluster
from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import ComponentError, SupervisedProcess, wait_until

BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
"""Debian's name for the binary first, upstream's second."""
INSTALL_HINT = "install the Debian prometheus-alertmanager package (make install)"


def find_binary() -> Path:
    """The Alertmanager binary on PATH (or in /usr/bin, where Debian puts it)."""
    for name in BINARY_NAMES:
        found = shutil.which(name) or shutil.which(name, path="/usr/bin")
        if found is not None:
            return Path(found)
    raise ComponentError(f"no {' or '.join(BINARY_NAMES)} binary: {INSTALL_HINT}")


class AlertmanagerServer:
    """An Alertmanager process on 127.0.0.1 with a given configuration file."""

    def __init__(
        self,
        config: Path,
        workdir: Path | None = None,
        *,
        ready_timeout_seconds: float = 30.0,
    ) -> None:
        self.config = config
        self.workdir = workdir
        self.port = free_port()
        self.ready_timeout_seconds = ready_timeout_seconds
        self.process: SupervisedProcess | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: what Prometheus' ``alerting`` block names."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> None:
        """Launch Alertmanager and return once ``/-/ready`` answers 200."""
        if not self.config.is_file():
            raise ComponentError(f"Alertmanager configuration {self.config} not found")
        if self.workdir is None:
            raise ComponentError("Alertmanager has no working directory")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = SupervisedProcess(
            "alertmanager",
            [
                str(find_binary()),
                f"--config.file={self.config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address={self.address}",
                f"--web.external-url={self.url}/",
                "--cluster.listen-address=",
            ],
            self.workdir / "alertmanager.log",
        )
        self.process.start()
        wait_until(
            self.ready,
            timeout=self.ready_timeout_seconds,
            what=f"Alertmanager ready on {self.url}",
            watch=[self.process],
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def ready(self) -> bool:
        """True when ``/-/ready`` answers 200."""
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def api(self, path: str, body: Any = None) -> Any:
        """``path`` of its HTTP API: a GET, or a POST of ``body`` as JSON; the answer parsed."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts it holds (v2 API): labels, annotations, status, receivers."""
        found: list[dict[str, Any]] = self.api("/api/v2/alerts")
        return found


def routed_alert_lines(alerts: list[dict[str, Any]]) -> list[str]:
    """Each alert as a line: its name, where it went, its state and its labels."""
    lines = []
    for alert in sorted(alerts, key=lambda a: sorted(a["labels"].items())):
        labels = dict(alert["labels"])
        name = labels.pop("alertname", "?")
        receivers = ",".join(r["name"] for r in alert.get("receivers", [])) or "-"
        state = alert.get("status", {}).get("state", "?")
        shown = " ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        lines.append(f"{name} -> {receivers} ({state}) {shown}")
    return lines


class AlertmanagerComponent:
    """An :class:`AlertmanagerServer` in ``<workdir>/alertmanager`` as a sandbox component,
    started before the Prometheus that sends to it (its address is known up front, for
    Prometheus' configuration)."""

    name = "alertmanager"

    def __init__(self, config: Path) -> None:
        self.server = AlertmanagerServer(config)

    @property
    def address(self) -> str:
        return self.server.address

    def require(self) -> AlertmanagerServer:
        if self.server.process is None:
            raise RuntimeError("Alertmanager has not been started")
        return self.server

    def start(self, cluster: Cluster) -> None:
        if self.server.workdir is None:
            self.server.workdir = cluster.workdir / "alertmanager"
        self.server.start()
        cluster.extras["alertmanager"] = self.server.url

    def stop(self) -> None:
        self.server.stop()

    def processes(self) -> list[SupervisedProcess]:
        return [self.server.process] if self.server.process is not None else []
