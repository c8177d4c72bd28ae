"""``kubectl logs POD -c vllm`` shows that replica's own vLLM log, in vLLM's words.

The runbooks send an SRE to a replica's log ("still downloading weights? loading?",
what a crash printed). In the sandbox kwok runs no container; the fleet bridge's replica
writes vLLM's lines (held to the pinned wheel by the contract check) where kwok serves the
pod's ``vllm`` container from (a per-pod ``Logs`` object). Each pod's log must be its own:
the port in its start line is the one its replica listens on, and the stats line appears
where the replica served traffic.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from forescale.sandbox.operator_process import OperatorProcess
from forescale.sandbox.pytest_plugin import Kubectl
from forescale.sim import server_logging

from .conftest import Fleet
from .fleet_support import MODEL, apply, demo_manifest, eventually, loadgen, records

pytestmark = pytest.mark.e2e

LINE = re.compile(
    r"^\((?P<process>APIServer|EngineCore) pid=\d+\) INFO \d\d-\d\d \d\d:\d\d:\d\d "
    r"\[(?P<file>[\w.]+):(?P<line>\d+)\] (?P<message>.*)$"
)
STATS = re.compile(
    r"^Engine 000: Avg prompt throughput: [\d.]+ tokens/s, Avg generation throughput: [\d.]+"
    r" tokens/s, Running: (?P<running>\d+) reqs, Waiting: \d+ reqs, (Preemptions: \d+, )?GPU"
    r" KV cache usage: [\d.]+%$"
)


def _messages(kubectl: Kubectl, namespace: str, pod: str) -> list[str]:
    """The messages of ``kubectl logs POD -c vllm``; every line must be vLLM's layout."""
    lines = kubectl.ok("logs", "-n", namespace, pod, "-c", "vllm").splitlines()
    assert lines, f"kubectl logs {pod} -c vllm printed nothing"
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    return [m["message"] for m in parsed if m is not None]


def _with_stats(kubectl: Kubectl, namespace: str, pod: str) -> list[str] | None:
    messages = _messages(kubectl, namespace, pod)
    return messages if any(STATS.match(m) for m in messages) else None


def test_each_pod_s_vllm_log_is_its_replica_s(
    fleet: Fleet, kubectl: Kubectl, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    manifest = demo_manifest(policy="fixed", minReplicas=1)
    manifest["spec"]["replicas"] = 2
    apply(kubectl, namespace, manifest)
    eventually(lambda: len(fleet.bridge.backends(MODEL)) == 2 or None, 120, "2 replicas serving")
    replicas = {r.spec.pod: r for r in fleet.bridge.replicas() if r.spec.namespace == namespace}
    assert len(replicas) == 2

    # Traffic for two stats intervals, so each replica logs its stats line at least once.
    out = tmp_path / "requests.jsonl"
    seconds = 2 * server_logging.STATS_INTERVAL_SECONDS
    load = loadgen(fleet.router.url, "constant:rate=4", seconds, out)
    try:
        assert load.wait(timeout=90) == 0, out.with_suffix(".log").read_text()
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    assert records(out), "no request was sent"

    for pod, replica in replicas.items():
        assert fleet.router.served.get(f"{namespace}/{pod}"), f"{pod} served nothing"
        messages = eventually(
            lambda pod=pod: _with_stats(kubectl, namespace, pod), 30, f"{pod}'s stats line"
        )
        assert messages[0].startswith("Loading weights took "), messages
        assert f"Starting vLLM server on http://127.0.0.1:{replica.port}" in messages, messages
    # What `forescale sandbox up` suggests: every replica's log at once, each line prefixed.
    selector = f"forescale.io/llmdeployment={manifest['metadata']['name']}"
    both = kubectl.ok("logs", "-n", namespace, "-l", selector, "-c", "vllm", "--prefix")
    for pod, replica in replicas.items():
        started = f"[pod/{pod}/vllm] "
        assert any(
            line.startswith(started) and line.endswith(f"http://127.0.0.1:{replica.port}")
            for line in both.splitlines()
        ), both
    # A container that never restarted has no previous log, as from a kubelet.
    previous = kubectl("logs", "-n", namespace, next(iter(replicas)), "-c", "vllm", "--previous")
    assert previous.returncode != 0, previous.stdout
