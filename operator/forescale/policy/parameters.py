"""The policy's pure inputs besides measurements: the scaling spec and the replica counts.

These are plain frozen dataclasses rather than the CRD's pydantic models so that the policy
depends on nothing but the standard library (and numpy-free arithmetic): the operator maps
``LLMDeployment.spec.scaling`` onto :class:`ScalingParameters`, the simulator builds them
directly. Validation here rejects specs that would make the arithmetic meaningless (a
zero control interval, min above max); it is a configuration error, raised at build time,
never a runtime hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum


class PolicyKind(StrEnum):
    """Which scaling rule to run."""

    PREDICTIVE = "predictive"
    """Forecast demand over the cold-start horizon and provision for its upper bound."""
    REACTIVE = "reactive"
    """The same rule on the current demand (no forecast): scales after the load arrives."""
    FIXED = "fixed"
    """Always ``min_replicas`` (set min = max for a fixed fleet)."""


@dataclass(frozen=True)
class ScalingParameters:
    """What one LLMDeployment asks of its autoscaler. Times in seconds, rates per second."""

    min_replicas: int = 1
    max_replicas: int = 16
    policy: PolicyKind = PolicyKind.PREDICTIVE
    slo_ttft_p95_seconds: float = 2.0
    """Time-to-first-token target (95th percentile)."""
    slo_e2e_p95_seconds: float | None = None
    """End-to-end latency target (95th percentile); None when the user sets none."""
    slo_queue_per_replica: float = 4.0
    """Waiting requests per Ready replica above which the queue is considered building."""
    capacity_requests_per_second: float | None = None
    """Seed: requests/s one replica completes when saturated (learned online afterwards)."""
    capacity_tokens_per_second: float | None = None
    """Seed: generated tokens/s one replica sustains when saturated (learned online)."""
    cold_start_seconds: float = 180.0
    """Seed of the pod-creation-to-Ready time (learned online from observed starts)."""
    control_interval_seconds: float = 15.0
    observation_lag_seconds: float = 45.0
    """How far the observed arrival rate trails the present: about half the rate window
    (60 s) plus one scrape interval (15 s). Capacity must be Ready this much later too, so it
    is added to the forecast horizon."""
    target_utilization: float = 0.9
    """Share of the saturated capacity the fleet is planned to run at (queueing headroom)."""
    forecast_quantile: float = 0.95
    """Upper quantile of the demand forecast that capacity is planned for."""
    peak_window_seconds: float = 900.0
    """The forecast (and the spike path) may not exceed what was observed: the highest
    arrival rate within this window, plus ``peak_margin``, plus the rise of the arrival rate
    above the peak seen before the last horizon (assumed to repeat over the next horizon).
    0 disables the bound."""
    peak_margin: float = 0.1
    """Headroom above the observed peak rate that the bound allows (0.1: 10 %)."""
    season_length_intervals: int = 0
    """Samples per season of the forecaster (e.g. one day of intervals); 0: no season."""
    backlog_drain_seconds: float = 30.0
    """The waiting queue is planned to drain within this time, on top of the demand."""
    spike_ratio: float = 1.5
    """Current demand above this multiple of the forecast's level takes the fast path."""
    scale_up_max_step: int = 4
    """Replicas that may be added per scale-up period (the larger of step and percent wins)."""
    scale_up_max_percent: float = 100.0
    scale_up_period_seconds: float = 15.0
    scale_down_max_step: int = 4
    """Replicas that may be removed per scale-down period."""
    scale_down_period_seconds: float = 60.0
    scale_down_stabilization_seconds: float = 180.0
    """Scale down only to the highest recommendation made over this window."""
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
            "slo_e2e_p95_seconds",
        ):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 when set, got {value}")
        if self.cold_start_seconds < 0 or self.scale_down_stabilization_seconds < 0:
            raise ValueError("cold_start_seconds and scale_down_stabilization_seconds must be >= 0")
        if not 0 < self.target_utilization <= 1:
            raise ValueError(f"target_utilization must be in (0, 1], got {self.target_utilization}")
        if not 0.5 <= self.forecast_quantile < 1:
            raise ValueError(f"forecast_quantile must be in [0.5, 1), got {self.forecast_quantile}")
        if self.peak_window_seconds < 0 or self.peak_margin < 0:
            raise ValueError("peak_window_seconds and peak_margin must be >= 0")
        if self.spike_ratio <= 1:
            raise ValueError(f"spike_ratio must be > 1, got {self.spike_ratio}")
        if (
            self.scale_up_max_step < 1
            or self.scale_down_max_step < 1
            or self.scale_up_max_percent < 0
        ):
            raise ValueError("scale step limits must allow at least one replica per period")

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
