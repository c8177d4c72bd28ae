"""The comparison's pure parts: the objects it applies, how it counts, the simulated peer."""

from __future__ import annotations

import base64

import pytest

from forescale.api.spec import LLMDeploymentSpec
from forescale.metrics import promql
from forescale.metrics.observation import Observation
from forescale.policy.parameters import ReplicaCounts
from forescale.sandbox import binaries
from forescale.sandbox.compare import (
    CompareSettings,
    arrival_rate_query,
    contenders,
    llmdeployment,
    scaled_object,
    waiting_query,
)
from forescale.sandbox.compare_fidelity import KedaArrivalRateScaler
from forescale.sandbox.compare_report import (
    Sample,
    gpu_minutes,
    scale_events,
    step_values,
    summarize,
    timeline_difference,
)
from forescale.sandbox.keda import API_SERVICE, api_service_objects
from forescale.sim.peers.hpa import HpaBehavior
from forescale.sim.scaler import ScalerInput
from forescale.sim.sizing import ReplicaCapacity

CAPACITY = ReplicaCapacity(4.0, 100.0, 1.7, 1.6, 1.5, 2000.0, 26.0)


def samples(*rows: tuple[float, int, int]) -> list[Sample]:
    return [Sample(t=t, desired=d, existing=e, ready=e) for t, d, e in rows]


def test_gpu_minutes_hold_each_sample_until_the_next() -> None:
    timeline = samples((0, 1, 1), (60, 3, 2), (120, 3, 3), (180, 1, 1))
    # 1 pod for 60 s, 2 for 60 s, 3 for 60 s; the last sample closes the run.
    assert gpu_minutes(timeline) == pytest.approx(6.0)
    assert gpu_minutes(timeline, gpus_per_replica=2) == pytest.approx(12.0)


def test_scale_events_count_changes_of_the_desired_count() -> None:
    assert scale_events(samples((0, 1, 1), (5, 1, 1), (10, 3, 1), (15, 3, 3), (20, 2, 3))) == 2


def test_summary_counts_errors_against_the_slo() -> None:
    records = [
        {"status": "ok", "ttft": 0.2},
        {"status": "ok", "ttft": 0.9},
        {"status": "ok", "ttft": 3.0},
        {"status": "http_503"},
    ]
    summary = summarize(
        "x", "label", records=records, samples=samples((0, 1, 1), (60, 1, 1)), slo_seconds=1.0
    )
    assert (summary.requests, summary.ok, summary.within_slo) == (4, 3, 2)
    assert summary.within_slo_share == 0.5
    assert summary.ttft_p99_ms == pytest.approx(3000.0)
    assert summary.gpu_minutes == pytest.approx(1.0)


def test_timeline_difference_on_a_common_grid() -> None:
    real = ([0.0, 30.0, 60.0], [1.0, 4.0, 2.0])
    simulated = ([0.0, 40.0], [1.0, 2.0])
    assert step_values(*real, [0, 29, 30, 59, 60, 99]) == [1, 1, 4, 4, 2, 2]
    diff = timeline_difference(real, simulated, step=10.0, until=100.0)
    # grid 0..90: real 1 1 1 4 4 4 2 2 2 2, simulated 1 1 1 1 2 2 2 2 2 2
    assert diff.points == 10
    assert diff.median == 0
    assert diff.p95 == 3
    assert diff.share_within_one == pytest.approx(0.7)


def test_contenders_are_identical_but_for_who_scales() -> None:
    settings = CompareSettings()
    forescale, keda = contenders(settings, 1.5)
    a = llmdeployment(forescale, settings, CAPACITY)
    b = llmdeployment(keda, settings, CAPACITY)
    assert a["spec"]["scaling"]["policy"] == "predictive"
    assert b["spec"]["scaling"]["policy"] == "fixed"
    assert b["spec"]["replicas"] == 1  # the HPA writes it through the scale subresource
    del b["spec"]["replicas"]
    a["spec"]["scaling"].pop("policy")
    b["spec"]["scaling"].pop("policy")
    assert a["spec"] == b["spec"]
    LLMDeploymentSpec.model_validate(a["spec"])  # what the CRD would accept


def test_forescale_is_seeded_with_what_a_replica_serves_within_the_slo() -> None:
    """As the benchmark seeds it (``bench_spec.seeded_capacity``): the saturated rate seeded
    before round 35 sized the trace's opening burst at 2.4x what a replica serves."""
    forescale = contenders(CompareSettings(), 1.5)[0]
    seeded = llmdeployment(forescale, CompareSettings(), CAPACITY)["spec"]["scaling"]["capacity"]
    rps = CAPACITY.slo_requests_per_second
    assert float(seeded["requestsPerSecond"]) == pytest.approx(rps, abs=1e-3)
    assert rps < CAPACITY.saturated_requests_per_second
    assert seeded["outputTokensPerSecond"] == round(rps * CAPACITY.mean_output_tokens)
    assert seeded["promptTokensPerSecond"] == round(rps * CAPACITY.mean_prompt_tokens)


def test_scaled_object_targets_the_llmdeployment_with_the_tuned_rate() -> None:
    settings = CompareSettings(scale_down_stabilization_seconds=45)
    keda = contenders(settings, 1.52)[1]
    obj = scaled_object(keda, settings, "http://127.0.0.1:9090")
    spec = obj["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "forescale.io/v1alpha1",
        "kind": "LLMDeployment",
        "name": "llama",
    }
    trigger = spec["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["threshold"] == "1.52"
    assert 'namespace="cmp-keda", llmdeployment="llama"' in trigger["metadata"]["query"]
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 45
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 2, "periodSeconds": 15}]
    # ... the same limits forescale's LLMDeployment gets.
    scale_down = llmdeployment(keda, settings, CAPACITY)["spec"]["scaling"]["scaleDown"]
    assert (scale_down["maxReplicasPerStep"], scale_down["periodSeconds"]) == (2, 15)
    assert scale_down["stabilizationWindowSeconds"] == 45


def test_trigger_query_is_the_operators_arrival_rate_for_one_deployment() -> None:
    query = arrival_rate_query("ns", "llama", 30)
    operator = promql.arrival_rate(30, None)
    assert query.replace('namespace="ns", llmdeployment="llama"', 'llmdeployment!=""') == operator
    assert waiting_query("t") == 'sum(vllm:num_requests_waiting{namespace="t"})'
    tutorial = contenders(CompareSettings(tutorial=True), 1.0)[2]
    assert tutorial.keda_threshold == 5.0


def test_api_service_routes_to_loopback_and_trusts_the_sandbox_ca() -> None:
    service, api_service = api_service_objects(6443, b"PEM")
    assert service["spec"] == {"type": "ExternalName", "externalName": "127.0.0.1"}
    assert api_service["metadata"]["name"] == API_SERVICE
    assert api_service["spec"]["service"]["port"] == 6443
    assert base64.b64decode(api_service["spec"]["caBundle"]) == b"PEM"
    assert "insecureSkipTLSVerify" not in api_service["spec"]


def test_keda_is_pinned_in_versions_env(monkeypatch: pytest.MonkeyPatch) -> None:
    versions = binaries.resolve_versions(
        binaries.parse_versions_env(binaries.versions_file().read_text()), environ={}
    )
    assert versions.of("keda") == versions.keda != ""
    monkeypatch.delenv(binaries.BIN_DIR_ENV, raising=False)
    monkeypatch.setenv(binaries.BIN_CACHE_ENV, "/nonexistent-forescale-cache")
    with pytest.raises(binaries.BinaryNotFoundError, match=r"build-binaries.sh keda"):
        binaries.find("keda-adapter")
    with pytest.raises(binaries.BinaryNotFoundError) as missing:
        binaries.find_all()
    assert "keda" not in str(missing.value)  # the control-plane check does not ask for KEDA


def view(now: float, desired: int, ready: int, arrival: float | None) -> ScalerInput:
    observation = Observation(
        deployment="ns/llama", timestamp=now, replicas_reporting=ready, arrival_rate=arrival
    )
    return ScalerInput(
        now=now,
        counts=ReplicaCounts(desired=desired, ready=ready),
        observation=observation if arrival is not None else None,
        pods=(),
        mean_concurrency=lambda _: 0.0,
    )


def test_simulated_keda_scales_to_rate_over_target_and_holds_without_data() -> None:
    scaler = KedaArrivalRateScaler(1, 10, target_per_pod=1.5, behavior=HpaBehavior())
    assert scaler.decide(view(15, 1, 1, 6.1)).desired_replicas == 5  # ceil(6.1 / 1.5)
    assert scaler.decide(view(30, 5, 5, None)).desired_replicas == 5  # no metric: hold
    # Within the 10 % tolerance of 5 x 1.5: keep.
    assert scaler.decide(view(45, 5, 5, 7.9)).desired_replicas == 5
    # Scale-down waits for the 300 s default stabilization window.
    assert scaler.decide(view(60, 5, 5, 1.0)).desired_replicas == 5
    assert scaler.decide(view(400, 5, 5, 1.0)).desired_replicas == 1


def test_simulated_pods_policy_removes_at_most_the_limit_per_period() -> None:
    behavior = HpaBehavior(
        scale_down_stabilization_seconds=0, scale_down_percent=100, scale_down_period_seconds=15
    )
    scaler = KedaArrivalRateScaler(1, 10, 1.0, behavior, scale_down_pods=2)
    assert scaler.decide(view(15, 8, 8, 1.0)).desired_replicas == 6
    assert scaler.decide(view(20, 6, 6, 1.0)).desired_replicas == 6  # same period: no more
    assert scaler.decide(view(31, 6, 6, 1.0)).desired_replicas == 4
    unlimited = KedaArrivalRateScaler(1, 10, 1.0, behavior)
    assert unlimited.decide(view(15, 8, 8, 1.0)).desired_replicas == 1
