"""The scale benchmark's pure parts: sizing, manifests, quantiles."""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import time
from typing import Any

import pytest
from click.testing import CliRunner

from forescale.api.spec import LLMDeploymentSpec
from forescale.sandbox.cli import sandbox
from forescale.sandbox.gpu_nodes import LOAD_ANNOTATION
from forescale.sandbox.kubeapi import Stream
from forescale.sandbox.scale_bench import (
    ConvergenceWatch,
    ScaleSettings,
    converged,
    cpu_spent,
    first_time,
    fleet_file,
    follow_up,
    histogram_quantile,
    llmdeployment_manifest,
    machine_busy_seconds,
    parse_histogram,
    workload_file,
)


def test_nodes_hold_every_replica_and_a_doubling_of_the_sample() -> None:
    settings = ScaleSettings(deployments=1000, loaded=3)
    assert settings.nodes * settings.gpus_per_node >= 1000 + 3
    assert ScaleSettings(deployments=100, loaded=3).nodes == 14


def test_settings_refuse_a_sample_larger_than_the_fleet() -> None:
    with pytest.raises(ValueError, match="loaded"):
        ScaleSettings(deployments=2, loaded=3)


def test_manifests_are_valid_predictive_and_the_sample_is_apart() -> None:
    settings = ScaleSettings(deployments=10, loaded=2, load_seconds=7)
    manifests = [llmdeployment_manifest(i, settings) for i in range(10)]
    assert len({m["metadata"]["name"] for m in manifests}) == 10
    assert [m["metadata"]["namespace"] for m in manifests[:3]] == [
        "scale-load", "scale-load", "scale",
    ]  # fmt: skip
    for manifest in manifests:
        spec = LLMDeploymentSpec.model_validate(manifest["spec"])
        assert spec.scaling.policy == "predictive"
        assert spec.resources.gpu_count == 1
        assert manifest["spec"]["podMetadata"]["annotations"][LOAD_ANNOTATION] == "7"


def test_histogram_quantile_is_the_upper_bound_of_its_bucket() -> None:
    text = "\n".join(
        [
            'tick_bucket{le="0.01"} 50.0',
            'tick_bucket{le="0.1"} 98.0',
            'tick_bucket{le="1.0"} 100.0',
            'tick_bucket{le="+Inf"} 100.0',
            "tick_sum 3.0",
            "tick_count 100.0",
        ]
    )
    buckets, total, count = parse_histogram(text, "tick")
    assert (total, count) == (3.0, 100.0)
    assert histogram_quantile(0.5, buckets) == 0.01
    assert histogram_quantile(0.99, buckets) == 1.0
    assert histogram_quantile(0.5, []) is None
    assert histogram_quantile(1.0, [(1.0, 5.0), (math.inf, 6.0)]) == math.inf


def _llmd(generation: int, observed: int, ready: str) -> dict[str, object]:
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def test_converged_needs_every_object_current_and_ready() -> None:
    assert converged([_llmd(1, 1, "True"), _llmd(2, 2, "True")], 2)
    assert not converged([_llmd(1, 1, "True")], 2)
    assert not converged([_llmd(2, 1, "True"), _llmd(1, 1, "True")], 2)
    assert not converged([_llmd(1, 1, "False"), _llmd(1, 1, "True")], 2)


def test_the_command_refuses_a_bad_size_before_starting_anything() -> None:
    result = CliRunner().invoke(sandbox, ["scale", "--deployments", "0", "--out", "x.json"])
    assert result.exit_code == 2
    assert "deployments" in result.output


def test_the_fleet_file_holds_every_manifest_once() -> None:
    settings = ScaleSettings(deployments=5, loaded=1)
    documents = [d for d in fleet_file(settings).split("---\n") if d.strip()]
    assert [json.loads(d) for d in documents] == [
        llmdeployment_manifest(i, settings) for i in range(5)
    ]


def test_the_workload_baseline_is_the_operators_children_without_an_owner() -> None:
    """What the operator would create for each LLMDeployment, as a user's own objects."""
    settings = ScaleSettings(deployments=4, loaded=1)
    objects = [json.loads(d) for d in workload_file(settings).split("---\n") if d.strip()]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["Deployment"] * 4 + ["PodDisruptionBudget"] * 4 + ["Service"] * 4
    assert all("ownerReferences" not in o["metadata"] for o in objects)
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {f"llm-{i:04d}" for i in range(4)}
    assert deployments[0]["metadata"]["namespace"] == settings.loaded_namespace


def test_first_time_tells_the_operator_from_the_workload() -> None:
    timeline = [(3.0, 2, 0, 0), (6.0, 10, 1, 4), (9.0, 10, 9, 10), (12.0, 10, 10, 10)]
    assert first_time(timeline, 1, 10) == 6.0
    assert first_time(timeline, 3, 10) == 9.0
    assert first_time(timeline, 2, 11) is None


def test_machine_busy_seconds_leave_out_idle_and_iowait() -> None:
    hz = os.sysconf("SC_CLK_TCK")
    stat = f"cpu  {hz * 3} 0 {hz} {hz * 50} {hz * 7} 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
    assert machine_busy_seconds(stat) == 4.0
    with pytest.raises(ValueError, match="no aggregate cpu"):
        machine_busy_seconds("cpu0 1 2 3 4\n")


def test_cpu_spent_names_every_process_and_what_other_work_took() -> None:
    before = {"kube-apiserver": 10.0, "forescale-operator": 2.0, "kubectl": 1.0, "machine": 100.0}
    after = {
        "kube-apiserver": 70.0,
        "forescale-operator": 22.0,
        "kubectl": 6.0,
        "etcd": 4.0,  # started inside the window
        "machine": 200.0,
    }
    spent = cpu_spent(before, after)
    assert spent == {"kube-apiserver": 60.0, "forescale-operator": 20.0, "other": 11.0,
                     "kubectl": 5.0, "etcd": 4.0}  # fmt: skip
    assert list(spent) == ["kube-apiserver", "forescale-operator", "other", "kubectl", "etcd"]
    assert cpu_spent(before, {**after, "machine": 150.0})["other"] == 0.0


def test_follow_up_gives_each_objects_wait_and_the_fleet_through_the_apply() -> None:
    added = {f"llm-{i}": float(i) for i in range(100)}  # one created per second
    done = {f"llm-{i}": i + 2.0 + (30.0 if i == 99 else 0.0) for i in range(100) if i != 50}
    figures, timeline = follow_up(added, done)
    assert figures == {"p50": 2.0, "p90": 2.0, "p99": 32.0, "max": 32.0}  # nearest rank of 99
    assert timeline[0] == (10.0, 11, 9)  # created 0-10, converged 0-8
    assert timeline[-1] == (140.0, 100, 99)  # llm-50 never converged
    assert [t for t, _, _ in timeline] == [10.0 * i for i in range(1, 15)]
    assert follow_up({}, {}) == ({}, [])


def test_the_watch_times_each_object_from_first_sight_to_current_and_ready() -> None:
    watch = ConvergenceWatch.__new__(ConvergenceWatch)
    watch.origin, watch.added, watch.done = 0.0, {}, {}

    def event(kind: str, generation: int, observed: int | None, ready: str) -> dict[str, Any]:
        status = {"conditions": [{"type": "Ready", "status": ready}]}
        if observed is not None:
            status["observedGeneration"] = observed
        meta = {"name": "llm-0", "generation": generation}
        return {"type": kind, "object": {"metadata": meta, "status": status}}

    watch._seen(event("ADDED", 1, None, "Unknown"))
    assert "llm-0" in watch.added and not watch.done
    watch._seen(event("MODIFIED", 2, 1, "True"))  # Ready, but a generation behind
    assert not watch.done
    watch._seen(event("MODIFIED", 2, 2, "True"))
    first = watch.done["llm-0"]
    watch._seen(event("MODIFIED", 2, 2, "True"))
    assert watch.done["llm-0"] == first  # the first time counts
    watch._seen({"type": "DELETED", "object": {"metadata": {"name": "llm-1"}}})
    assert "llm-1" not in watch.added


def test_stopping_the_watch_ends_it_at_once_without_an_error() -> None:
    ours, theirs = socket.socketpair()
    event = {"type": "ADDED", "object": {"metadata": {"name": "llm-0", "generation": 1}}}
    theirs.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps(event).encode()
        + b"\n"
    )  # then nothing: a watch held open

    class Connection(http.client.HTTPSConnection):
        def __init__(self) -> None:
            super().__init__("127.0.0.1")
            self.sock = ours

    class Api:
        def stream(self, path: str, timeout: float) -> Stream:
            assert "watch=1" in path
            connection = Connection()
            response = http.client.HTTPResponse(ours)
            response.begin()
            return Stream(connection, response)

    watch = ConvergenceWatch(Api(), "scale", timeout=900)  # type: ignore[arg-type]
    watch.start(time.time())
    deadline = time.time() + 5
    while "llm-0" not in watch.added and time.time() < deadline:
        time.sleep(0.01)
    assert "llm-0" in watch.added
    watch.stop()  # joins for at most 5 s; the watch's own timeout is 900 s
    assert not watch._thread.is_alive()
    assert watch.error is None
    theirs.close()
