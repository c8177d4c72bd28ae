"""Everything the sandbox starts listens on loopback only, by the kernel's account.

The sandbox promises that every process it starts binds 127.0.0.1: the simulated pods'
addresses are fake, and a sandbox on a shared machine must not be reachable from the
network. That promise is a dozen command-line flags (etcd's listen URLs, the control
plane's bind addresses, kwok's server, Prometheus', Alertmanager's web and gossip
listeners, the operator's metrics and health ports, each sim-server's, the router's).
Here the demo's own stack (``fleet_stack`` and ``demo.prepare``: control plane, kwok,
Alertmanager, Prometheus, the bridge and a serving replica, the router, the operator) runs
up to its first Ready replica, and every socket any process of this test's tree listens
on (``tests.listening``: /proc/net and each process's fds) must be on a loopback address.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from forescale.sandbox.demo import DemoSettings, prepare
from forescale.sandbox.pytest_plugin import started
from forescale.sandbox.stack import FleetStack, fleet_stack
from tests.conftest import REPO
from tests.listening import command, descendants, listening

pytestmark = pytest.mark.integration

EXPECTED_HOLDERS = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "prometheus-alertmanager",
    "/usr/bin/prometheus ",
    "sim-server",
    "forescale run",
]
"""A piece of each command line that must be seen listening: the check saw them all."""


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetStack]:
    """The demo's stack with its LLMDeployment serving (one replica Ready)."""
    stack = fleet_stack(workdir=tmp_path_factory.mktemp("sandbox"))
    with started(stack.cluster, "the demo's stack"):
        out = tmp_path_factory.mktemp("demo")
        prepare(stack, DemoSettings(out_dir=out), REPO, lambda line: None)
        yield stack


def test_every_listening_socket_of_the_sandbox_is_on_loopback(demo_stack: FleetStack) -> None:
    held = listening(descendants(os.getpid()))
    holders = {pid: command(pid) for pid, _ in held}
    exposed = [
        f"{s.protocol} {s.address}:{s.port} held by {holders[pid][:160]}"
        for pid, s in held
        if not s.loopback
    ]
    assert not exposed, "\n".join(exposed)
    for piece in EXPECTED_HOLDERS:
        assert any(piece in line for line in holders.values()), (
            f"no listener of {piece!r} seen among:\n" + "\n".join(sorted(holders.values()))
        )
    # The router runs in this process: its port is one of ours.
    router_port = int(demo_stack.router.url.rsplit(":", 1)[1].split("/")[0])
    assert router_port in {s.port for pid, s in held if pid == os.getpid()}
