"""Scale-down under load loses no request when the drain is on, and does when it is off.

A fixed LLMDeployment of 3 replicas serves long streaming generations through the router;
mid-load its ``spec.replicas`` drops to 1. The operator scales the Deployment down, the
two pods being deleted leave the router at once (as endpoints drop a terminating pod), and
the bridge terminates their sim-servers in the kubelet's order: the preStop sleep the
operator rendered, then SIGTERM with the ``--shutdown-timeout`` it rendered. The
sim-server behaves like vLLM (it aborts in-flight requests without the flag). Three modes:

* ``ShutdownTimeout`` (vLLM >= 0.11): a 10 s preStop, then vLLM drains: nothing lost;
* ``PreStopWait`` (older vLLM, no flag): the preStop sleeps most of the grace period while
  the generations finish, then SIGTERM finds nothing to abort: nothing lost;
* ``None``: a 10 s preStop, then SIGTERM aborts what is still generating. The generations
  last longer than that sleep, so requests must fail: this case shows the test can fail,
  and that the drain, not the preStop's propagation delay or luck, saves the requests.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from forescale.sandbox.operator_process import OperatorProcess
from forescale.sandbox.pytest_plugin import Kubectl

from .conftest import Fleet
from .fleet_support import MODEL, NAME, apply, demo_manifest, eventually, get, loadgen, records

pytestmark = pytest.mark.e2e

OUTPUT_TOKENS = 500
"""About 15 s per request at the demo profile's ~30 ms decode step: always some in flight,
and longer than the 10 s preStop sleep that every mode renders (so only a drain saves
them), shorter than the fleet's 30 s cap on PreStopWait's sleep."""
RATE = 2.0


def _fixed(replicas: int, drain: str) -> dict[str, object]:
    manifest = demo_manifest(policy="fixed", minReplicas=1)
    spec = manifest["spec"]
    spec["replicas"] = replicas
    # Room for every generation on the one replica left (2 req/s x ~15 s).
    spec["engine"] = {**spec.get("engine", {}), "maxNumSeqs": 40, "drain": drain}
    return manifest


@pytest.mark.parametrize(
    ("drain", "expect_failures"),
    [("ShutdownTimeout", False), ("PreStopWait", False), ("None", True)],
    ids=["drain-on", "prestop-wait", "drain-off"],
)
def test_scale_down_under_load(
    *,
    fleet: Fleet,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
    drain: str,
    expect_failures: bool,
) -> None:
    apply(kubectl, namespace, _fixed(3, drain))
    eventually(
        lambda: len(fleet.bridge.backends(MODEL)) == 3 or None, 120, "3 Ready replicas serving"
    )
    pods = {r.spec.pod for r in fleet.bridge.replicas() if r.spec.namespace == namespace}
    flags = {
        r.spec.pod: r.spec.shutdown_timeout
        for r in fleet.bridge.replicas()
        if r.spec.namespace == namespace
    }
    # What the operator rendered reaches the replicas: a 115 s drain with ShutdownTimeout,
    # none otherwise; a 10 s preStop sleep, or 125 s of the 130 s grace with PreStopWait.
    assert set(flags.values()) == ({115} if drain == "ShutdownTimeout" else {0}), flags
    sleeps = {r.spec.pre_stop_seconds for r in fleet.bridge.replicas() if r.spec.pod in pods}
    assert sleeps == ({125.0} if drain == "PreStopWait" else {10.0}), sleeps

    out = tmp_path / "requests.jsonl"
    curve = f"constant:rate={RATE:g}"
    load = loadgen(fleet.router.url, curve, 30, out, output_tokens=OUTPUT_TOKENS)
    in_flight_at_removal: dict[str, int] = {}
    try:
        time.sleep(12)  # ~4 requests in flight per replica by now
        apply(kubectl, namespace, _fixed(1, drain))
        # Watch the replicas go; note the most the router had in flight on each while it was
        # being removed (at the instant its process is gone, aborted requests have already
        # ended, so a sample taken then reads 0 with drain off).
        peak: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while len(in_flight_at_removal) < 2 and time.monotonic() < deadline:
            current = {r.spec.pod for r in fleet.bridge.replicas() if r.spec.namespace == namespace}
            for pod in current & pods:
                now_in_flight = fleet.router.in_flight.get(f"{namespace}/{pod}", 0)
                peak[pod] = max(peak.get(pod, 0), now_in_flight)
            for pod in pods - current - in_flight_at_removal.keys():
                in_flight_at_removal[pod] = peak.get(pod, 0)
            time.sleep(0.05)
        assert get(kubectl, namespace, "deployment", NAME)["spec"]["replicas"] == 1
        assert load.wait(timeout=120) == 0, out.with_suffix(".log").read_text()
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()

    remaining = {r.spec.pod for r in fleet.bridge.replicas() if r.spec.namespace == namespace}
    removed = pods - remaining
    assert len(removed) == 2, f"expected 2 replicas removed, had {pods}, left {remaining}"
    served = {
        k.split("/", 1)[1]: v
        for k, v in fleet.router.served.items()
        if k.startswith(f"{namespace}/")
    }
    assert all(served.get(pod, 0) > 0 for pod in removed), "the removed replicas served load"
    # Requests were mid-generation on the replicas as they were removed: what the drain saves.
    assert sum(in_flight_at_removal.values()) > 0, in_flight_at_removal

    sent = records(out)
    assert len(sent) > 30, f"only {len(sent)} requests recorded"
    failed = [r for r in sent if r["status"] != "ok" or r["output_tokens"] != OUTPUT_TOKENS]
    statuses = sorted({str(r["status"]) for r in failed})
    print(
        f"drain {drain}: {len(sent)} requests, {len(failed)} failed {statuses}, "
        f"in flight on the removed replicas: {in_flight_at_removal}"
    )
    # The removed replicas' vLLM logs say which shutdown they took, as vLLM's do.
    mode = "drain timeout=30s" if drain == "ShutdownTimeout" else "abort timeout=0s"
    for pod in removed:
        log = fleet.cluster.logs_dir / "fleet" / f"{namespace}_{pod}.vllm.log"
        assert f"stopping engine client mode={mode}" in log.read_text(), log
    if expect_failures:
        assert failed, "drain off, yet no request failed: the test could not catch a loss"
    else:
        assert failed == [], f"{len(failed)} of {len(sent)} requests failed: {statuses}"
