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


def _state(replica: Replica) -> str:
    """``paused`` or ``active``, from the last peering line kopf logged (none: paused)."""
    state = "paused"
    for line in replica.text().splitlines():
        if "Resuming operations" in line:
            state = "active"
        elif "Pausing operations" in line or "Pausing all operators" in line:
            state = "paused"
    return state


def _peers(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, object]]:
    """The operator replicas registered in the KopfPeering (identity -> record)."""
    peering = get(kubectl, namespace, "kopfpeering", "forescale") or {}
    return dict(peering.get("status") or {})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Replica:
    """One ``forescale run`` process and its log."""

    def __init__(self, kubeconfig: Path, namespace: str, priority: int, log: Path) -> None:
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "FORESCALE_RECONCILE_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
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

    def tail(self, lines: int = 40) -> str:
        """The end of the log, and the exit code if the process has died."""
        code = self.process.poll()
        state = "running" if code is None else f"exited with {code}"
        return f"--- {self.log.name} ({state}) ---\n" + "\n".join(self.text().splitlines()[-lines:])

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
    # kopf starts every replica paused and logs only changes of state: the leader logs
    # "Resuming operations"; a standby that sees the leader at once stays paused silently,
    # one that saw the peering empty first resumes and pauses a moment later.
    try:
        eventually(lambda: len(_peers(kubectl, namespace)) == 2, 120, "both peers to register")
        eventually(lambda: _state(leader) == "active", 60, "the leader to resume")
        eventually(lambda: _state(standby) == "paused", 60, "the standby to pause")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{leader.tail()}\n{standby.tail()}") from None
    priorities = sorted(peer.get("priority") for peer in _peers(kubectl, namespace).values())
    assert priorities == [10, 100]
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
    # The leader is gone, so the rollout above is the standby's work.
    assert _state(standby) == "active", standby.tail()
