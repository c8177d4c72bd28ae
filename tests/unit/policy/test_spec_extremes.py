"""Every value the API accepts is a policy that decides: each spec.scaling bound, end to end.

The CRD's schema is the contract with the user: a value it admits must not make the
operator raise mid-reconcile. A 0 s scale-down stabilization window (the schema's minimum,
as HPA's) once did (``max()`` of an empty window). So each numeric field is set in turn to
its lowest and highest admitted value, the rest at their defaults, and the resulting policy
is run from a fleet at its maximum through quiet load (a scale-down), a climb, a spike, a
drop to nothing and a metrics gap.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import annotated_types
import pytest

from forescale.api.spec import LLMDeploymentSpec, ScalingSpec
from forescale.policy import Action, Decision, ScalingParameters
from forescale.policy.spec_mapping import parameters_from_spec

from .schema_walk import LEAVES, document, field_info
from .support import run

#: Values of the string fields at the ends of what their patterns admit.
STRING_EXTREMES: dict[str, tuple[str, ...]] = {
    "slo.attainment": ("0.0001", "0.9999", "1%", "99.99%"),
    "capacity.requests_per_second": ("1m", "1T"),
}
#: Fields another must follow for the value to be valid at all (minReplicas <= maxReplicas).
COMPANIONS: dict[tuple[str, int], dict[str, object]] = {
    ("min_replicas", 1000): {"max_replicas": 1000},
}

#: Arrival rates, one per 15 s: quiet (the fleet starts at its maximum), a climb, a spike,
#: nothing at all, a metrics gap (None), and back.
LOAD: list[float | None] = [
    *[5.0] * 40,
    *[5.0 + 10.0 * i for i in range(12)],
    *[400.0] * 4,
    *[0.0] * 12,
    *[None] * 3,
    *[2.0] * 12,
]


def _extremes() -> Iterator[tuple[str, object]]:
    for path in LEAVES:
        name = ".".join(path)
        if name in STRING_EXTREMES:
            yield from ((name, value) for value in STRING_EXTREMES[name])
            continue
        metadata = field_info(path).metadata
        low = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
        high = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
        for bound in (low, high):
            if bound is not None:
                yield name, int(bound)  # type: ignore[call-overload]


EXTREMES = list(_extremes())


def _spec(name: str, value: object) -> LLMDeploymentSpec:
    scaling = ScalingSpec().model_dump()
    # A load-tested capacity, unless walked itself: the observations below are not a real
    # fleet's, and learning one from them would only ever hold.
    scaling["capacity"]["requests_per_second"] = "10"
    if isinstance(value, int):
        scaling.update(COMPANIONS.get((name, value), {}))
    document_ = document(tuple(name.split(".")), value, scaling)
    return LLMDeploymentSpec.model_validate(document_, by_name=True)  # python names


def test_every_numeric_field_is_walked_at_both_ends() -> None:
    names = {name for name, _ in EXTREMES}
    assert {"scale_down.stabilization_window_seconds", "cold_start_seconds"} <= names
    assert len(EXTREMES) >= 2 * 18


def _run(params: ScalingParameters) -> list[Decision]:
    """The decisions over ``LOAD`` from a fleet at its maximum, checking the invariants."""
    decisions = run(LOAD, params, replicas=params.max_replicas)
    before = [params.max_replicas, *(d.desired_replicas for d in decisions)]
    for step, (rate, decision) in enumerate(zip(LOAD, decisions, strict=True)):
        assert params.min_replicas <= decision.desired_replicas <= params.max_replicas
        assert decision.reason, f"step {step}: a decision without a reason"
        if rate is None:
            assert decision.desired_replicas == before[step], "a metrics gap must hold replicas"
        forecast = decision.forecast_requests_per_second
        assert forecast is None or math.isfinite(forecast)
    return decisions


def test_the_load_scales_down_and_up_at_the_defaults() -> None:
    """The walk is worth its name only if the load reaches both guards."""
    actions = {d.action for d in _run(parameters_from_spec(_spec("min_replicas", 1)))}
    assert {Action.SCALE_DOWN, Action.SCALE_UP} <= actions


@pytest.mark.parametrize(("name", "value"), EXTREMES, ids=[f"{n}={v}" for n, v in EXTREMES])
def test_an_admitted_value_decides_within_the_bounds(name: str, value: object) -> None:
    _run(parameters_from_spec(_spec(name, value)))
