"""The benchmark's one scale-down rule, for autoscalers that have no HPA ``behavior`` of their own.

Every policy of the sweep gets the same scale-down: act on the highest recommendation of the
last 300 s, and remove at most 4 pods per 60 s. HPA-based peers get it as their own
``behavior`` (``hpa.UNIFORM_BEHAVIOR``), forescale through its ``spec.scaling.scaleDown``;
the rest (KPA, the Dynamo planner) are wrapped in :class:`ScaleDownLimiter`. Without it a
peer that drops capacity in one step would pay for a cold start the next minute, and the
comparison would measure a scale-down setting rather than an autoscaler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from forescale.sim.scaler import Scaler, ScalerInput, ScalerOutput

UNIFORM_STABILIZATION_SECONDS = 300.0
UNIFORM_DOWN_PODS = 4
UNIFORM_DOWN_PERIOD_SECONDS = 60.0


@dataclass
class ScaleDownLimiter:
    """Wraps a scaler: scale-up passes through; scale-down is stabilized and rate-limited."""

    inner: Scaler
    stabilization_seconds: float = UNIFORM_STABILIZATION_SECONDS
    max_pods: int = UNIFORM_DOWN_PODS
    period_seconds: float = UNIFORM_DOWN_PERIOD_SECONDS
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    removals: list[tuple[float, int]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def interval_seconds(self) -> float:
        return self.inner.interval_seconds

    def decide(self, view: ScalerInput) -> ScalerOutput:
        output = self.inner.decide(view)
        now, current = view.now, view.counts.desired
        if not self.recommendations:
            self.recommendations.append((now, current))  # as HPA seeds its window
        keep = self.stabilization_seconds
        self.recommendations = [(t, r) for t, r in self.recommendations if now - t < keep]
        self.recommendations.append((now, output.desired_replicas))
        desired = output.desired_replicas
        if desired < current:
            stabilized = max(r for _, r in self.recommendations)
            self.removals = [(t, n) for t, n in self.removals if now - t < self.period_seconds]
            allowed = self.max_pods - sum(n for _, n in self.removals)
            desired = max(desired, min(stabilized, current), current - max(allowed, 0))
            if desired < current:
                self.removals.append((now, current - desired))
        return ScalerOutput(desired, output.forecast_requests_per_second)
