"""The observed state of an ``LLMDeployment``: written by the operator, never by users.

Status follows the Kubernetes API conventions: ``observedGeneration`` says which spec the
rest describes, conditions are a list keyed by ``type`` (no ``phase``), and replica counts
and ``selector`` back the ``scale`` subresource. Fractional figures are strings (the
conventions avoid floats in the API) so that printer columns show them as written.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from forescale.api.spec import ApiModel

ConditionStatus = Literal["True", "False", "Unknown"]

# Condition types. Ready summarises; the others say why it is (not) Ready.
READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
SCALING_ACTIVE = "ScalingActive"
"""Domain condition: the autoscaler has usable metrics and is deciding (HPA's name)."""
CONDITION_TYPES = (READY, PROGRESSING, DEGRADED, SCALING_ACTIVE)


class Condition(ApiModel):
    """One aspect of the LLMDeployment's state (metav1.Condition)."""

    type: str = Field(max_length=316, description="Condition type, e.g. Ready.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        max_length=1024, description="CamelCase machine-readable cause of the last transition."
    )
    message: str = Field(default="", max_length=32768, description="What a person can act on.")
    last_transition_time: str = Field(
        description="RFC 3339 time the status last changed.",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation this condition was set for."
    )


class AutoscalingStatus(ApiModel):
    """What the autoscaler saw and decided last."""

    desired_replicas: int | None = Field(
        default=None,
        ge=0,
        description="Replicas forescale asks the Deployment for (in recommend mode, the count "
        "it keeps: recommendedReplicas holds the advice).",
    )
    recommended_replicas: int | None = Field(
        default=None,
        ge=0,
        description="scaling.mode recommend only: replicas the last decision would run, had "
        "it been applied.",
    )
    last_decision: Literal["ScaleUp", "ScaleDown", "Hold"] | None = Field(
        default=None, description="Kind of the last decision."
    )
    last_decision_reason: str | None = Field(
        default=None, max_length=4096, description="The last decision, with its numbers."
    )
    last_decision_time: str | None = Field(
        default=None, description="When it was taken (RFC 3339)."
    )
    last_scale_time: str | None = Field(
        default=None, description="When replicas last changed because of a decision (RFC 3339)."
    )
    observed_requests_per_second: str | None = Field(
        default=None, description="Arrival rate over the rate window, req/s."
    )
    observed_output_tokens_per_second: str | None = Field(
        default=None, description="Generation token rate, tokens/s."
    )
    waiting_requests: int | None = Field(default=None, ge=0, description="Queued requests.")
    ttft_p95_milliseconds: int | None = Field(
        default=None, ge=0, description="Observed 95th percentile time to first token."
    )
    e2e_p95_milliseconds: int | None = Field(
        default=None,
        alias="e2eP95Milliseconds",
        ge=0,
        description="Observed 95th percentile end-to-end latency.",
    )
    forecast_requests_per_second: str | None = Field(
        default=None, description="Upper forecast of the arrival rate at the horizon, req/s."
    )
    forecast_horizon_seconds: int | None = Field(
        default=None, ge=0, description="How far ahead the forecast looks (cold start + interval)."
    )
    capacity_requests_per_second: str | None = Field(
        default=None, description="Learned rate one replica serves within the SLO, req/s."
    )
    capacity_output_tokens_per_second: str | None = Field(
        default=None,
        description="Learned per-replica capacity, output tokens/s, at the observed prompt and "
        "output lengths.",
    )
    cold_start_seconds: int | None = Field(
        default=None, ge=0, description="Learned time from pod creation to Ready."
    )
    policy_state: str | None = Field(
        default=None,
        max_length=65536,
        description="The autoscaler's learned state (forecaster, capacity, cold start) as "
        "versioned compact JSON, restored when the operator restarts. Not for editing: an "
        "unreadable or other-version state makes the autoscaler start fresh.",
    )


class LLMDeploymentStatus(ApiModel):
    """Observed state of an LLMDeployment."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this status describes."
    )
    replicas: int | None = Field(default=None, ge=0, description="Pods that exist.")
    ready_replicas: int | None = Field(default=None, ge=0, description="Pods that are Ready.")
    updated_replicas: int | None = Field(
        default=None, ge=0, description="Pods running the current spec."
    )
    selector: str | None = Field(
        default=None, description="Label selector of the pods (for the scale subresource)."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Current conditions, one per type.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    autoscaling: AutoscalingStatus | None = Field(
        default=None, description="The autoscaler's view."
    )
