"""Two operator replicas with kopf peering: only the higher-priority one acts.

Both run as real ``forescale run`` processes (each with its own peering identity) as the
operator's RBAC user; which one acted is read from their logs, where the reconciler logs
every Event it posts for the LLMDeployment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import apply, eventually, get, sample

pytestmark = pytest.mark.integration

PEERING = """
apiVersion: kopf.dev/v1
kind: KopfPeering
metadata:
  name: forescale
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Replica:
    """One ``forescale run`` process and its log."""

    def __init__(self, kubeconfig: Path, namespace: str, priority: int, log: Path) -> None:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "FORESCALE_RECONCILE_SECONDS": "1"}
        self.log = log
        self._out = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "forescale", "run", "--namespace", namespace,
                "--peering", "forescale", "--priority", str(priority), "--metrics-port", "0",
                "--liveness-endpoint", f"http://127.0.0.1:{_free_port()}/healthz",
            ],
            env=env, stdout=self._out, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()


@pytest.fixture
def replicas(
    kubectl: Kubectl,
    namespace: str,
    operator_kubeconfig: Path,
    llmd_crd: list[Path],
    tmp_path: Path,
) -> Iterator[tuple[Replica, Replica]]:
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=PEERING)
    leader = Replica(operator_kubeconfig, namespace, 100, tmp_path / "leader.log")
    standby = Replica(operator_kubeconfig, namespace, 10, tmp_path / "standby.log")
    try:
        yield leader, standby
    finally:
        kubectl("delete", "llmd", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
        leader.stop()
        standby.stop()


def test_only_the_leader_acts_and_the_standby_takes_over(
    kubectl: Kubectl, namespace: str, replicas: tuple[Replica, Replica]
) -> None:
    leader, standby = replicas
    eventually(lambda: "Pausing operations" in standby.text(), 60, "the standby to pause")
    assert "Pausing operations" not in leader.text()
    manifest = sample(
        "llmdeployment-minimal.yaml",
        podMetadata={"annotations": {"forescale.io/simulated-load-seconds": "2"}},
    )
    apply(kubectl, namespace, manifest)
    mark = f"{namespace}/qwen-small"
    eventually(lambda: mark in leader.text(), 60, "the leader to reconcile")
    eventually(
        lambda: (
            (get(kubectl, namespace, "llmd", "qwen-small") or {})
            .get("status", {})
            .get("readyReplicas")
            == 1
        ),
        60,
        "Ready",
    )
    time.sleep(3)
    assert mark not in standby.text(), "the paused standby acted too"

    leader.stop()
    manifest["spec"]["engine"] = {"maxNumSeqs": 32}
    apply(kubectl, namespace, manifest)
    eventually(
        lambda: (
            "--max-num-seqs=32"
            in (get(kubectl, namespace, "deployment", "qwen-small") or {})["spec"]["template"][
                "spec"
            ]["containers"][0]["args"]
        ),
        120,
        "the standby to take over and roll out the change",
    )
    assert mark in standby.text()
