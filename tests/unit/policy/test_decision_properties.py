"""For any admitted spec and any sequence of readings, a decision is made, bounded and kept.

The example-based tests pin the policy's choices; these ask what must hold whatever the
metrics say: no exception (a raise holds the deployment and pages someone), a count within
``minReplicas``/``maxReplicas``, a finite forecast, and a state that persists as strict
JSON and restores (a state that cannot be written or read back loses what the policy
learned at the next operator restart). Readings include what real scrapes produce: zero,
missing signals, a huge spike, a clock that repeats or steps back, pods that report
start times.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forescale.api.spec import LLMDeploymentSpec, ScalingSpec
from forescale.handlers.autoscaling import _encode_state, read_state
from forescale.policy import PolicyState, ReplicaCounts, decide
from forescale.policy.spec_mapping import parameters_from_spec

from .support import observation

specs = st.fixed_dictionaries(
    {
        "policy": st.sampled_from(["predictive", "reactive"]),
        "minReplicas": st.integers(1, 4),
        "extra": st.integers(0, 20),
        "coldStartSeconds": st.integers(0, 900),
        "intervalSeconds": st.integers(5, 60),
        "attainment": st.sampled_from(["0.5", "0.9", "0.99", "0.999", "99.99%"]),
        "capacity": st.one_of(st.none(), st.sampled_from(["0.5", "3", "35.7", "500m"])),
        "down": st.integers(0, 600),
        "up": st.integers(0, 120),
        "start": st.floats(0.0, 1.0),
    }
)

#: What an Observation can hold (it refuses NaN, infinities and negatives at construction,
#: tests/unit/policy/test_data_guards.py).
signal = st.one_of(
    st.none(),
    st.floats(0.0, 1e5, allow_nan=False),
    st.sampled_from([0.0, 1.0, 5.0, 40.0]),
)
steps = st.lists(
    st.fixed_dictionaries(
        {
            "dt": st.sampled_from([-15.0, 0.0, 1.0, 5.0, 15.0, 15.0, 15.0, 60.0, 900.0]),
            "rate": signal,
            "waiting": signal,
            "ttft": st.one_of(st.none(), st.floats(0.0, 60.0)),
            "started": st.lists(st.floats(0.0, 3600.0), max_size=2),
            "loading": st.integers(0, 3),
        }
    ),
    min_size=1,
    max_size=50,
)


def _spec(raw: dict[str, Any]) -> LLMDeploymentSpec:
    defaults = ScalingSpec().model_dump(by_alias=True, exclude_none=True)
    scaling: dict[str, Any] = {
        "policy": raw["policy"],
        "minReplicas": raw["minReplicas"],
        "maxReplicas": raw["minReplicas"] + raw["extra"],
        "coldStartSeconds": raw["coldStartSeconds"],
        "intervalSeconds": raw["intervalSeconds"],
        "slo": {"attainment": raw["attainment"]},
        "scaleDown": {**defaults["scaleDown"], "stabilizationWindowSeconds": raw["down"]},
        "scaleUp": {**defaults["scaleUp"], "stabilizationWindowSeconds": raw["up"]},
    }
    if raw["capacity"] is not None:
        scaling["capacity"] = {"requestsPerSecond": raw["capacity"]}
    return LLMDeploymentSpec.model_validate({"model": {"name": "m"}, "scaling": scaling})


def replay(
    raw: dict[str, Any],
    readings: list[dict[str, Any]],
    carry: Callable[[PolicyState], PolicyState] = lambda state: state,
) -> PolicyState:
    """Decide on every reading from a fleet anywhere in its bounds, checking each decision
    (a count within bounds, a finite forecast); ``carry`` is what the state goes through
    between two decisions (nothing, or a restart). Returns the last state."""
    params = parameters_from_spec(_spec(raw))
    # The fleet starts anywhere in its bounds (a restart, a manual scale): a scale-down can
    # come as early as a horizon in.
    start = params.min_replicas + round(raw["start"] * raw["extra"])
    state, replicas, now = PolicyState(), start, 1_000.0
    for reading in readings:
        now += reading["dt"]
        rate = reading["rate"]
        obs = observation(now, 0.0 if rate is None else rate, replicas, waiting=0.0)
        obs = dataclasses.replace(
            obs, arrival_rate=rate, waiting=reading["waiting"], ttft_p95=reading["ttft"]
        )
        loading = min(reading["loading"], replicas)
        counts = ReplicaCounts(
            replicas,
            replicas - loading,
            pending=loading,
            startup_seconds=tuple(reading["started"]),
        )
        decision = decide([obs], state, params, counts, now)
        assert params.min_replicas <= decision.desired_replicas <= params.max_replicas
        forecast = decision.forecast_requests_per_second
        assert forecast is None or (math.isfinite(forecast) and forecast >= 0)
        state, replicas = carry(decision.state), decision.desired_replicas
    return state


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs, steps)
def test_any_readings_give_a_bounded_decision_and_a_state_that_persists(
    raw: dict[str, Any], readings: list[dict[str, Any]]
) -> None:
    state = replay(raw, readings)
    text = _encode_state(state)
    json.loads(text, parse_constant=_refuse)  # strict JSON: no NaN or Infinity
    restored = read_state({"status": {"autoscaling": {"policyState": text}}})[0]
    assert restored is not None, "the persisted state does not restore"


def _refuse(name: str) -> float:
    raise AssertionError(f"the persisted state holds {name}, which strict JSON readers refuse")
