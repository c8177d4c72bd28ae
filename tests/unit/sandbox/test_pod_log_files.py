"""Which file ``kubectl logs`` of a sandbox pod reads: kwok's ``ClusterLogs`` for every pod,
and a replica pod's own ``Logs``, which kwok takes whole (so it must repeat the shared
entries, or the pod's other containers would answer "log target not found")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forescale.sandbox.gpu_nodes import LOGGED_CONTAINERS, log_file, pod_logs, replica_logs


def _reads(logs: dict[str, Any], container: str) -> str:
    """The file kwok serves ``container`` from, as its lookup picks an entry: the one that
    names the container, else the first that names none."""
    entries = logs["spec"]["logs"]
    named = [e for e in entries if container in e.get("containers", [])]
    default = [e for e in entries if not e.get("containers")]
    return str((named or default)[0]["logsFile"])


def test_every_pod_reads_the_shared_files(tmp_path: Path) -> None:
    logs = pod_logs(tmp_path)
    for container in LOGGED_CONTAINERS:
        assert _reads(logs, container) == str(log_file(tmp_path, container))
    assert _reads(logs, "sidecar") == str(tmp_path / "default.log")


def test_a_replica_pod_reads_its_own_vllm_log_and_the_shared_rest(tmp_path: Path) -> None:
    own = tmp_path / "fleet" / "demo_pod-a.vllm.log"
    logs = replica_logs("demo", "pod-a", "uid-1", {"vllm": own}, tmp_path)
    assert (logs["kind"], logs["metadata"]["namespace"], logs["metadata"]["name"]) == (
        "Logs", "demo", "pod-a"
    )  # fmt: skip
    assert _reads(logs, "vllm") == str(own)
    assert _reads(logs, "model-fetch") == str(log_file(tmp_path, "model-fetch"))
    assert _reads(logs, "sidecar") == str(tmp_path / "default.log")
    (entry,) = [e for e in logs["spec"]["logs"] if "vllm" in e.get("containers", [])]
    assert entry["previousLogsFile"] == str(tmp_path / "fleet" / "demo_pod-a.vllm.previous.log")
    # Deleted with its pod by the garbage collector.
    (owner,) = logs["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "v1", "kind": "Pod", "name": "pod-a", "uid": "uid-1"}
