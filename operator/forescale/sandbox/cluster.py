"""Compose supervised components into one local cluster that starts and stops as a unit.

Why a list of components: the same sandbox later grows Prometheus, the operator and the
simulated vLLM fleet. Each of those is one more :class:`Component` appended to the list;
the cluster starts them in order, stops them in reverse, and on any failure stops
everything already started before re-raising, so no caller can leak a process.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from forescale.sandbox import binaries
from forescale.sandbox.kubeapi import KubeApi
from forescale.sandbox.processes import (
    ComponentError,
    SupervisedProcess,
    install_signal_handlers,
)


class Component(Protocol):
    """One part of the sandbox (etcd, kube-apiserver, kwok, Prometheus, ...)."""

    name: str

    def start(self, cluster: Cluster) -> None:
        """Launch and block until ready; raise ComponentError (with log tail) if not."""

    def stop(self) -> None:
        """Stop; must be safe to call when never started or already stopped."""

    def processes(self) -> list[SupervisedProcess]:
        """The processes this component runs (for status and state files)."""


@dataclass
class ApiserverAccess:
    """How clients reach the sandbox apiserver; filled in by the apiserver component."""

    server: str
    ca_file: Path
    admin_token: str
    operator_token: str
    admin_kubeconfig: Path
    operator_kubeconfig: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def kubeconfig_for(self, user: str) -> Path:
        """Path of the kubeconfig of a static-token user (written on demand)."""
        return self.admin_kubeconfig.parent / f"{user}.kubeconfig"


class Cluster:
    """An ordered set of components sharing one work directory."""

    def __init__(
        self,
        components: list[Component] | None = None,
        workdir: Path | None = None,
        keep_workdir: bool = False,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="forescale-sandbox-")) if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.keep_workdir = keep_workdir
        self.components: list[Component] = list(components or [])
        self._started: list[Component] = []
        self.etcd_url: str | None = None
        self.access: ApiserverAccess | None = None
        self.extras: dict[str, Any] = {}

    @property
    def logs_dir(self) -> Path:
        """Where every component writes its log file."""
        path = self.workdir / "logs"
        path.mkdir(exist_ok=True)
        return path

    def copy_logs(self, out_dir: Path) -> None:
        """Copy the components' logs (and the fleet's, when one ran) to ``out_dir/logs``.

        The work directory goes away with the cluster; a run's results keep its logs next
        to them. A log over 20 MiB is left out (a component stuck in a loop)."""
        logs = out_dir / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True, exist_ok=True)
        for source in self.logs_dir.glob("*.log"):
            if source.stat().st_size < 20 * 1024 * 1024:
                shutil.copy2(source, logs / source.name)
        fleet = self.logs_dir / "fleet"
        if fleet.is_dir():
            shutil.copytree(fleet, logs / "fleet", dirs_exist_ok=True)

    def add(self, component: Component) -> None:
        """Append a component; if the cluster is running, start it now."""
        self.components.append(component)
        if self._started:
            component.start(self)
            self._started.append(component)

    def component(self, name: str) -> Component:
        """The component called ``name``."""
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(name)

    def require_access(self) -> ApiserverAccess:
        """Apiserver access details; raises if the apiserver has not been started."""
        if self.access is None:
            raise RuntimeError("the kube-apiserver component has not started yet")
        return self.access

    def kubectl(self, *args: str, input_text: str | None = None) -> str:
        """The real kubectl as the sandbox admin; raises ComponentError with its stderr."""
        access = self.require_access()
        result = subprocess.run(
            [str(binaries.find("kubectl")), f"--kubeconfig={access.admin_kubeconfig}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise ComponentError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def admin_api(self) -> KubeApi:
        """A loopback client authenticated as the admin user."""
        access = self.require_access()
        return KubeApi(access.server, access.admin_token, access.ca_file)

    def start(self) -> None:
        """Start every component in order; on failure stop what started and re-raise."""
        install_signal_handlers()
        try:
            for component in self.components:
                if component in self._started:
                    continue
                self._started.append(component)
                component.start(self)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop started components in reverse order; never raises for one that fails."""
        while self._started:
            component = self._started.pop()
            with contextlib.suppress(Exception):
                component.stop()
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def running_processes(self) -> list[SupervisedProcess]:
        """Processes of every started component."""
        return [process for component in self._started for process in component.processes()]

    def check(self) -> None:
        """Raise ComponentError (with log tail) if any process has died."""
        for process in self.running_processes():
            process.ensure_running()

    def state(self) -> dict[str, Any]:
        """A JSON-able description (pids, logs, kubeconfigs) for state files and status."""
        access = self.access
        return {
            "workdir": str(self.workdir),
            "server": access.server if access else None,
            "kubeconfig": str(access.admin_kubeconfig) if access else None,
            "operator_kubeconfig": str(access.operator_kubeconfig) if access else None,
            "etcd": self.etcd_url,
            "processes": [
                {"name": p.name, "pid": p.pid, "log": str(p.log_path)}
                for p in self.running_processes()
            ],
            **{key: value for key, value in self.extras.items() if isinstance(value, str | int)},
        }

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
