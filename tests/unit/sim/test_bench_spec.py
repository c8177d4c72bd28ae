"""forescale in the benchmark comes from an LLMDeployment spec through the operator's mapping."""

from __future__ import annotations

import pytest

from forescale.api.spec import LLMDeploymentSpec
from forescale.policy.spec_mapping import parameters_from_spec
from forescale.sim import bench_spec
from forescale.sim.sizing import ReplicaCapacity

CAPACITY = ReplicaCapacity(
    saturated_requests_per_second=32.0,
    saturated_tokens_per_second=6400.0,
    slo_requests_per_second=30.0,
    planning_requests_per_second=28.5,
    planning_concurrency=150.0,
    mean_prompt_tokens=200.0,
    mean_output_tokens=200.0,
)


def document(
    value: float = bench_spec.FORESCALE_KNOB.default,
    uniform: bool = True,
    knob: bench_spec.Knob = bench_spec.FORESCALE_KNOB,
) -> dict[str, object]:
    return bench_spec.spec_document(
        policy="predictive",
        knob_value=value,
        capacity=CAPACITY,
        cold_start_seconds=180.0,
        slo_ttft_seconds=2.0,
        max_replicas=32,
        uniform_scale_down=uniform,
        knob=knob,
    )


def test_parameters_are_the_operators_mapping_of_the_spec() -> None:
    doc = document()
    params = bench_spec.parameters(doc)
    assert params == parameters_from_spec(LLMDeploymentSpec.model_validate(doc))
    assert params.capacity_requests_per_second == pytest.approx(30.0)
    assert params.capacity_tokens_per_second == 6000.0
    assert params.max_replicas == 32 and params.slo_ttft_p95_seconds == 2.0
    assert params.scale_down_max_step == 4
    assert params.scale_down_period_seconds == 60.0
    assert params.scale_down_stabilization_seconds == 300.0


def test_the_knob_moves_the_spec_field_of_the_knob_table() -> None:
    assert bench_spec.FORESCALE_KNOB.spec_path == "scaling.slo.attainment"
    low = document(0.95)
    assert low["scaling"]["slo"]["attainment"] == "0.95"  # type: ignore[index]
    assert bench_spec.parameters(low) != bench_spec.parameters(document(0.999))
    knob = bench_spec.REACTIVE_KNOB
    assert knob.spec_path == "scaling.capacity.requestsPerSecond"
    cheap = bench_spec.parameters(document(0.8, knob=knob))
    assert cheap.capacity_requests_per_second == pytest.approx(24.0)
    assert cheap.capacity_tokens_per_second == 4800.0
    assert cheap.capacity_prompt_tokens_per_second == 4800.0  # the same load test, scaled


def test_defaults_variant_keeps_the_crd_scale_down() -> None:
    params = bench_spec.parameters(document(uniform=False))
    default = parameters_from_spec(
        LLMDeploymentSpec.model_validate({"model": {"name": bench_spec.MODEL_NAME}})
    )
    assert params.scale_down_max_step == default.scale_down_max_step
    assert params.scale_down_stabilization_seconds == default.scale_down_stabilization_seconds


def test_overrides_list_only_what_differs_from_the_crd_defaults() -> None:
    found = bench_spec.overrides(document())
    assert found == {
        "scaling.maxReplicas": 32,
        "scaling.capacity.requestsPerSecond": "30.000",
        "scaling.capacity.outputTokensPerSecond": 6000,
        "scaling.capacity.promptTokensPerSecond": 6000,
        "scaling.scaleDown.maxPercentPerStep": 1,  # 4 pods per 60 s alone; 4 is the default
    }
