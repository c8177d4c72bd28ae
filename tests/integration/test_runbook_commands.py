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
ForescaleReconcileErrors re-applied RBAC client-side over a server-side install. When the
``kubectl logs`` lines first ran (kwok serving pod-log files, round 27), two runbooks
read ``deploy/forescale-operator``, which is one replica of the two ("Found 3 pods, using
pod/..." on stderr), as likely the standby, which logs nothing of what the leader did.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forescale.resources.deployment import CONTAINER_NAME, FETCH_CONTAINER_NAME
from forescale.sandbox import upstream
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.gpu_nodes import LOGGED_CONTAINERS, log_file
from forescale.sandbox.pytest_plugin import Kubectl
from forescale.sim.container_log import cri_log_lines
from tests.conftest import REPO

from .operator_support import OperatorProcesses, apply, eventually, get, minimal, wait_condition
from .runbook_support import fenced_lines, in_bash
from .test_manifests_kustomize import default_installed
from .upstream_crds import serving

pytestmark = pytest.mark.integration

RUNBOOKS = sorted(p for p in (REPO / "docs" / "runbooks").glob("*.md") if p.name != "README.md")
PROSE = {"kubectl get llmd", "kubectl describe", "kubectl scale deploy"}
"""Inline code that names a command in a sentence, not one to paste."""
NOT_RUN: dict[str, str] = {}
"""Command (a substring) -> why this sandbox cannot run it and what covers it instead.
Empty since ``kubectl logs`` runs: kwok serves the sandbox's pod-log files
(``gpu_nodes.pod_logs``), which this module fills from the real operator's log and the
real fetch script's output."""
SOURCE_URI = "s3://models/qwen3-4b-instruct"
"""Weights fetched by the ``model-fetch`` init container, so LLMDeploymentDegraded's
``-c model-fetch`` names a container the pod has. No request leaves: kwok starts nothing,
and the fetch script run below stops at the missing S3 tool."""
GREP_FOUND_NOTHING = 1
"""grep's exit status when no line matched: under ``pipefail`` a log search's answer
("nothing of that kind was logged"), not a failure, when nothing reached stderr."""
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
    sandbox_cluster: Cluster,
    operator_kubeconfig: Path,
    llmd_crd: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, str]]:
    """(namespace, name, a Ready pod) of an LLMDeployment a real operator serves, with
    prometheus-operator's PodMonitor CRD installed (so the operator creates one), and the
    sandbox's pod logs written (:func:`_write_pod_logs`)."""
    namespace = "runbook-commands"
    kubectl.ok("create", "namespace", namespace)
    work = tmp_path_factory.mktemp("ops")
    operators = OperatorProcesses(operator_kubeconfig, namespace, work)
    try:
        with serving(kubectl, [upstream.monitoring_crd("PodMonitor")]):
            operator = operators.start("operator")
            manifest = minimal()
            manifest["spec"]["model"]["source"] = {"uri": SOURCE_URI}
            name = manifest["metadata"]["name"]
            apply(kubectl, namespace, manifest)
            wait_condition(kubectl, namespace, name, "Ready")
            eventually(lambda: get(kubectl, namespace, "podmonitor", name), 30, "the PodMonitor")
            selector = f"forescale.io/llmdeployment={name}"
            listed = kubectl.ok("get", "pods", "-n", namespace, "-o", "json", "-l", selector)
            pod = json.loads(listed)["items"][0]
            logs = Path(sandbox_cluster.extras["pod_logs"])
            _write_pod_logs(logs, operator.log, _fetch_output(pod, work), _vllm_output())
            yield namespace, name, pod["metadata"]["name"]
            kubectl("delete", "llmd", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
            operator.stop()
    finally:
        for started in operators.started.values():
            started.stop()
        kubectl("delete", "namespace", namespace, "--wait=false")


def _fetch_output(pod: dict[str, Any], work: Path) -> list[str]:
    """What the pod's ``model-fetch`` init container prints: the bundled image's fetch
    script run with the environment the operator rendered for it (the model directory
    moved under ``work``), on a PATH without the S3 tools (the bundled image has none)."""
    init = {c["name"]: c for c in pod["spec"].get("initContainers", [])}
    assert FETCH_CONTAINER_NAME in init, f"no {FETCH_CONTAINER_NAME} init container"
    env = {e["name"]: e["value"] for e in init[FETCH_CONTAINER_NAME]["env"] if "value" in e}
    env["FORESCALE_MODEL_DIR"] = str(work / "models" / env["FORESCALE_MODEL_DIR"].lstrip("/"))
    env["PATH"] = str(work / "no-tools")
    done = subprocess.run(
        [sys.executable, str(REPO / "inference-image" / "fetch_model.py")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done
    return done.stderr.splitlines()


def _vllm_output() -> list[str]:
    """What a replica prints from its start to its shutdown: the sim-server's vLLM lines
    (the pinned release's, held to its wheel by the contract check)."""
    done = subprocess.run(
        [sys.executable, "-m", "forescale", "sim-server", "--port=0", "--load-seconds=0",
         "--max-seconds=0.2"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert any("Starting vLLM server on" in line for line in lines), lines
    return lines


def _write_pod_logs(
    directory: Path, operator_log: Path, fetch_output: list[str], vllm_output: list[str]
) -> None:
    """The files kwok serves to ``kubectl logs`` (current and ``--previous``): the real
    operator's log so far for the operator's container, the fetch script's output for
    ``model-fetch``, and a replica's vLLM lines for ``vllm`` (the fleet bridge, absent
    here, gives each replica's pod its own: tests/e2e/test_replica_logs.py)."""
    operator_lines = operator_log.read_text().splitlines()
    assert operator_lines, f"{operator_log} is empty"
    now = datetime.datetime.now(datetime.UTC)
    for container, lines in {
        "operator": operator_lines,
        FETCH_CONTAINER_NAME: fetch_output,
        CONTAINER_NAME: vllm_output,
    }.items():
        assert container in LOGGED_CONTAINERS, container
        for previous in (False, True):
            log_file(directory, container, previous).write_text(cri_log_lines(lines, now))


@pytest.fixture(scope="module")
def operator_pod(kubectl: Kubectl, llmd_crd: list[Path]) -> Iterator[str]:
    """manifests/default installed as a user installs it (ServiceMonitor and PrometheusRule
    CRDs served): the name of one operator pod (kwok runs it; its logs are the file
    :func:`_write_pod_logs` writes)."""
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
    searched = filled.startswith("kubectl logs ") and "| grep" in filled
    answered = (0, GREP_FOUND_NOTHING) if searched else (0,)
    failure = f"{runbook}: {filled}\n{done.stderr}"
    assert looked_up or (done.returncode in answered and not errors), failure
    if filled.startswith("kubectl logs ") and not searched:
        assert done.stdout.strip(), f"{runbook}: {filled} printed nothing"
    if f"-c {FETCH_CONTAINER_NAME}" in filled:
        # The runbook's promise: a failing fetch prints one line that starts so (after
        # the line saying what it fetches).
        lines = done.stdout.splitlines()
        assert sum(line.startswith("forescale-fetch-model: error:") for line in lines) == 1
    if f"-c {CONTAINER_NAME}" in filled:
        # What LLMDeploymentReplicasNotReady says to look for in it is what a replica writes.
        messages = [line.partition("] ")[2] for line in done.stdout.splitlines()]
        assert any(m.startswith("Loading weights took ") for m in messages), done.stdout
        assert any(m.startswith("Starting vLLM server on http://") for m in messages)
    if "jsonpath=" in filled and not filled.startswith(MUTATING):
        assert done.stdout.strip(), f"{runbook}: {filled} printed nothing"
    if "custom-columns=" in filled:
        # Every column names a field the sandbox's objects have (GPU nodes carry the
        # product label and GPUs): <none> is a path the shell or JSONPath mangled.
        assert "<none>" not in done.stdout, f"{runbook}: {filled}\n{done.stdout}"
