"""A spike through the router makes the operator scale up, and says why with numbers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from forescale.sandbox.operator_process import OperatorProcess
from forescale.sandbox.pytest_plugin import Kubectl

from .conftest import Fleet
from .fleet_support import (
    MODEL,
    NAME,
    apply,
    demo_manifest,
    events,
    eventually,
    get,
    loadgen,
    records,
)

pytestmark = pytest.mark.e2e

SCALED_UP = re.compile(r"^Scaled up from (\d+) to (\d+): .*?(\d+(?:\.\d+)?) req/s")


def test_spike_scales_up_through_the_router(
    fleet: Fleet, kubectl: Kubectl, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    apply(kubectl, namespace, demo_manifest())
    eventually(lambda: fleet.bridge.backends(MODEL), 90, "a Ready replica serving the model")
    before = get(kubectl, namespace, "deployment", NAME)["spec"]["replicas"]
    assert before == 1

    out = tmp_path / "requests.jsonl"
    # 1 req/s, then 5 req/s (one replica serves about 2) from 25 s to 65 s, then 1 req/s.
    load = loadgen(fleet.router.url, "spike:base=1,peak=5,at=25,duration=40", 100, out)
    started = time.monotonic()
    peak_deployment, peak_desired = before, 0
    joined: float | None = None  # when a second replica first served the model
    try:
        deadline = started + 170
        while load.poll() is None and time.monotonic() < deadline:
            if joined is None and len(fleet.bridge.backends(MODEL)) > 1:
                joined = time.monotonic() - started
            deployment = get(kubectl, namespace, "deployment", NAME)
            llmd = get(kubectl, namespace, "llmd", NAME)
            peak_deployment = max(peak_deployment, deployment.get("spec", {}).get("replicas", 0))
            desired = ((llmd.get("status") or {}).get("autoscaling") or {}).get("desiredReplicas")
            peak_desired = max(peak_desired, desired or 0)
            time.sleep(2)
        assert load.wait(timeout=60) == 0, (out.with_suffix(".log")).read_text()
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()

    # The operator scaled up: the Deployment and status.autoscaling.desiredReplicas grew.
    assert peak_deployment > before, f"Deployment stayed at {before} replicas"
    assert peak_desired > before, "status.autoscaling.desiredReplicas never grew"
    scaled = [e for e in events(kubectl, namespace) if e["reason"] == "ScaledUp"]
    assert scaled, "no ScaledUp Event"
    # No false alarm (issue 12): the first replica loading without metrics is expected, so
    # with Prometheus up all along there is no MetricsUnavailable Warning.
    alarms = [
        (e["reason"], e["message"])
        for e in events(kubectl, namespace)
        if e["type"] == "Warning" and e["reason"] == "MetricsUnavailable"
    ]
    assert alarms == [], alarms
    match = SCALED_UP.match(scaled[0]["message"])
    assert match, f"ScaledUp Event without numbers: {scaled[0]['message']!r}"
    assert int(match.group(2)) > int(match.group(1))

    # The requests went through the router to more than one simulated replica.
    sent = records(out)
    assert len(sent) > 100, f"only {len(sent)} requests recorded"
    ok = [r for r in sent if r["status"] == "ok"]
    assert len(ok) >= 0.95 * len(sent), {r["status"] for r in sent}

    # What scaling must achieve: the SLO holds before the spike and again once the
    # replicas started for it are Ready and the queue built meanwhile has drained. Requests
    # sent during the first cold start queue on the one replica (how many depends on the
    # policy's first step and on the machine: 114-115 of 236 met the SLO over the whole run
    # in two runs of one commit), so they are not judged. That queue's last request over
    # the SLO was sent 47-65 s into the run in seven runs here, and once in CI after 65 s
    # (2 of the first requests after the spike missed), so the judged phase starts 10 s
    # after the spike. With a fixed fleet (no scale-up) 0 of its 27 requests met the SLO.
    def within(first: float, last: float) -> tuple[int, int, list[tuple[float, str, float]]]:
        window = [r for r in sent if first <= r["scheduled"] < last]
        good = [r for r in window if r["status"] == "ok" and r["ttft"] is not None]
        missed = [
            (round(r["scheduled"], 1), r["status"], round(r["ttft"] or -1.0, 2))
            for r in window
            if r not in good or r["ttft"] > 1.0
        ]
        return sum(1 for r in good if r["ttft"] <= 1.0), len(window), missed

    timeline = f"a second replica served from {joined} s; peak {peak_deployment} replicas"
    met, count, missed = within(0, 25)
    assert count > 0 and met >= 0.95 * count, (
        f"before the spike: {met} of {count} within 1 s, missed {missed}; {timeline}"
    )
    met, count, missed = within(75, float("inf"))
    assert count > 0 and met >= 0.9 * count, (
        f"after the spike: {met} of {count} within 1 s, missed {missed}; {timeline}"
    )
    stats = fleet.router.model_stats(MODEL)
    assert stats.forwarded >= len(ok)
    served = {k: v for k, v in fleet.router.served.items() if k.startswith(f"{namespace}/")}
    assert len([v for v in served.values() if v > 0]) > 1, served


def test_prometheus_targets_follow_pods(
    fleet: Fleet, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    manifest = demo_manifest(policy="fixed", minReplicas=2)
    manifest["spec"]["replicas"] = 2
    apply(kubectl, namespace, manifest)
    server = fleet.prometheus.require()

    def pods() -> set[str]:
        out = kubectl.ok(
            "get", "pods", "-n", namespace, "-l", f"forescale.io/llmdeployment={NAME}",
            "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}",
        )  # fmt: skip
        return set(out.split())

    def targets() -> set[str]:
        return {pod for ns, pod in server.healthy_pods() if ns == namespace}

    def two_pods(without: str = "") -> set[str] | None:
        found = pods()
        return found if len(found) == 2 and without not in found else None

    first = eventually(two_pods, 90, "2 running pods")
    eventually(lambda: targets() == first, 90, f"Prometheus scraping {sorted(first)}")

    victim = sorted(first)[0]
    kubectl.ok("delete", "pod", victim, "-n", namespace, "--wait=false")
    eventually(lambda: fleet.bridge.replica(namespace, victim) is None, 30, "the bridge to drop it")
    eventually(lambda: victim not in targets(), 60, f"{victim} to leave Prometheus' targets")
    assert victim not in server.targets_file.read_text()
    # The Deployment replaces the pod; the replacement becomes a target in its turn.
    second = eventually(lambda: two_pods(without=victim), 60, "a replacement")
    eventually(lambda: targets() == second, 90, f"Prometheus scraping {sorted(second)}")
    assert any(r.process.running() for r in fleet.bridge.replicas())
