"""Two operator replicas with Lease leader election: one writer at every instant.

The finding this pins down: with kopf peering, a leader frozen by SIGSTOP for 75 s and
then resumed acted *together* with the standby that had taken over. Here both replicas are
real ``forescale run --leader-elect`` processes under the operator's RBAC user (plus the
Lease Role of manifests/rbac/leader_election_role.yaml); each logs every write it sends
(FORESCALE_LOG_WRITES=1), and the test checks from those logs that the write periods of
the two never interleave: all of the old leader's writes end before the first write of
the new one, including after the old leader resumes.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.sandbox.cluster import Cluster
from forescale.sandbox.controlplane import Etcd
from forescale.sandbox.ports import free_port
from forescale.sandbox.pytest_plugin import Kubectl
from tests.conftest import SAMPLES

from .operator_support import OperatorProcess, apply, events, eventually, get, minimal, sample

pytestmark = pytest.mark.integration

LEASE = "forescale"
# Short timings so the test takes seconds: renew deadline < lease duration.
TIMINGS = ("--lease-duration=6", "--renew-deadline=4", "--retry-period=1")
ROLE_FILE = SAMPLES.parent / "rbac" / "leader_election_role.yaml"


class Replica(OperatorProcess):
    """One ``forescale run`` replica contending for the Lease, logging its writes."""

    def __init__(self, kubeconfig: Path, namespace: str, log: Path) -> None:
        super().__init__(
            kubeconfig, namespace, log, f"--leader-elect={namespace}/{LEASE}", *TIMINGS,
            env={"FORESCALE_LOG_WRITES": "1"}, metrics_port=free_port(),
        )  # fmt: skip

    def fetch(self, port: int, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return str(answer.read().decode())

    def writes(self) -> list[float]:
        """Times (from the log's own timestamps) of every write this replica sent."""
        out = []
        for line in self.text().splitlines():
            if " WRITE " in line:
                stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                out.append(stamp.timestamp())
        return out

    def tail(self, lines: int = 40) -> str:
        code = self.process.poll()
        state = "running" if code is None else f"exited with {code}"
        return f"--- {self.log.name} ({state}) ---\n" + "\n".join(self.text().splitlines()[-lines:])


def _grant_lease(kubectl: Kubectl, namespace: str) -> None:
    """The Lease Role of the manifests, in the test namespace, for the operator user."""
    role, binding = yaml.safe_load_all(ROLE_FILE.read_text())
    for obj in (role, binding):
        obj["metadata"]["namespace"] = namespace
    role["rules"][1]["resourceNames"] = [LEASE]
    binding["subjects"] = [
        {"kind": "User", "name": "forescale-operator", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    kubectl.ok("apply", "-f", "-", input=yaml.safe_dump_all([role, binding]))


def _holder(kubectl: Kubectl, namespace: str) -> str:
    lease = get(kubectl, namespace, "lease", LEASE) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


@pytest.fixture
def replicas(
    kubectl: Kubectl,
    namespace: str,
    operator_kubeconfig: Path,
    llmd_crd: list[Path],
    tmp_path: Path,
) -> Iterator[tuple[Replica, Replica]]:
    _grant_lease(kubectl, namespace)
    first = Replica(operator_kubeconfig, namespace, tmp_path / "first.log")
    try:
        eventually(lambda: _holder(kubectl, namespace) != "", 60, "the first replica to lead")
    except AssertionError as error:
        first.stop()
        raise AssertionError(f"{error}\n{first.tail()}") from None
    second = Replica(operator_kubeconfig, namespace, tmp_path / "second.log")
    try:
        yield first, second
    finally:
        kubectl("delete", "llmd", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
        first.stop()
        second.stop()


def _assert_never_together(old: Replica, new: Replica, context: str) -> None:
    """Every write of ``old`` precedes every write of ``new`` (one writer at a time)."""
    old_writes, new_writes = old.writes(), new.writes()
    assert new_writes, f"{context}: the new leader never wrote\n{new.tail()}"
    if old_writes:
        overlap = [t for t in old_writes if t >= min(new_writes)]
        assert not overlap, (
            f"{context}: {len(overlap)} write(s) of the old leader at or after the new "
            f"leader's first\n{old.tail()}\n{new.tail()}"
        )


def test_a_frozen_leader_never_writes_alongside_its_successor(
    kubectl: Kubectl, namespace: str, replicas: tuple[Replica, Replica]
) -> None:
    first, second = replicas
    manifest = sample(
        "llmdeployment-minimal.yaml",
        podMetadata={"annotations": {"forescale.io/simulated-load-seconds": "1"}},
    )
    manifest["spec"]["scaling"] = {"policy": "fixed", "maxReplicas": 4}
    manifest["spec"]["replicas"] = 1
    apply(kubectl, namespace, manifest)
    eventually(
        lambda: (
            (get(kubectl, namespace, "llmd", "qwen-small") or {})
            .get("status", {})
            .get("readyReplicas")
            == 1
        ),
        60,
        f"Ready under the first leader\n{first.tail()}",
    )
    assert first.writes() and not second.writes(), second.tail()
    first_identity = _holder(kubectl, namespace)

    # Freeze the leader well past the lease duration; the standby must take over.
    first.process.send_signal(signal.SIGSTOP)
    eventually(
        lambda: _holder(kubectl, namespace) not in ("", first_identity),
        30,
        f"the standby to take the Lease\n{second.tail()}",
    )
    manifest["spec"]["replicas"] = 2
    apply(kubectl, namespace, manifest)
    eventually(
        lambda: (
            (get(kubectl, namespace, "deployment", "qwen-small") or {})["spec"]["replicas"] == 2
        ),
        30,
        f"the new leader to act\n{second.tail()}",
    )
    time.sleep(4)
    first.process.send_signal(signal.SIGCONT)
    # The resumed replica sees the Lease taken and stays passive; meanwhile scale events
    # keep both busy if they were both acting.
    for replicas_now in (3, 1, 2):
        manifest["spec"]["replicas"] = replicas_now
        apply(kubectl, namespace, manifest)
        time.sleep(3)
    _assert_never_together(first, second, "after SIGSTOP/SIGCONT")
    assert "is no longer the leader" in first.text() or not [
        t for t in first.writes() if t > min(second.writes())
    ]
    assert _holder(kubectl, namespace) != first_identity
    # The former leader no longer exports the deployment's series (under the rules'
    # max by, its last values would outvote the leader's); the leader does.
    eventually(
        lambda: not _labelled(first.fetch(first.metrics_port, "/metrics"), "qwen-small"),
        10,
        f"the former leader's series gone\n{first.tail()}",
    )
    assert _has_series(second.fetch(second.metrics_port, "/metrics"), "qwen-small")

    # An external writer on the child's replicas is reported once, by one replica.
    for count in (3, 1, 2):
        kubectl.ok("scale", "deployment", "qwen-small", "-n", namespace, f"--replicas={count}")
        time.sleep(2)
    found = eventually(
        lambda: [
            e for e in events(kubectl, namespace, "qwen-small") if e["reason"] == "ExternalScaler"
        ],
        30,
        "an ExternalScaler Event",
    )
    assert len(found) == 1 and found[0].get("count", 1) == 1, json.dumps(found, indent=1)
    llmd: dict[str, Any] = get(kubectl, namespace, "llmd", "qwen-small") or {}
    scaling = next(c for c in llmd["status"]["conditions"] if c["type"] == "ScalingActive")
    assert (scaling["status"], scaling["reason"]) == ("False", "ExternalScaler")
    assert (get(kubectl, namespace, "deployment", "qwen-small") or {})["spec"]["replicas"] == 2


STALL_SECONDS = 12.0
"""Twice the test's lease duration: every request waits on etcd, the holder cannot renew
past its renew deadline, and a Lease read sent before the stall answers after it."""


def _writers(*replicas: Replica) -> list[str]:
    """Whose writes, in time order, one entry per unbroken run of one replica's writes."""
    stamped = sorted((t, r.log.stem) for r in replicas for t in r.writes())
    runs: list[str] = []
    for _, who in stamped:
        if not runs or runs[-1] != who:
            runs.append(who)
    return runs


def test_an_etcd_stall_leaves_one_writer_and_a_leader_after_it(
    kubectl: Kubectl,
    namespace: str,
    replicas: tuple[Replica, Replica],
    sandbox_cluster: Cluster,
) -> None:
    """etcd frozen (SIGSTOP) for ``STALL_SECONDS``: the API server holds every request,
    Lease reads and renewals included, and answers them all at once when etcd resumes.
    A read that waited must not make a standby date the holder's record to before the
    stall (``leader_election``: observations are stamped on arrival), and a hung request
    must not hold a round past the renew deadline (the Lease client's timeout). The
    write periods of the two replicas never interleave, and a leader acts afterwards."""
    first, second = replicas
    manifest = minimal("qwen-small", scaling={"policy": "fixed", "maxReplicas": 4})
    manifest["spec"]["replicas"] = 1

    def child_replicas() -> int | None:
        """The Deployment's ``spec.replicas`` (None before it exists)."""
        child = get(kubectl, namespace, "deployment", "qwen-small") or {}
        return child.get("spec", {}).get("replicas")

    apply(kubectl, namespace, manifest)
    eventually(lambda: child_replicas() == 1, 60, f"the first leader to act\n{first.tail()}")
    etcd = sandbox_cluster.component("etcd")
    assert isinstance(etcd, Etcd) and etcd.process is not None and etcd.process.pid
    os.kill(etcd.process.pid, signal.SIGSTOP)
    try:
        time.sleep(STALL_SECONDS)
    finally:
        os.kill(etcd.process.pid, signal.SIGCONT)
    for replicas_now in (3, 2):
        manifest["spec"]["replicas"] = replicas_now
        apply(kubectl, namespace, manifest)
        eventually(
            lambda: child_replicas() == manifest["spec"]["replicas"],
            60,
            f"a leader to act after the stall\n{first.tail()}\n{second.tail()}",
        )
    runs = _writers(first, second)
    assert len(runs) <= 2, f"the writers took turns {runs}\n{first.tail()}\n{second.tail()}"
    if len(runs) == 2:
        _assert_never_together(first, second, "after the etcd stall")


def test_a_clean_stop_hands_over_at_once(
    kubectl: Kubectl, namespace: str, replicas: tuple[Replica, Replica]
) -> None:
    first, second = replicas
    first_identity = _holder(kubectl, namespace)
    # The standby frozen, the Lease shows what the stop left behind: given up (no holder),
    # not a holder's record left to expire (which would keep the standby waiting out the
    # 6 s lease duration).
    second.process.send_signal(signal.SIGSTOP)
    try:
        first.stop()
        left = _holder(kubectl, namespace)
    finally:
        second.process.send_signal(signal.SIGCONT)
    assert left == "", f"the stopped leader left the Lease held by {left!r}\n{first.tail()}"
    eventually(
        lambda: _holder(kubectl, namespace) not in ("", first_identity),
        30,
        f"the standby to take the released Lease\n{second.tail()}",
    )


def test_both_replicas_answer_but_only_the_leader_reports_deployments(
    kubectl: Kubectl, namespace: str, replicas: tuple[Replica, Replica]
) -> None:
    """docs/operations.md, high availability: both replicas answer ``/healthz`` and expose
    ``/metrics``; only the leader sets per-LLMDeployment series (the standby's would be a
    second, stale copy in every alert's sum) and ``forescale_leader`` 1."""
    leader, standby = replicas
    manifest = sample("llmdeployment-minimal.yaml")
    manifest["spec"]["scaling"] = {"policy": "fixed"}
    apply(kubectl, namespace, manifest)
    eventually(
        lambda: _has_series(leader.fetch(leader.metrics_port, "/metrics"), "qwen-small"),
        60,
        f"the leader's series\n{leader.tail()}",
    )
    for replica in (leader, standby):
        # The standby was started a moment ago: the leader's first pass can finish
        # before the standby's interpreter has imported kopf (a 2.7 s start seen).
        eventually(lambda r=replica: _answers(r), 30, f"/healthz of\n{replica.tail()}")
    assert "forescale_" in standby.fetch(standby.metrics_port, "/metrics")
    assert not _has_series(standby.fetch(standby.metrics_port, "/metrics"), "qwen-small")
    # What ForescaleNoLeader reads: one replica acts for the Lease, the other does not.
    lease = f'forescale_leader{{lease="{namespace}/{LEASE}"}}'
    assert f"\n{lease} 1.0\n" in leader.fetch(leader.metrics_port, "/metrics")
    assert f"\n{lease} 0.0\n" in standby.fetch(standby.metrics_port, "/metrics")


def _answers(replica: Replica) -> bool:
    """Whether the replica's liveness endpoint answers 200 (refused while it starts)."""
    try:
        replica.fetch(replica.health_port, "/healthz")
    except OSError:
        return False
    return True


def _has_series(exposition: str, name: str) -> bool:
    """Whether any forescale_llmdeployment_* sample is labelled with this LLMDeployment."""
    return any(
        line.startswith("forescale_llmdeployment_") and f'llmdeployment="{name}"' in line
        for line in exposition.splitlines()
    )


def _labelled(exposition: str, name: str) -> bool:
    """Whether any sample is labelled with this LLMDeployment."""
    return any(f'llmdeployment="{name}"' in line for line in exposition.splitlines())
