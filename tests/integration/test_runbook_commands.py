r"""Every kubectl command a runbook gives, run as written against a real deployment.

A runbook is read at 3 a.m. and pasted into a terminal: a quoting slip, a resource name
the API server does not serve, a label no pod carries or a JSONPath to a field the status
never has fails then, silently or loudly. Here each ``kubectl`` line of
``docs/runbooks/*.md`` (fenced blocks and inline code that names its target) runs in bash
with the sandbox's kubectl, its placeholders filled from a Ready LLMDeployment (``NS``,
``NAME``, ``POD``, ``N``) served alongside prometheus-operator's PodMonitor CRD, and from
``manifests/default`` installed as the README installs it (``POD`` in
``forescale-system``: an operator pod). Commands that change something run with
``--dry-run=server``. A lookup of one named object may answer NotFound (that is the
diagnosis: ``kubectl get secret`` for MissingSecret) and a list may be empty; anything else
on stderr fails, and so does a JSONPath that prints nothing or a custom column that prints
``<none>``. Commands this sandbox cannot run are listed in ``NOT_RUN`` with the reason
and what covers them instead; every entry must still match a command, so a new command is
either run or consciously set aside.

What it found when first run: the GPU-node listing of LLMDeploymentDegraded never worked
(``-L`` cannot be combined with custom columns), both GPU listings printed ``<none>``
(unquoted, bash ate the ``\.`` that JSONPath needs in ``nvidia\.com/gpu``), and
ForescaleReconcileErrors re-applied RBAC client-side over a server-side install.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from forescale.sandbox import upstream
from forescale.sandbox.pytest_plugin import Kubectl
from tests.conftest import REPO

from .operator_support import OperatorProcesses, apply, eventually, get, minimal, wait_condition
from .runbook_support import fenced_lines, in_bash
from .test_manifests_kustomize import default_installed
from .upstream_crds import serving

pytestmark = pytest.mark.integration

RUNBOOKS = sorted(p for p in (REPO / "docs" / "runbooks").glob("*.md") if p.name != "README.md")
PROSE = {"kubectl get llmd", "kubectl describe", "kubectl scale deploy"}
"""Inline code that names a command in a sentence, not one to paste."""
NOT_RUN = {
    "kubectl logs": "kwok runs no containers, so there are no logs; the ForescaleReconcileErrors "
    "pipeline runs on a real operator log in test_operator_refused_writes",
}
MUTATING = ("kubectl scale ", "kubectl delete ", "kubectl create ", "kubectl apply ")
"""Run with --dry-run=server. ``kubectl rollout restart`` has no dry run: it restarts the
operator Deployment this test installed (kwok pods) for real."""
NOT_FOUND = re.compile(r'^Error from server \(NotFound\): \S+ "[^"]+" not found$')
NONE_LISTED = re.compile(r"^No resources found( in \S+ namespace)?\.?$")
"""A list with nothing in it (no PVC, no quota): an answer, on stderr."""


def runbook_commands() -> list[tuple[str, str]]:
    """(runbook, command) for every kubectl command in the runbooks."""
    found = []
    for runbook in RUNBOOKS:
        lines = fenced_lines(runbook, ("", "sh", "bash", "shell"))
        lines += re.findall(r"`(kubectl [^`]+)`", runbook.read_text())
        found += [(runbook.name, line) for line in lines if line.startswith("kubectl ")]
    return [(name, command) for name, command in found if command not in PROSE]


def _set_aside(command: str) -> str | None:
    return next((why for key, why in NOT_RUN.items() if key in command), None)


def test_every_exclusion_is_used() -> None:
    """A NOT_RUN entry no command needs any more goes (it would hide a future command)."""
    commands = [command for _, command in runbook_commands()]
    assert commands, "no kubectl command found in docs/runbooks"
    unused = [key for key in NOT_RUN if not any(key in command for command in commands)]
    assert unused == []


def _filled(command: str, namespace: str, name: str, pod: str, operator_pod: str) -> str:
    """The command with its placeholders filled, and ``--dry-run=server`` on changes."""
    if "-n forescale-system" in command:
        pod = operator_pod
    command = re.sub(r"\s+#.*$", "", command)  # a trailing shell comment
    command = command.replace("<spec.model.source.huggingFace.tokenSecret.name>", "hf-token")
    command = re.sub(r"\bNS/NAME\b", f"{namespace}/{name}", command)
    command = re.sub(r"\bNS\b", namespace, command)
    command = re.sub(r"\bNAME\b(?!:)", name, command)  # not a custom-columns header
    command = re.sub(r"\bPOD\b", pod, command)
    command = command.replace("--replicas=N", "--replicas=2")
    if command.startswith(MUTATING):
        head, pipe, tail = command.partition("|")
        command = f"{head.rstrip()} --dry-run=server {pipe}{tail}".rstrip()
    return command


@pytest.fixture(scope="module")
def deployment(
    kubectl: Kubectl,
    operator_kubeconfig: Path,
    llmd_crd: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, str]]:
    """(namespace, name, a Ready pod) of an LLMDeployment a real operator serves, with
    prometheus-operator's PodMonitor CRD installed (so the operator creates one)."""
    namespace = "runbook-commands"
    kubectl.ok("create", "namespace", namespace)
    operators = OperatorProcesses(operator_kubeconfig, namespace, tmp_path_factory.mktemp("ops"))
    try:
        with serving(kubectl, [upstream.monitoring_crd("PodMonitor")]):
            operator = operators.start("operator")
            manifest = minimal()
            name = manifest["metadata"]["name"]
            apply(kubectl, namespace, manifest)
            wait_condition(kubectl, namespace, name, "Ready")
            eventually(lambda: get(kubectl, namespace, "podmonitor", name), 30, "the PodMonitor")
            selector = f"forescale.io/llmdeployment={name}"
            listed = kubectl.ok("get", "pods", "-n", namespace, "-o", "json", "-l", selector)
            pods = json.loads(listed)["items"]
            yield namespace, name, pods[0]["metadata"]["name"]
            kubectl("delete", "llmd", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
            operator.stop()
    finally:
        for started in operators.started.values():
            started.stop()
        kubectl("delete", "namespace", namespace, "--wait=false")


@pytest.fixture(scope="module")
def operator_pod(kubectl: Kubectl, llmd_crd: list[Path]) -> Iterator[str]:
    """manifests/default installed as a user installs it (ServiceMonitor and PrometheusRule
    CRDs served): the name of one operator pod (kwok runs it: it has no logs)."""
    with default_installed(kubectl):
        selector = "app.kubernetes.io/component=operator"

        def a_pod() -> str | None:
            listed = kubectl.ok("get", "pods", "-n", "forescale-system", "-l", selector,
                                "-o", "json")  # fmt: skip
            pods = json.loads(listed)["items"]
            return str(pods[0]["metadata"]["name"]) if pods else None

        yield eventually(a_pod, 90, "an operator pod")


@pytest.mark.parametrize(
    ("runbook", "command"), [(r, c) for r, c in runbook_commands() if _set_aside(c) is None]
)
def test_the_command_runs_as_written(
    kubectl: Kubectl,
    deployment: tuple[str, str, str],
    operator_pod: str,
    runbook: str,
    command: str,
) -> None:
    filled = _filled(command, *deployment, operator_pod)
    if filled.endswith("| jq ."):
        # jq may be absent on the machine running the tests; what it needs is JSON.
        filled = filled.removesuffix("| jq .").rstrip()
        done = in_bash(kubectl, filled)
        assert done.returncode == 0, (runbook, filled, done.stderr)
        json.loads(done.stdout)
        return
    done = in_bash(kubectl, filled)
    errors = [
        line for line in done.stderr.splitlines() if line.strip() and not NONE_LISTED.match(line)
    ]
    looked_up = (
        filled.startswith("kubectl get ")
        and errors
        and all(NOT_FOUND.match(line) for line in errors)
    )
    assert looked_up or (done.returncode == 0 and not errors), f"{runbook}: {filled}\n{done.stderr}"
    if "jsonpath=" in filled and not filled.startswith(MUTATING):
        assert done.stdout.strip(), f"{runbook}: {filled} printed nothing"
    if "custom-columns=" in filled:
        # Every column names a field the sandbox's objects have (GPU nodes carry the
        # product label and GPUs): <none> is a path the shell or JSONPath mangled.
        assert "<none>" not in done.stdout, f"{runbook}: {filled}\n{done.stdout}"
