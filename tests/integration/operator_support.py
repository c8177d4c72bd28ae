"""Running the operator against the sandbox as its own least-privilege user, and polling.

The operator runs in-process with kopf's ``KopfRunner`` (the documented way to test kopf
operators), authenticated through the ``forescale-operator`` kubeconfig, so every API call
it makes is checked against manifests/rbac/role.yaml exactly as in a cluster. What only
a process can show (several operators at once, a restart with another environment: the
operator's settings are read once per process) runs as a real ``forescale run``
(:class:`OperatorProcess`), as the same user.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kopf.testing import KopfRunner

from forescale.sandbox.ports import free_port
from forescale.sandbox.pytest_plugin import Kubectl
from tests.conftest import SAMPLES
from tests.polling import eventually

T = TypeVar("T")


@contextlib.contextmanager
def running_operator(
    operator_kubeconfig: Path,
    namespace: str,
    delete_on_exit: Kubectl | None = None,
    *,
    all_namespaces: bool = False,
) -> Iterator[KopfRunner]:
    """The operator, watching ``namespace`` (or every namespace), until the block ends.

    With ``delete_on_exit`` (a kubectl), the namespace's LLMDeployments are deleted before
    the operator stops.
    """
    saved = {k: os.environ.get(k) for k in ("KUBECONFIG", "FORESCALE_RECONCILE_SECONDS")}
    os.environ["KUBECONFIG"] = str(operator_kubeconfig)
    os.environ["FORESCALE_RECONCILE_SECONDS"] = "1"
    scope = ["--all-namespaces"] if all_namespaces else ["--namespace", namespace]
    args = ["run", "--standalone", *scope, "-m", "forescale.handlers"]
    try:
        with KopfRunner(args, timeout=60) as runner:
            yield runner
            if delete_on_exit is not None:
                # No finalizer is involved (forescale adds none); deleting while the
                # operator runs just lets the test's namespace go quickly.
                delete_on_exit(
                    "delete", "llmd", "--all", "-n", namespace, "--wait=true", "--timeout=60s"
                )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _collect_cancelled_streams()
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output


class OperatorProcess:
    """One real ``forescale run --namespace NAMESPACE`` process and its log.

    It authenticates with ``kubeconfig`` (the operator's RBAC user), passes every second
    (``FORESCALE_RECONCILE_SECONDS=1``), and listens only on 127.0.0.1: its kopf liveness
    endpoint on a free port, its /metrics on ``metrics_port`` (0, the default: off).
    ``args`` are further ``forescale run`` options (``--shard a``); ``env`` is laid over
    this process's environment (``FORESCALE_DEFAULT_IMAGE``: the operator Deployment's
    env, which a user edits).
    """

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        metrics_port: int = 0,
        all_namespaces: bool = False,
    ) -> None:
        environ = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "FORESCALE_RECONCILE_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log = log
        self._out = log.open("w")
        self.metrics_port, self.health_port = metrics_port, free_port()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "forescale", "run",
                *(["--all-namespaces"] if all_namespaces else ["--namespace", namespace]),
                "--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1",
                "--liveness-endpoint", f"http://127.0.0.1:{self.health_port}/healthz", *args,
            ],
            env=environ, stdout=self._out, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text()

    def scrape(self) -> str:
        """Its /metrics page (started with a ``metrics_port``)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())

    def stop(self) -> int:
        """SIGTERM, as the kubelet stops a pod (after SIGCONT: a test may have frozen it);
        killed if still running after 30 s.

        Returns the exit code (negative: the signal that ended it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        return self.process.returncode


class OperatorProcesses:
    """The ``forescale run`` processes one test starts, by name (each logs to
    ``<name>.log``); see the ``operators`` fixture, which stops them."""

    def __init__(self, kubeconfig: Path, namespace: str, logs: Path) -> None:
        self._kubeconfig, self._namespace, self._logs = kubeconfig, namespace, logs
        self.started: dict[str, OperatorProcess] = {}

    def start(
        self,
        name: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        metrics_port: int = 0,
        all_namespaces: bool = False,
    ) -> OperatorProcess:
        operator = OperatorProcess(
            self._kubeconfig,
            self._namespace,
            self._logs / f"{name}.log",
            *args,
            env=env,
            metrics_port=metrics_port,
            all_namespaces=all_namespaces,
        )
        self.started[name] = operator
        return operator

    def __getitem__(self, name: str) -> OperatorProcess:
        return self.started[name]


def _collect_cancelled_streams() -> None:
    """Collect the sockets of kopf's cancelled watch streams now, quietly.

    When KopfRunner stops, kopf cancels its watch requests mid-stream and closes its event
    loop; aiohttp leaves those connections' transports to the garbage collector, whose
    ResourceWarning (an error under ``filterwarnings = error``) would otherwise surface in
    whichever later test happens to trigger a collection. Our own code holds no asyncio
    sockets, so only kopf's shutdown is excused, and only here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def operator_username(kubectl: Kubectl) -> str:
    """The operator's user as the API server authenticates it (what a policy's
    ``request.userInfo`` or a FlowSchema's subject matches)."""
    answer = kubectl.as_operator("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert answer.returncode == 0 and answer.stdout.strip(), answer.stderr
    return answer.stdout.strip()


def sample(name: str = "llmdeployment.yaml", **spec_changes: Any) -> dict[str, Any]:
    """A sample manifest with some top-level spec fields replaced."""
    manifest: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    manifest["spec"].update(spec_changes)
    return manifest


def minimal(name: str = "qwen-small", **spec_changes: Any) -> dict[str, Any]:
    """The minimal sample named ``name``, its pods Ready 1 s after they start (kwok)."""
    load = {"annotations": {"forescale.io/simulated-load-seconds": "1"}}
    manifest = sample("llmdeployment-minimal.yaml", podMetadata=load, **spec_changes)
    manifest["metadata"]["name"] = name
    return manifest


def apply(kubectl: Kubectl, namespace: str, manifest: dict[str, Any]) -> None:
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))


def get(kubectl: Kubectl, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    """The object as JSON, or None when it does not exist."""
    result = kubectl("get", kind, name, "-n", namespace, "-o", "json")
    if result.returncode != 0:
        return None
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    """A condition of an object's status (empty dict when absent)."""
    for cond in ((obj or {}).get("status") or {}).get("conditions", []) or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def wait_condition(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    kind: str,
    *,
    status: str = "True",
    reason: str | None = None,
    timeout: float = 60,
) -> dict[str, Any]:
    """Wait until the LLMDeployment's ``kind`` condition has ``status`` (and ``reason``);
    returns it."""

    def reached() -> dict[str, Any] | None:
        now = condition(get(kubectl, namespace, "llmd", name), kind)
        wanted = now.get("status") == status and reason in (None, now.get("reason"))
        return now if wanted else None

    what = f"{kind}={status}" + (f" {reason}" if reason else "") + f" on {namespace}/{name}"
    found: dict[str, Any] = eventually(reached, timeout, what)
    return found


def events(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    """Events recorded on the LLMDeployment ``name``."""
    out = kubectl.ok(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={name},involvedObject.kind=LLMDeployment",
        "-o",
        "json",
    )
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def create_token_secret(kubectl: Kubectl, namespace: str, name: str = "hf-token") -> None:
    kubectl.ok("create", "secret", "generic", name, "-n", namespace, "--from-literal=token=x")
