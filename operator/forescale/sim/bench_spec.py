"""The benchmark builds forescale from an ``LLMDeployment`` spec, through the operator's mapping.

The bench writes the spec a user would write (CRD defaults everywhere, plus what a user
must supply: bounds, the cold start, the TTFT SLO, the per-replica capacity from a load
test, and the benchmark's uniform scale-down), validates it with the API models and hands it
to ``policy.spec_mapping.parameters_from_spec``: what the benchmark measures is a
configuration an ``LLMDeployment`` can ask for. :func:`overrides` lists what differs from
the CRD defaults, and the report prints it.

forescale's sweep knob is one row of :data:`KNOBS` (:data:`FORESCALE_KNOB`:
``scaling.slo.attainment``); ``reactive`` is swept over the declared capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forescale.api.spec import LLMDeploymentSpec
from forescale.policy.parameters import ScalingParameters
from forescale.policy.spec_mapping import parameters_from_spec
from forescale.sim.peers.limits import (
    UNIFORM_DOWN_PERIOD_SECONDS,
    UNIFORM_DOWN_PODS,
    UNIFORM_STABILIZATION_SECONDS,
)
from forescale.sim.sizing import ReplicaCapacity

MODEL_NAME = "meta-llama/Llama-3.1-8B-Instruct"


@dataclass(frozen=True)
class Knob:
    """A spec field the sweep varies."""

    name: str
    spec_path: str
    """Dotted camelCase path under ``spec``."""
    values: tuple[float, ...]
    default: float
    relative_to_slo_rate: bool
    """The value is a share of one replica's measured within-SLO rate (else it is literal)."""


KNOBS: dict[str, Knob] = {
    # Per-replica capacity declared in the spec, as a share of what a load test measured at
    # the SLO: below 1 the fleet plans with headroom, above 1 it runs hotter.
    "capacity": Knob(
        "capacity",
        "scaling.capacity.requestsPerSecond",
        values=(0.7, 0.8, 0.9, 1.0, 1.1),
        default=1.0,
        relative_to_slo_rate=True,
    ),
    # spec.scaling.slo.attainment: the quantile of the learned burst envelope (a string).
    # Swept over its range as the peers' knobs are over theirs (0.5-0.9 utilization: from
    # lavish to lean): from 0.5, the leanest (the envelope's median), to 0.999.
    "attainment": Knob(
        "attainment",
        "scaling.slo.attainment",
        values=(0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999),
        default=0.99,
        relative_to_slo_rate=False,
    ),
}
#: The knob forescale is swept over: its one headroom knob, the SLO attainment target.
FORESCALE_KNOB = KNOBS["attainment"]
#: ``reactive`` has no forecast and no envelope: it is swept over the declared capacity.
REACTIVE_KNOB = KNOBS["capacity"]

UNIFORM_SCALE_DOWN: dict[str, int] = {
    "maxReplicasPerStep": UNIFORM_DOWN_PODS,
    # The larger of step and percent may apply; 1 % keeps the 4-pod step the binding one.
    "maxPercentPerStep": 1,
    "periodSeconds": int(UNIFORM_DOWN_PERIOD_SECONDS),
    "stabilizationWindowSeconds": int(UNIFORM_STABILIZATION_SECONDS),
}


def _set(document: dict[str, Any], path: str, value: object) -> None:
    *parents, leaf = path.split(".")
    node = document
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def seeded_capacity(capacity: ReplicaCapacity) -> dict[str, Any]:
    """``spec.scaling.capacity`` as a user seeds it from a load test: the rates one replica
    sustains *within the SLO* at the load test's mix (the field's meaning), not its
    saturated throughput."""
    rps = capacity.slo_requests_per_second
    return {
        "requestsPerSecond": f"{rps:.3f}",
        "outputTokensPerSecond": max(1, round(rps * capacity.mean_output_tokens)),
        "promptTokensPerSecond": max(1, round(rps * capacity.mean_prompt_tokens)),
    }


def spec_document(
    *,
    policy: str,
    knob_value: float,
    capacity: ReplicaCapacity,
    cold_start_seconds: float,
    slo_ttft_seconds: float,
    max_replicas: int,
    uniform_scale_down: bool,
    knob: Knob = FORESCALE_KNOB,
    season_period_seconds: float | None = None,
) -> dict[str, Any]:
    """The ``spec`` of the LLMDeployment the benchmark runs, as a user would write it
    (``season_period_seconds``: the traffic's cycle, when the user knows one)."""
    rps = capacity.slo_requests_per_second
    tokens = rps * capacity.mean_output_tokens
    prompts = rps * capacity.mean_prompt_tokens
    scaling: dict[str, Any] = {
        "minReplicas": 1,
        "maxReplicas": max_replicas,
        "policy": policy,
        "coldStartSeconds": round(cold_start_seconds),
        "slo": {"ttftP95Milliseconds": round(slo_ttft_seconds * 1000)},
        "capacity": seeded_capacity(capacity),
    }
    if uniform_scale_down:
        scaling["scaleDown"] = dict(UNIFORM_SCALE_DOWN)
    if season_period_seconds is not None:
        scaling["seasonPeriodSeconds"] = round(season_period_seconds)
    document: dict[str, Any] = {"model": {"name": MODEL_NAME}, "scaling": scaling}
    if knob.relative_to_slo_rate:
        _set(document, knob.spec_path, f"{knob_value * rps:.3f}")
        if knob.spec_path == "scaling.capacity.requestsPerSecond":
            scaling["capacity"]["outputTokensPerSecond"] = max(1, round(knob_value * tokens))
            scaling["capacity"]["promptTokensPerSecond"] = max(1, round(knob_value * prompts))
    elif knob.spec_path == "scaling.slo.attainment":
        _set(document, knob.spec_path, f"{knob_value:g}")  # the API takes a string
    else:
        _set(document, knob.spec_path, knob_value)
    return document


def parameters(document: dict[str, Any]) -> ScalingParameters:
    """Validate ``document`` with the API models and map it as the operator does."""
    return parameters_from_spec(LLMDeploymentSpec.model_validate(document))


def overrides(document: dict[str, Any]) -> dict[str, object]:
    """Dotted paths whose value differs from the CRD default (what the user had to write)."""
    spec = LLMDeploymentSpec.model_validate(document).model_dump(by_alias=True)
    default = LLMDeploymentSpec.model_validate({"model": {"name": MODEL_NAME}}).model_dump(
        by_alias=True
    )
    out: dict[str, object] = {}

    def walk(ours: object, theirs: object, path: str) -> None:
        if isinstance(ours, dict) and isinstance(theirs, dict):
            for key in ours:
                walk(ours[key], theirs.get(key), f"{path}.{key}" if path else key)
        elif ours != theirs:
            out[path] = ours

    walk(spec, default, "")
    return out
