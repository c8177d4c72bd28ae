"""Map the CRD's ``spec.scaling`` (integers, quantities, camelCase) onto the policy's inputs.

The policy takes plain seconds and rates so the simulator can build it without pydantic;
this one function is where the API's units (milliseconds, percent, quantity strings)
become them, so a unit mistake has exactly one place to hide. Every field of
``spec.scaling`` is read here except ``mode`` (whether a decision is applied is the
handler's business, not the decision's); a unit test walks the schema to keep it so.
"""

from __future__ import annotations

from dataclasses import replace

from forescale.api.spec import LLMDeploymentSpec, parse_attainment, parse_quantity
from forescale.policy.parameters import PolicyKind, ScalingParameters

#: ``spec.scaling`` fields that deliberately do not reach the policy, and who reads them.
NOT_POLICY_FIELDS: dict[str, str] = {
    "mode": "handlers.autoscaling: recommend records a decision instead of applying it",
}


def parameters_from_spec(
    spec: LLMDeploymentSpec,
    *,
    rate_window_seconds: float | None = None,
    scrape_interval_seconds: float | None = None,
) -> ScalingParameters:
    """The policy parameters an LLMDeployment asks for.

    ``rate_window_seconds`` and ``scrape_interval_seconds`` describe how the caller measures
    (the operator's Prometheus reader, the simulator's view); unset: the policy's defaults.
    """
    s = spec.scaling
    capacity_rps = s.capacity.requests_per_second
    e2e_ms = s.slo.e2e_p95_milliseconds
    tps = s.capacity.output_tokens_per_second
    prompts = s.capacity.prompt_tokens_per_second
    params = ScalingParameters(
        min_replicas=s.min_replicas,
        max_replicas=s.max_replicas,
        policy=PolicyKind(s.policy),
        slo_ttft_p95_seconds=s.slo.ttft_p95_milliseconds / 1000,
        slo_e2e_p95_seconds=None if e2e_ms is None else e2e_ms / 1000,
        slo_queue_per_replica=float(max(s.slo.queue_per_replica, 1)),
        attainment=parse_attainment(s.slo.attainment),
        capacity_requests_per_second=None if capacity_rps is None else parse_quantity(capacity_rps),
        capacity_tokens_per_second=None if tps is None else float(tps),
        capacity_prompt_tokens_per_second=None if prompts is None else float(prompts),
        cold_start_seconds=float(s.cold_start_seconds),
        season_period_seconds=float(s.season_period_seconds),
        control_interval_seconds=float(s.interval_seconds),
        scale_up_max_step=s.scale_up.max_replicas_per_step,
        scale_up_max_percent=float(s.scale_up.max_percent_per_step),
        scale_up_period_seconds=float(s.scale_up.period_seconds),
        scale_up_stabilization_seconds=float(s.scale_up.stabilization_window_seconds),
        scale_down_max_step=s.scale_down.max_replicas_per_step,
        scale_down_max_percent=float(s.scale_down.max_percent_per_step),
        scale_down_period_seconds=float(s.scale_down.period_seconds),
        scale_down_stabilization_seconds=float(s.scale_down.stabilization_window_seconds),
    )
    if rate_window_seconds is not None:
        params = replace(params, rate_window_seconds=float(rate_window_seconds))
    if scrape_interval_seconds is not None:
        params = replace(params, scrape_interval_seconds=float(scrape_interval_seconds))
    return params
