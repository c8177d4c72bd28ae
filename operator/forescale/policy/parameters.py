"""The policy's pure inputs besides measurements: the scaling spec and the replica counts.

These are plain frozen dataclasses rather than the CRD's pydantic models so that the
decision arithmetic reads plain seconds and rates: the operator maps
``LLMDeployment.spec.scaling`` onto :class:`ScalingParameters` (``spec_mapping``); their
defaults are read from the API's own defaults, so they are defined once. Validation here
rejects specs that would make the arithmetic meaningless (a zero control interval, min above
max); it is a configuration error, raised at build time, never a runtime hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum

from forescale.api.spec import ScalingSpec, parse_attainment


class PolicyKind(StrEnum):
    """Which scaling rule to run."""

    PREDICTIVE = "predictive"
    """Forecast demand over the cold-start horizon and provision for its upper bound."""
    REACTIVE = "reactive"
    """The same rule on the current demand (no forecast): scales after the load arrives."""
    FIXED = "fixed"
    """No autoscaling: the replica count the Deployment has (``spec.replicas``) stands."""


#: The API's defaults: every field a spec can set takes its default from here, so a value
#: is defined once (in ``forescale.api.spec``) and the simulator's defaults are a default
#: LLMDeployment's.
_SPEC = ScalingSpec()
_DEFAULT_POLICY = PolicyKind(_SPEC.policy)


@dataclass(frozen=True)
class ScalingParameters:
    """What one LLMDeployment asks of its autoscaler. Times in seconds, rates per second.

    The first group mirrors ``spec.scaling`` (``spec_mapping`` converts units); the second is
    how the operator measures (its Prometheus rate window); the rest are the policy's own
    constants, not user knobs, kept here so tests and the simulator can vary them.
    """

    min_replicas: int = _SPEC.min_replicas
    max_replicas: int = _SPEC.max_replicas
    policy: PolicyKind = _DEFAULT_POLICY
    slo_ttft_p95_seconds: float = _SPEC.slo.ttft_p95_milliseconds / 1000
    """Time-to-first-token target (95th percentile)."""
    slo_e2e_p95_seconds: float | None = None
    """End-to-end latency target (95th percentile); None when the user sets none."""
    slo_queue_per_replica: float = float(max(_SPEC.slo.queue_per_replica, 1))
    """Waiting requests per Ready replica above which the queue is considered building."""
    attainment: float = parse_attainment(_SPEC.slo.attainment)
    """Share of requests that should meet the SLO: the quantile of the burst envelope that
    is provisioned for (request-weighted, see ``envelope``)."""
    capacity_requests_per_second: float | None = None
    """Seed: requests/s one replica serves within the SLO (learned online afterwards)."""
    capacity_tokens_per_second: float | None = None
    """Seed: generated tokens/s one replica sustains within the SLO (learned online)."""
    capacity_prompt_tokens_per_second: float | None = None
    """Prompt tokens/s of the same load test: with the two above, the context its token
    capacity was measured at (``learning.reference_context``)."""
    cold_start_seconds: float = float(_SPEC.cold_start_seconds)
    """Seed of the pod-creation-to-Ready time (learned online from observed starts)."""
    control_interval_seconds: float = float(_SPEC.interval_seconds)
    scale_up_max_step: int = _SPEC.scale_up.max_replicas_per_step
    """Replicas that may be added per scale-up period (the larger of step and percent wins)."""
    scale_up_max_percent: float = float(_SPEC.scale_up.max_percent_per_step)
    scale_up_period_seconds: float = float(_SPEC.scale_up.period_seconds)
    scale_up_stabilization_seconds: float = float(_SPEC.scale_up.stabilization_window_seconds)
    """Scale up only to the lowest recommendation made over this window (0: at once)."""
    scale_down_max_step: int = _SPEC.scale_down.max_replicas_per_step
    """Replicas that may be removed per scale-down period (the larger of step and percent)."""
    scale_down_max_percent: float = float(_SPEC.scale_down.max_percent_per_step)
    scale_down_period_seconds: float = float(_SPEC.scale_down.period_seconds)
    scale_down_stabilization_seconds: float = float(_SPEC.scale_down.stabilization_window_seconds)
    """Scale down only to the highest recommendation made over this window."""
    rate_window_seconds: float = 60.0
    """Window of the Prometheus ``rate()`` the arrival rate is read over (the operator's
    ``FORESCALE_RATE_WINDOW_SECONDS``; the simulator's view)."""
    scrape_interval_seconds: float = 15.0
    """How often Prometheus scrapes the replicas."""
    peak_margin: float = 0.1
    """Headroom above the highest arrival rate seen that the plan may reach (0.1: 10 %)."""
    memory_half_life_seconds: float = 6 * 3600.0
    """How fast the burst envelope and the remembered peak forget: a sample's weight (the
    peak's excess) halves over this time. Long enough that a flash crowd seen once is
    provisioned for when the next one comes within hours; short enough to follow a
    deployment whose traffic changed within a day."""
    season_period_seconds: float = float(_SPEC.season_period_seconds)
    """Length of the traffic's recurring cycle (``season``); 0: none."""
    backlog_drain_seconds: float = 30.0
    """The waiting queue is planned to drain within this time, on top of the demand."""
    spike_ratio: float = 1.5
    """Arrivals above this multiple of the expected rate (and above the learned envelope)
    take the fast path."""
    stale_after_seconds: float | None = None
    """Observations older than this are not acted on; default three control intervals."""
    saturation_min_seconds: float = 60.0
    """A capacity sample needs the queue to have been building this long (one rate window)."""

    def __post_init__(self) -> None:
        # Accept the CRD's plain string ("predictive") as well as the enum member.
        object.__setattr__(self, "policy", PolicyKind(self.policy))
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be finite, got {value}")
        if self.min_replicas < 1:
            raise ValueError(
                f"min_replicas must be >= 1 (never scale to zero), got {self.min_replicas}"
            )
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas {self.max_replicas} < min_replicas {self.min_replicas}")
        positive = (
            "slo_ttft_p95_seconds",
            "slo_queue_per_replica",
            "control_interval_seconds",
            "backlog_drain_seconds",
            "scale_up_period_seconds",
            "scale_down_period_seconds",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in (
            "capacity_requests_per_second",
            "capacity_tokens_per_second",
            "capacity_prompt_tokens_per_second",
            "slo_e2e_p95_seconds",
        ):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 when set, got {value}")
        if (
            self.cold_start_seconds < 0
            or self.scale_down_stabilization_seconds < 0
            or self.scale_up_stabilization_seconds < 0
        ):
            raise ValueError("cold start and stabilization windows must be >= 0")
        if not 0 < self.attainment < 1:
            raise ValueError(f"attainment must be in (0, 1), got {self.attainment}")
        if self.rate_window_seconds <= 0 or self.scrape_interval_seconds < 0:
            raise ValueError("rate_window_seconds must be > 0 and scrape_interval_seconds >= 0")
        if self.memory_half_life_seconds <= 0:
            raise ValueError("memory_half_life_seconds must be > 0")
        if self.season_period_seconds < 0:
            raise ValueError("season_period_seconds must be >= 0")
        if self.peak_margin < 0:
            raise ValueError("peak_margin must be >= 0")
        if self.spike_ratio <= 1:
            raise ValueError(f"spike_ratio must be > 1, got {self.spike_ratio}")
        if (
            self.scale_up_max_step < 1
            or self.scale_down_max_step < 1
            or self.scale_up_max_percent < 0
            or self.scale_down_max_percent < 0
        ):
            raise ValueError("scale step limits must allow at least one replica per period")

    @property
    def observation_lag_seconds(self) -> float:
        """How far the observed arrival rate trails the present: half the rate window (a
        ``rate()`` over a rising load reads its middle) plus one scrape interval. Capacity
        must be Ready this much later too, so it is part of the forecast horizon."""
        return self.rate_window_seconds / 2 + self.scrape_interval_seconds

    @property
    def staleness_limit_seconds(self) -> float:
        if self.stale_after_seconds is not None:
            return self.stale_after_seconds
        return 3 * self.control_interval_seconds


@dataclass(frozen=True)
class ReplicaCounts:
    """The Deployment as the operator sees it at decision time.

    ``desired`` is the replica count currently asked for; ``ready`` of them serve,
    ``pending`` are created but not yet Ready (loading the model). Draining pods are in
    neither. ``startup_seconds`` lists creation-to-Ready times of pods that became Ready
    since the previous decision (the policy learns its horizon from them).
    """

    desired: int
    ready: int
    pending: int = 0
    startup_seconds: tuple[float, ...] = ()

    @property
    def problems(self) -> tuple[str, ...]:
        """Why these counts cannot be trusted (empty when they can)."""
        out = []
        for name in ("desired", "ready", "pending"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                out.append(f"{name} replicas is {value!r}")
        for seconds in self.startup_seconds:
            if not math.isfinite(seconds) or seconds < 0:
                out.append(f"startup time {seconds!r}")
        return tuple(out)
