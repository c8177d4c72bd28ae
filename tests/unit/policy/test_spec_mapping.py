"""One source of truth: every spec.scaling field reaches the policy, defaults live in the API."""

from __future__ import annotations

import typing
from dataclasses import fields

import annotated_types
import pytest

from forescale.api.spec import LLMDeploymentSpec, parse_attainment
from forescale.policy import ScalingParameters
from forescale.policy.spec_mapping import NOT_POLICY_FIELDS, parameters_from_spec

from .schema_walk import LEAVES, MODEL, document, field_info


def _other_value(path: tuple[str, ...], default: object) -> object:
    """A valid value different from ``default`` for the field at ``path``."""
    info = field_info(path)
    args = typing.get_args(info.annotation)
    literal = [a for a in typing.get_args(info.annotation) if isinstance(a, str)]
    if typing.get_origin(info.annotation) is typing.Literal:
        return next(choice for choice in literal if choice != default)
    if path[-1] == "attainment":
        return "0.9"
    if path[-1] == "requests_per_second":
        return "3.5"
    low = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), 0)
    if int in (info.annotation, *args):
        return (default if isinstance(default, int) else int(low)) + 1  # type: ignore[call-overload]
    raise AssertionError(f"no alternative value for spec.scaling.{'.'.join(path)}")


def test_the_walk_sees_every_field() -> None:
    names = {".".join(p) for p in LEAVES}
    assert {"slo.attainment", "scale_up.stabilization_window_seconds", "mode"} <= names
    assert len(names) >= 20


@pytest.mark.parametrize("path", LEAVES, ids=[".".join(p) for p in LEAVES])
def test_every_scaling_field_reaches_the_policy(path: tuple[str, ...]) -> None:
    """Changing any spec.scaling field changes ScalingParameters, or the field is listed
    with the component that reads it instead (a field accepted and ignored fails here)."""
    # The walk's documents use python names, which only by_name=True reads.
    default = LLMDeploymentSpec.model_validate(document(path), by_name=True)
    node: object = default.scaling
    for name in path:
        node = getattr(node, name)
    changed = LLMDeploymentSpec.model_validate(
        document(path, _other_value(path, node)), by_name=True
    )
    before, after = parameters_from_spec(default), parameters_from_spec(changed)
    if ".".join(path) in NOT_POLICY_FIELDS:
        assert before == after
    else:
        assert before != after, f"spec.scaling.{'.'.join(path)} does not reach the policy"


def test_defaults_are_defined_once_in_the_api() -> None:
    """A default LLMDeployment and a default ScalingParameters are the same policy."""
    assert parameters_from_spec(LLMDeploymentSpec.model_validate(MODEL)) == ScalingParameters()


def test_parameters_not_in_the_api_are_measurement_or_policy_constants() -> None:
    """Anything ScalingParameters has beyond the spec is named here, so a new user knob
    cannot slip into the dataclass without a spec field."""
    mapped = {
        "min_replicas", "max_replicas", "policy", "slo_ttft_p95_seconds", "slo_e2e_p95_seconds",
        "slo_queue_per_replica", "attainment", "capacity_requests_per_second",
        "capacity_tokens_per_second", "capacity_prompt_tokens_per_second", "cold_start_seconds",
        "control_interval_seconds", "season_period_seconds",
        "scale_up_max_step", "scale_up_max_percent", "scale_up_period_seconds",
        "scale_up_stabilization_seconds", "scale_down_max_step", "scale_down_max_percent",
        "scale_down_period_seconds", "scale_down_stabilization_seconds",
    }  # fmt: skip
    measurement = {"rate_window_seconds", "scrape_interval_seconds"}
    constants = {
        "peak_margin", "memory_half_life_seconds",
        "backlog_drain_seconds", "spike_ratio", "stale_after_seconds", "saturation_min_seconds",
    }  # fmt: skip
    assert {f.name for f in fields(ScalingParameters)} == mapped | measurement | constants


def test_the_rate_window_reaches_the_horizon() -> None:
    spec = LLMDeploymentSpec.model_validate(MODEL)
    assert parameters_from_spec(spec).observation_lag_seconds == 60 / 2 + 15
    demo = parameters_from_spec(spec, rate_window_seconds=15, scrape_interval_seconds=5)
    assert demo.observation_lag_seconds == 15 / 2 + 5


@pytest.mark.parametrize(("text", "value"), [("0.99", 0.99), ("99%", 0.99), ("99.9%", 0.999)])
def test_attainment_is_a_fraction_or_a_percentage(text: str, value: float) -> None:
    assert parse_attainment(text) == pytest.approx(value)
    spec = LLMDeploymentSpec.model_validate({**MODEL, "scaling": {"slo": {"attainment": text}}})
    assert parameters_from_spec(spec).attainment == pytest.approx(value)


@pytest.mark.parametrize("text", ["1", "1.0", "100%", "0", "0%", "0.99.1", "high", "0.99 "])
def test_attainment_outside_zero_to_one_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        LLMDeploymentSpec.model_validate({**MODEL, "scaling": {"slo": {"attainment": text}}})
