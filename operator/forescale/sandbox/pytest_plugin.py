"""pytest fixtures for tests against the real local control plane.

Why session-scoped: starting etcd + kube-apiserver + controllers + kwok costs seconds of
the 2 cores; one cluster per session, one fresh namespace per test, gives isolation at a
fraction of the cost. Why failures instead of skips: a missing binary means the suite did
not test what it claims to, so every dependent test is reported FAILED with the reason
(the build command) rather than silently skipped.

Use it from a conftest with ``from forescale.sandbox.pytest_plugin import *``.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from forescale.sandbox import binaries
from forescale.sandbox.binaries import BinaryNotFoundError
from forescale.sandbox.cluster import Cluster, Component
from forescale.sandbox.gpu_nodes import GpuNodePool
from forescale.sandbox.kubeapi import ApiError
from forescale.sandbox.processes import ComponentError

__all__ = [
    "Kubectl",
    "admin_kubeconfig",
    "components_started",
    "gpu_pool",
    "kubectl",
    "llmd_crd",
    "namespace",
    "operator_kubeconfig",
    "pytest_report_teststatus",
    "pytest_runtest_makereport",
    "sandbox_cluster",
    "started",
]

# A small, fixed pool: tests reason about exact GPU totals.
TEST_POOL = GpuNodePool(count=2, gpus_per_node=8)
TEST_DEFAULT_LOAD_SECONDS = 3.0
CRD_WAIT_SECONDS = float(os.environ.get("FORESCALE_CRD_WAIT_SECONDS", "0"))


class SandboxUnavailableError(RuntimeError):
    """The control plane could not be started; dependent tests fail with this reason."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Mark setup failures caused by an unavailable sandbox, for the status hook below."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        call.when == "setup"
        and call.excinfo is not None
        and call.excinfo.errisinstance(SandboxUnavailableError)
    ):
        report.forescale_sandbox_unavailable = True


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """Count "the sandbox could not start" as FAILED, not as a setup error or a skip."""
    if report.when == "setup" and getattr(report, "forescale_sandbox_unavailable", False):
        return "failed", "F", "FAILED"
    return None


@pytest.fixture(scope="session")
def gpu_pool() -> GpuNodePool:
    """The fake GPU pool of the session cluster."""
    return TEST_POOL


@contextmanager
def started(cluster: Cluster, what: str) -> Iterator[Cluster]:
    """``cluster`` started for a fixture and stopped after it.

    Why here: every fixture that runs a control plane of its own (the session's, an
    audited one, a bare etcd + apiserver) must turn a missing binary or a failed start
    into :class:`SandboxUnavailableError`, so its tests FAIL with the reason; one helper
    keeps that rule in one place.
    """
    try:
        binaries.find_all()
    except BinaryNotFoundError as error:
        raise SandboxUnavailableError(f"control-plane binaries missing:\n{error}") from None
    try:
        cluster.start()
    except (ComponentError, BinaryNotFoundError, FileNotFoundError, ApiError) as error:
        raise SandboxUnavailableError(f"{what} failed to start: {error}") from None
    try:
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def components_started(
    cluster: Cluster, components: Sequence[Component], what: str
) -> Iterator[None]:
    """``components`` started in order on a running ``cluster`` for a fixture, stopped in
    reverse after it; a failed start is :class:`SandboxUnavailableError` (the rule
    :func:`started` keeps for a whole cluster)."""
    running: list[Component] = []
    try:
        try:
            for component in components:
                component.start(cluster)
                running.append(component)
        except (ComponentError, OSError, RuntimeError) as error:
            raise SandboxUnavailableError(f"{what} failed to start: {error}") from error
        yield
    finally:
        for component in reversed(running):
            component.stop()


@pytest.fixture(scope="session")
def sandbox_cluster(gpu_pool: GpuNodePool) -> Iterator[Cluster]:
    """etcd, kube-apiserver, controller-manager, scheduler and kwok for the session."""
    from forescale.sandbox.stack import standard_cluster  # noqa: PLC0415

    cluster = standard_cluster(pool=gpu_pool, default_load_seconds=TEST_DEFAULT_LOAD_SECONDS)
    with started(cluster, "the sandbox") as running:
        yield running


@pytest.fixture(scope="session")
def admin_kubeconfig(sandbox_cluster: Cluster) -> Path:
    """Kubeconfig of the admin user (system:masters)."""
    return sandbox_cluster.require_access().admin_kubeconfig


@pytest.fixture(scope="session")
def operator_kubeconfig(sandbox_cluster: Cluster) -> Path:
    """Kubeconfig of the ``forescale-operator`` user, bound only to manifests/rbac/role.yaml."""
    return sandbox_cluster.require_access().operator_kubeconfig


@dataclass(frozen=True)
class Kubectl:
    """Runs the real kubectl against the sandbox; returns the CompletedProcess unchecked."""

    binary: Path
    kubeconfig: Path
    operator_kubeconfig: Path
    timeout: float = 120.0

    def __call__(
        self, *args: str, input: str | None = None, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``kubectl --kubeconfig=<admin> *args``."""
        return subprocess.run(
            [str(self.binary), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )

    def as_operator(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """kubectl authenticated as the operator user (its real RBAC applies)."""
        return self(*args, input=input, kubeconfig=self.operator_kubeconfig)

    def ok(self, *args: str, input: str | None = None) -> str:
        """Run as admin and return stdout; fail the test with stderr if kubectl fails."""
        result = self(*args, input=input)
        if result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout

    def wait_established(self, timeout: float = 60.0) -> None:
        """``kubectl wait --for=condition=Established crd --all``, asked again while kubectl
        trips on a CRD created a moment ago: its status holds ``conditions: null`` until the
        API server's naming controller fills it, and kubectl's condition wait answers that
        with ".status.conditions accessor error: <nil> is of the type <nil>" instead of
        waiting (kubectl v0.37.2, ``pkg/cmd/wait/condition.go``; seen here on a loaded
        machine, and by tidb-operator's e2e, pingcap/tidb-operator#1511)."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(1, round(deadline - time.monotonic()))
            args = ("wait", "--for=condition=Established", f"--timeout={left}s", "crd", "--all")
            result = self(*args)
            if result.returncode == 0:
                return
            if "accessor error" not in result.stderr or time.monotonic() > deadline:
                pytest.fail(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def kubectl(admin_kubeconfig: Path, operator_kubeconfig: Path) -> Kubectl:
    """``kubectl(*args)``: the real kubectl with the admin kubeconfig."""
    return Kubectl(binaries.find("kubectl"), admin_kubeconfig, operator_kubeconfig)


def _crd_files() -> list[Path]:
    root = binaries.repo_root()
    if root is None:
        raise FileNotFoundError("cannot find the forescale checkout (hack/versions.env)")
    return sorted((root / "crds").glob("*.yaml"))


@pytest.fixture(scope="session")
def llmd_crd(kubectl: Kubectl) -> list[Path]:
    """Install the generated CRDs from crds/ and wait until they are Established."""
    deadline = time.monotonic() + CRD_WAIT_SECONDS
    files = _crd_files()
    while not files and time.monotonic() < deadline:
        time.sleep(2)
        files = _crd_files()
    if not files:
        pytest.fail("no CRD in crds/ (expected crds/forescale.io_llmdeployments.yaml)")
    for path in files:
        kubectl.ok("apply", "--server-side", "-f", str(path))
    kubectl.wait_established()
    # The OpenAPI document (kubectl explain, client-side field validation) is published
    # a moment after the CRD is Established: wait for it, so tests see a settled API.
    deadline = time.monotonic() + 60
    while kubectl("explain", "llmdeployment.spec").returncode != 0:
        if time.monotonic() > deadline:
            pytest.fail("the LLMDeployment schema never appeared in the OpenAPI document")
        time.sleep(0.5)
    return files


def _namespace_name(nodeid: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", nodeid.rsplit("::", maxsplit=1)[-1].lower()).strip("-")
    return f"t-{base[:40].strip('-')}-{uuid.uuid4().hex[:5]}"


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace for one test, deleted (and waited for) afterwards.

    Waiting for the deletion matters: the fake GPUs held by the test's pods must be free
    again before the next test counts them.
    """
    name = _namespace_name(request.node.nodeid)
    kubectl.ok("create", "namespace", name)
    # The serviceaccount controller creates "default" asynchronously; pods need it.
    deadline = time.monotonic() + 30
    while kubectl("get", "serviceaccount", "default", "-n", name).returncode != 0:
        if time.monotonic() > deadline:
            pytest.fail(f"serviceaccount default never appeared in namespace {name}")
        time.sleep(0.3)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=true", "--timeout=90s")
