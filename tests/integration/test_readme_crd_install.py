"""The CRD installed with the README's and docs/operations.md's own commands, verbatim.

Both first apply the CRD and wait until the API serves it. ``kubectl wait
--for=condition=Established`` alone races a CRD created a moment ago: the API server writes
it with ``status.conditions: null`` (apiextensions' create strategy clears the status, and
the field has no ``omitempty``), and until the naming controller's first status update,
kubectl's condition wait, and a JSONPath filter over the conditions too, fail with
"accessor error: <nil> is of the type <nil>" instead of waiting (kubectl v0.37.2,
``pkg/cmd/wait``). The naming controller writes ``acceptedNames`` in the same update as the
conditions, and a JSONPath wait on a plain field that is still empty keeps waiting, so the
documented commands wait for ``acceptedNames.kind`` first.

Each command runs through bash as a user would paste it, from the checkout, against a
control plane of its own (etcd and kube-apiserver only), where the CRD does not exist
yet; it is deleted again between rounds, so every round meets a freshly created CRD.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from forescale.sandbox import binaries
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.controlplane import control_plane
from forescale.sandbox.pytest_plugin import started
from tests.conftest import REPO

pytestmark = pytest.mark.integration

CRD_NAME = "llmdeployments.forescale.io"
ROUNDS = 3
"""Fresh CRDs each command installs: the race is in the first moment after a create."""


def _crd_commands(document: Path) -> list[str]:
    """The lines of ``document``'s first shell block that waits for the CRD, up to its last
    wait for it (comments and trailing comments dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", document.read_text(), re.DOTALL)
    for block in blocks:
        lines = [line.split("  #")[0].strip() for line in block.splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
        waits = [
            i
            for i, line in enumerate(lines)
            if f"crd/{CRD_NAME}" in line and "kubectl wait" in line
        ]
        if waits:
            return lines[: waits[-1] + 1]
    raise AssertionError(f"{document.name} has no shell block that waits for crd/{CRD_NAME}")


DOCUMENTS = [REPO / "README.md", REPO / "docs" / "operations.md"]


@pytest.fixture(scope="module")
def fresh_cluster() -> Iterator[Cluster]:
    """etcd and kube-apiserver of this module's own: the session's already serve the CRD."""
    with started(Cluster(control_plane(scheduling=False)), "the control plane") as cluster:
        yield cluster


def _as_a_user(cluster: Cluster, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` through bash from the checkout, the sandbox's kubectl first on PATH."""
    kubectl = binaries.find("kubectl")
    env = {
        **os.environ,
        "PATH": f"{kubectl.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(cluster.require_access().admin_kubeconfig),
    }
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{command}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _gone(cluster: Cluster) -> None:
    """The CRD deleted: ``--wait=true`` returns once the API server has removed it."""
    cluster.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=true")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_the_documented_crd_install_waits_until_the_api_serves_it(
    fresh_cluster: Cluster, document: Path
) -> None:
    commands = _crd_commands(document)
    assert any("kubectl apply" in c and "manifests/crd" in c for c in commands), commands
    assert any("--for=condition=Established" in c for c in commands), commands
    for round_ in range(ROUNDS):
        _gone(fresh_cluster)
        done = _as_a_user(fresh_cluster, "\n".join(commands))
        assert done.returncode == 0, f"round {round_}: {commands}\n{done.stderr}"
        # Waited for, not merely created: the kind is served the moment the command ends.
        served = _as_a_user(fresh_cluster, "kubectl get llmdeployments -A")
        assert served.returncode == 0, f"round {round_}: {served.stderr}"
