"""The fleet bridge's pure parts: which pod gets which simulated replica, and its target."""

from __future__ import annotations

import copy
import dataclasses
import datetime
from typing import Any

import pytest
import yaml

from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.deployment import build_deployment
from forescale.resources.owner import Owner
from forescale.sandbox.fleet_bridge import (
    ANNOTATION_PROFILE_OVERRIDES,
    pod_ready,
    pre_stop_sleep,
    replica_spec,
    scrape_target,
    sim_server_argv,
    termination_waits,
    vllm_flags,
)
from tests.conftest import SAMPLES

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def _stamp(seconds_before_now: float) -> str:
    moment = NOW - datetime.timedelta(seconds=seconds_before_now)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def demo_pod(name: str = "llama-demo-7d9f-abcde", started_ago: float = 5.0) -> dict[str, Any]:
    """A pod exactly as the Deployment forescale renders for the demo sample would create."""
    manifest = yaml.safe_load((SAMPLES / "llmdeployment-demo.yaml").read_text())
    owner = Owner(
        name=manifest["metadata"]["name"],
        namespace="demo",
        uid="u-1",
        spec=LLMDeploymentSpec.model_validate(manifest["spec"]),
    )
    template = copy.deepcopy(build_deployment(owner)["spec"]["template"])
    template["metadata"].update(
        name=name, namespace="demo", uid=f"uid-{name}", creationTimestamp=_stamp(started_ago)
    )
    template["spec"]["nodeName"] = "gpu-node-0"
    template["status"] = {"phase": "Running", "startTime": _stamp(started_ago)}
    return {"apiVersion": "v1", "kind": "Pod", **template}


def test_vllm_flags_reads_both_spellings() -> None:
    flags = vllm_flags(["vllm", "serve", "m", "--port=8000", "--max-num-seqs", "4", "--x"])
    assert flags == {"port": "8000", "max-num-seqs": "4", "x": ""}


def test_replica_spec_mirrors_the_rendered_pod() -> None:
    spec = replica_spec(demo_pod(started_ago=5), default_load_seconds=60, now=NOW.timestamp())
    assert spec is not None
    assert (spec.namespace, spec.pod, spec.llmdeployment) == (
        "demo",
        "llama-demo-7d9f-abcde",
        "llama-demo",
    )
    assert spec.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert spec.served_names == ("llama-demo",)
    # 20 s of simulated load in the annotation, 5 s already gone since the pod started.
    assert spec.load_seconds == pytest.approx(15)
    assert spec.profile == "llama-3.1-8b-h100"
    # --max-num-seqs from the vLLM command line, then the sandbox annotation's overrides.
    assert spec.overrides == ("max_num_seqs=4", "decode_base_seconds=0.03")


def test_load_never_negative_for_an_old_pod() -> None:
    spec = replica_spec(demo_pod(started_ago=300), default_load_seconds=60, now=NOW.timestamp())
    assert spec is not None and spec.load_seconds == 0


def test_annotation_override_of_max_num_seqs_wins() -> None:
    pod = demo_pod()
    pod["metadata"]["annotations"][ANNOTATION_PROFILE_OVERRIDES] = "max_num_seqs=2"
    spec = replica_spec(pod, default_load_seconds=60, now=NOW.timestamp())
    assert spec is not None and spec.overrides == ("max_num_seqs=2",)


def test_missing_load_annotation_uses_the_sandbox_default() -> None:
    pod = demo_pod(started_ago=0)
    del pod["metadata"]["annotations"]["forescale.io/simulated-load-seconds"]
    spec = replica_spec(pod, default_load_seconds=7, now=NOW.timestamp())
    assert spec is not None and spec.load_seconds == 7


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda p: p["spec"].pop("nodeName"), "not scheduled: no container, no replica"),
        (lambda p: p["metadata"].update(deletionTimestamp=_stamp(0)), "being deleted"),
        (lambda p: p["metadata"]["labels"].pop("forescale.io/llmdeployment"), "no owner label"),
        (lambda p: p["status"].update(phase="Failed"), "finished pod"),
    ],
)
def test_pods_without_a_replica(change: Any, why: str) -> None:
    pod = demo_pod()
    change(pod)
    assert replica_spec(pod, default_load_seconds=60, now=NOW.timestamp()) is None, why


def test_scrape_target_carries_podmonitor_labels() -> None:
    spec = replica_spec(demo_pod(), default_load_seconds=60, now=NOW.timestamp())
    assert spec is not None
    target = scrape_target(spec, 41234)
    assert target.address == "127.0.0.1:41234"
    assert (target.namespace, target.pod, target.llmdeployment) == (
        "demo",
        "llama-demo-7d9f-abcde",
        "llama-demo",
    )


def test_sim_server_argv_binds_loopback_with_the_pods_model() -> None:
    spec = replica_spec(demo_pod(), default_load_seconds=60, now=NOW.timestamp())
    assert spec is not None
    argv = sim_server_argv(spec, 41234, python="python3", drain_seconds=12)
    assert argv[:4] == ["python3", "-m", "forescale", "sim-server"]
    assert "--host=127.0.0.1" in argv
    assert "--port=41234" in argv
    assert "--served-model-name=llama-demo" in argv
    assert "--set=max_num_seqs=4" in argv
    # The rendered --shutdown-timeout (115 s) reaches the replica, capped by the sandbox.
    assert spec.shutdown_timeout == 115
    assert "--shutdown-timeout=12" in argv
    assert any(a.startswith("--load-seconds=") for a in argv)


def test_a_pod_without_shutdown_timeout_aborts_like_vllm() -> None:
    pod = demo_pod()
    (container,) = pod["spec"]["containers"]
    container["args"] = [a for a in container["args"] if "shutdown-timeout" not in a]
    spec = replica_spec(pod, default_load_seconds=60, now=NOW.timestamp())
    assert spec is not None
    assert spec.shutdown_timeout == 0
    assert "--shutdown-timeout=0" in sim_server_argv(spec, 1, python="python3", drain_seconds=12)


@pytest.mark.parametrize(
    ("drain", "sleep", "grace", "waits"),
    [
        # The rendered pod: a 10 s preStop, then vLLM's 115 s drain within the 130 s grace.
        ("ShutdownTimeout", 10.0, 130.0, (10.0, 30.0)),
        ("None", 10.0, 130.0, (10.0, 30.0)),
        # PreStopWait sleeps most of the grace; the kubelet then SIGTERMs (vLLM aborts).
        ("PreStopWait", 125.0, 130.0, (30.0, 5.0)),
    ],
)
def test_termination_follows_the_rendered_pod_in_the_kubelets_order(
    drain: str, sleep: float, grace: float, waits: tuple[float, float]
) -> None:
    """The preStop sleep and the grace period come from the pod the operator renders, so
    the sandbox drains (or aborts) as a cluster would; each wait is capped by the sandbox."""
    pod = demo_pod()
    manifest = yaml.safe_load((SAMPLES / "llmdeployment-demo.yaml").read_text())
    manifest["spec"].setdefault("engine", {})["drain"] = drain
    owner = Owner(
        name="llama-demo", namespace="demo", uid="u-1",
        spec=LLMDeploymentSpec.model_validate(manifest["spec"]),
    )  # fmt: skip
    pod["spec"] = {**build_deployment(owner)["spec"]["template"]["spec"], "nodeName": "n"}
    spec = replica_spec(pod, default_load_seconds=60, now=NOW.timestamp())
    assert spec is not None
    assert (spec.pre_stop_seconds, spec.grace_seconds) == (sleep, grace)
    assert termination_waits(spec, cap=30.0) == waits


def test_pre_stop_sleep_reads_the_sleep_action_and_an_exec_of_sleep() -> None:
    assert pre_stop_sleep({"lifecycle": {"preStop": {"sleep": {"seconds": 7}}}}) == 7.0
    exec_sleep = {"exec": {"command": ["sh", "-c", "sleep 12"]}}
    assert pre_stop_sleep({"lifecycle": {"preStop": exec_sleep}}) == 12.0
    # A hook whose length the bridge cannot know, or none: SIGTERM at once.
    assert pre_stop_sleep({"lifecycle": {"preStop": {"exec": {"command": ["drain.sh"]}}}}) == 0
    assert pre_stop_sleep({}) == 0.0


def test_a_hook_longer_than_the_grace_gets_the_kubelets_2_s() -> None:
    spec = replica_spec(demo_pod(), default_load_seconds=60, now=NOW.timestamp())
    assert spec is not None
    long_hook = dataclasses.replace(spec, pre_stop_seconds=500.0, grace_seconds=60.0)
    assert termination_waits(long_hook, cap=1000.0) == (60.0, 2.0)


def test_pod_ready_reads_the_condition() -> None:
    pod = demo_pod()
    assert not pod_ready(pod)
    pod["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert pod_ready(pod)
