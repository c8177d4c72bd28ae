"""The shipped alert rules, loaded into a real Prometheus, match the real operator's series.

promtool's unit tests (``manifests/prometheus/tests``) feed the rules series written by
hand; if the operator's names, labels or values drifted from those, promtool would still
pass and the pages would never come. Here a real ``forescale run`` works on the session's
control plane and reads a real Prometheus, which scrapes the operator's /metrics as the
shipped ServiceMonitor does (job ``forescale-operator``, ``honorLabels``) and a sim-server
replica as the PodMonitor does, and evaluates ``rules.yaml`` every second. The situations
the runbooks describe are made real:

* ``served``: one Ready replica at ``maxReplicas: 1`` that queues (two sequences at a
  time, a dozen requests in flight, a KV cache smaller than two requests): TTFT over the
  SLO, a queue at the ceiling and a full KV cache;
* ``silent``: Ready replicas whose vLLM series never arrive;
* ``broken``: a GPU product no node has;
* then no operator at all.

LLMDeploymentPolicyFailed needs a policy that raises (a bug); its series is checked here as
exported (at 0 from the first decision, with the labels the rule sums by) and the alert by
promtool.

Every alert with a ``for`` of minutes shows as pending from its first true evaluation,
carrying the labels its runbook keys on, and none shows for a deployment it does not
concern. That the vLLM series (file_sd labels) and the operator's (honor_labels) join on
``namespace`` and ``llmdeployment`` is what SLOBurn and AtMaxReplicas prove.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from forescale.sandbox.prometheus_server import PrometheusServer, ScrapeTarget
from forescale.sandbox.pytest_plugin import Kubectl

from .gpu_workloads import is_ready
from .operator_support import OperatorProcesses, apply, create_token_secret, eventually, sample
from .prometheus_support import (
    SCRAPE_INTERVAL_SECONDS,
    SimReplica,
    alerts,
    complete,
    sim_replica,
)

pytestmark = pytest.mark.integration

LOAD = {"annotations": {"forescale.io/simulated-load-seconds": "2"}}
SERVED, SILENT, BROKEN = "served", "silent", "broken"
QUEUEING = ("max_num_seqs=2", "decode_base_seconds=0.02", "kv_cache_tokens=300")
"""Two sequences at a time, 20 ms a step: a 150-token answer takes 3 s, so a dozen in
flight wait up to 18 s for their first token (the SLO is 2 s). A KV cache of 300 tokens
holds one 170-token request whole and not two: the second is admitted on its prompt and
preempted as both grow, as vLLM V1 does, so the cache stays near full."""
IN_FLIGHT, MAX_REQUESTS, MAX_LOAD_SECONDS = 12, 240, 150.0


def _unhealthy_rules(prometheus: PrometheusServer) -> list[str]:
    """Rules Prometheus could not evaluate (bad expression, failing query)."""
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/rules", timeout=10) as answer:
        groups = json.load(answer)["data"]["groups"]
    return [
        f"{rule['name']}: {rule.get('lastError')}"
        for group in groups
        for rule in group["rules"]
        if rule.get("health") != "ok"
    ]


def _series(prometheus: PrometheusServer) -> str:
    """What Prometheus holds of the per-deployment series (for a failure message)."""
    found = prometheus.query('{llmdeployment!="", __name__=~"forescale_.*|vllm:num_.*"}')
    return "\n".join(sorted(f"{s['metric']} {s['value'][1]}" for s in found)) or "none"


def _ready_pod(kubectl: Kubectl, namespace: str, llmdeployment: str) -> str | None:
    selector = f"forescale.io/llmdeployment={llmdeployment}"
    pods = json.loads(kubectl.ok("get", "pods", "-n", namespace, "-o", "json", "-l", selector))
    ready = [p["metadata"]["name"] for p in pods["items"] if is_ready(p)]
    return str(ready[0]) if ready else None


@contextlib.contextmanager
def _queueing(replica: SimReplica) -> Iterator[None]:
    """``IN_FLIGHT`` requests kept in flight until the block ends (bounded in count and
    time, loopback only)."""
    stop = threading.Event()
    deadline = time.monotonic() + MAX_LOAD_SECONDS
    sent = 0
    lock = threading.Lock()

    def client() -> None:
        nonlocal sent
        while not stop.is_set() and time.monotonic() < deadline:
            with lock:
                if sent >= MAX_REQUESTS:
                    return
                sent += 1
            assert complete(replica, 20, 150) == (200, "")

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        clients = [pool.submit(client) for _ in range(IN_FLIGHT)]
        try:
            yield
        finally:
            stop.set()
    for done in clients:
        done.result()


def _for(alerts: list[dict[str, str]], llmdeployment: str) -> list[dict[str, str]]:
    return [a for a in alerts if a.get("llmdeployment") == llmdeployment]


Pending = Callable[[str, str], "dict[str, str] | None"]


def _pending_alerts(prometheus: PrometheusServer, namespace: str, pending: Pending) -> None:
    expected = {
        ("LLMDeploymentSLOBurn", SERVED): "critical",
        ("LLMDeploymentAtMaxReplicas", SERVED): "warning",
        ("LLMDeploymentKVCacheSaturated", SERVED): "warning",
        ("LLMDeploymentScalingHeld", SILENT): "warning",
        ("LLMDeploymentDegraded", BROKEN): "warning",
        ("LLMDeploymentReplicasNotReady", BROKEN): "warning",
    }
    for (name, llmdeployment), severity in expected.items():
        alert = eventually(
            lambda n=name, d=llmdeployment: pending(n, d), 120, f"{name} on {llmdeployment}"
        )
        assert (alert["namespace"], alert["severity"], alert["alertstate"]) == (
            namespace,
            severity,
            "pending",
        ), alert
        if name == "LLMDeploymentDegraded":
            assert alert["reason"] == "UnknownGPUProduct"
    # Nothing else: each alert names only the deployments it is about, and the operator
    # is up.
    for name in {name for name, _ in expected}:
        about = {d for n, d in expected if n == name}
        others = {a.get("llmdeployment") for a in alerts(prometheus, name)} - about
        assert others == set(), f"{name} also for {others}"
    assert alerts(prometheus, "ForescaleOperatorDown") == []
    assert _unhealthy_rules(prometheus) == []
    # PolicyFailed needs a policy that raises (a bug), so promtool feeds it; what it reads
    # is here already, at 0 for each autoscaled deployment: a first failure then counts in
    # increase(), and the series carries the labels the rule sums by.
    failures = {
        s["metric"].get("llmdeployment"): (s["metric"].get("namespace"), s["value"][1])
        for s in prometheus.query('forescale_policy_failures_total{job="forescale-operator"}')
    }
    assert {d: failures.get(d) for d in (SERVED, SILENT)} == {
        SERVED: (namespace, "0"),
        SILENT: (namespace, "0"),
    }, failures
    assert alerts(prometheus, "LLMDeploymentPolicyFailed") == []
    # Without leader election the one replica acts: forescale_leader 1, no ForescaleNoLeader.
    leading = prometheus.query('forescale_leader{job="forescale-operator"}')
    assert [(s["metric"].get("lease"), s["value"][1]) for s in leading] == [(None, "1")], leading
    assert alerts(prometheus, "ForescaleNoLeader") == []


def test_the_rules_fire_on_what_the_real_operator_exports(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorProcesses,
    prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:
    (scraped,) = prometheus.operators
    create_token_secret(kubectl, namespace)
    # A 10 s rate window: the first metrics of a Ready replica are awaited for two windows
    # and an interval (no page during an expected wait) before "unavailable" is exported.
    operator = operators.start(
        "operator",
        f"--prometheus-url={prometheus.url}",
        env={"FORESCALE_RATE_WINDOW_SECONDS": "10"},
        metrics_port=scraped.port,
    )
    served = sample(podMetadata=LOAD)
    served["metadata"]["name"] = SERVED
    served["spec"]["scaling"].update(minReplicas=1, maxReplicas=1)
    silent = sample("llmdeployment-minimal.yaml", podMetadata=LOAD)
    silent["metadata"]["name"] = SILENT
    broken = sample("llmdeployment-minimal.yaml", podMetadata=LOAD)
    broken["metadata"]["name"] = BROKEN
    broken["spec"]["resources"] = {"gpuProduct": "NVIDIA-B300"}
    for manifest in (served, silent, broken):
        apply(kubectl, namespace, manifest)
    pod = eventually(lambda: _ready_pod(kubectl, namespace, SERVED), 60, "a Ready served pod")

    def pending(name: str, llmdeployment: str) -> dict[str, str] | None:
        found = _for(alerts(prometheus, name), llmdeployment)
        return found[0] if found else None

    with sim_replica(tmp_path, pod, profile_overrides=QUEUEING) as replica:
        prometheus.set_targets([ScrapeTarget(replica.address, namespace, pod, SERVED)])
        prometheus.wait_until_scraped()
        with _queueing(replica):
            try:
                _pending_alerts(prometheus, namespace, pending)
            except AssertionError as error:
                raise AssertionError(
                    f"{error}\nseries:\n{_series(prometheus)}\n"
                    f"operator log:\n{operator.text()[-3000:]}"
                ) from None

    assert operator.stop() == 0, operator.text()[-3000:]
    down = eventually(
        lambda: alerts(prometheus, "ForescaleOperatorDown"),
        20 * SCRAPE_INTERVAL_SECONDS + 30,
        "ForescaleOperatorDown once no operator is scraped",
    )
    assert down[0]["severity"] == "critical"
    assert alerts(prometheus, "ForescaleNoLeader") == []  # OperatorDown's case, not this
