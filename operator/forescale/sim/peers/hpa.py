"""Kubernetes HorizontalPodAutoscaler (autoscaling/v2), re-implemented from its documentation.

Sources: https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
("Algorithm details", "Configurable scaling behavior", "Default Behavior") and the replica
calculator it documents (``pkg/controller/podautoscaler/replica_calculator.go``).

Defaults used, all Kubernetes' own: sync period 15 s (``--horizontal-pod-autoscaler-sync-
period``), tolerance 0.1, scale-up stabilization 0 s with policies "100 % or 4 pods per 15 s,
whichever is larger", scale-down stabilization 300 s with policy "100 % per 15 s".

Metric: a ``Pods`` metric, the per-pod average of ``vllm:num_requests_running +
vllm:num_requests_waiting`` (requests in flight), with an ``AverageValue`` target. The
documented treatment of pods without metrics is what matters for slow-starting replicas: a
pod still loading its model has no metrics; when the ready pods ask to scale up, such pods
are assumed to use 0 and the ratio is recomputed (so loading pods damp further scale-up);
when scaling down they are assumed at target. Terminating pods are ignored. A recomputed
ratio that flips direction or falls within tolerance keeps the current count.

External metrics with ``AverageValue`` (the way KEDA feeds HPA) use
``ceil(total / target)`` against the status replica count, also with the tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from forescale.sim.scaler import PodSample, ScalerInput, ScalerOutput


@dataclass(frozen=True)
class HpaBehavior:
    """``spec.behavior`` with Kubernetes' defaults."""

    tolerance: float = 0.1
    scale_up_stabilization_seconds: float = 0.0
    scale_up_percent: float = 100.0
    scale_up_pods: int = 4
    scale_up_period_seconds: float = 15.0
    scale_down_stabilization_seconds: float = 300.0
    scale_down_percent: float | None = 100.0
    """Percent of the replicas one period may remove; None: no percent policy."""
    scale_down_pods: int | None = None
    """Pods one period may remove; None: no pods policy. With both, the larger change wins
    (``selectPolicy: Max``)."""
    scale_down_period_seconds: float = 15.0


#: The scale-down every policy of the benchmark gets unless a variant says otherwise:
#: stabilization 300 s and at most 4 pods per 60 s, written as an HPA ``behavior``.
UNIFORM_BEHAVIOR = HpaBehavior(
    scale_down_stabilization_seconds=300.0,
    scale_down_percent=None,
    scale_down_pods=4,
    scale_down_period_seconds=60.0,
)


def pods_metric_replicas(
    pods: Sequence[PodSample],
    missing: int,
    current: int,
    target: float,
    tolerance: float,
) -> int:
    """Replica count for a ``Pods`` metric (in-flight requests per pod, ``AverageValue``).

    ``missing`` counts live, non-terminating pods without metrics (still loading).
    """
    values = [p.running + p.waiting for p in pods if not p.terminating]
    if not values:
        return current
    ready = len(values)
    ratio = sum(values) / (ready * target)
    if missing == 0:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    fill = target if ratio < 1.0 else 0.0
    values.extend([fill] * missing)
    new_ratio = sum(values) / (len(values) * target)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return current
    proposed = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and proposed > current) or (new_ratio > 1.0 and proposed < current):
        return current
    return proposed


def external_average_replicas(total: float, current: int, target: float, tolerance: float) -> int:
    """Replica count for an ``External`` metric with an ``AverageValue`` target."""
    if current > 0 and abs(1.0 - total / (target * current)) <= tolerance:
        return current
    return math.ceil(total / target)


@dataclass
class HpaController:
    """The behavior half of HPA: stabilization windows and rate policies, with history."""

    min_replicas: int
    max_replicas: int
    behavior: HpaBehavior = field(default_factory=HpaBehavior)
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    events: list[tuple[float, int]] = field(default_factory=list)
    """(time, replica change) of past scalings, for the rate policies' periods."""
    started: bool = False

    def normalize(self, current: int, proposed: int, now: float) -> int:
        """``normalizeDesiredReplicasWithBehaviors``: stabilize, then rate-limit, then bound.

        On its first sync the controller seeds the stabilization window with the current
        desired count (``reconcileKey`` in ``pkg/controller/podautoscaler/horizontal.go``
        stores ``hpa.Status.DesiredReplicas`` as the first recommendation), so a freshly
        started HPA does not scale down before a full window has passed.
        """
        b = self.behavior
        if not self.started:
            self.started = True
            self.recommendations.append((now, current))
        keep = max(b.scale_down_stabilization_seconds, b.scale_up_stabilization_seconds)
        self.recommendations = [(t, r) for t, r in self.recommendations if now - t < keep]
        up = proposed
        down = proposed
        for t, r in self.recommendations:
            if now - t < b.scale_up_stabilization_seconds:
                up = min(up, r)
            if now - t < b.scale_down_stabilization_seconds:
                down = max(down, r)
        self.recommendations.append((now, proposed))
        stabilized = min(max(current, up), down)
        desired = stabilized
        if stabilized > current:
            added = sum(d for t, d in self.events if d > 0 and now - t < b.scale_up_period_seconds)
            start = current - added
            limit = max(math.ceil(start * (1 + b.scale_up_percent / 100)), start + b.scale_up_pods)
            desired = min(stabilized, limit)
        elif stabilized < current:
            removed = -sum(
                d for t, d in self.events if d < 0 and now - t < b.scale_down_period_seconds
            )
            start = current + removed
            limits = []
            if b.scale_down_percent is not None:
                limits.append(math.ceil(start * (1 - b.scale_down_percent / 100)))
            if b.scale_down_pods is not None:
                limits.append(start - b.scale_down_pods)
            desired = max(stabilized, min(limits)) if limits else stabilized
        desired = min(max(desired, self.min_replicas), self.max_replicas)
        period = max(b.scale_up_period_seconds, b.scale_down_period_seconds)
        self.events = [(t, d) for t, d in self.events if now - t < period]
        if desired != current:
            self.events.append((now, desired - current))
        return desired


@dataclass
class HpaScaler:
    """Kubernetes HPA on in-flight requests per pod (``Pods`` metric, ``AverageValue``).

    Reads the per-pod gauges of the last scrape, as prometheus-adapter would serve them.
    """

    min_replicas: int
    max_replicas: int
    target_inflight_per_pod: float
    name: str = "hpa"
    interval_seconds: float = 15.0
    behavior: HpaBehavior = field(default_factory=HpaBehavior)
    controller: HpaController = field(init=False)

    def __post_init__(self) -> None:
        self.controller = HpaController(self.min_replicas, self.max_replicas, self.behavior)

    def decide(self, view: ScalerInput) -> ScalerOutput:
        current = view.counts.desired
        reporting = {p.name for p in view.pods if not p.terminating}
        missing = max(0, view.counts.ready + view.counts.pending - len(reporting))
        proposed = pods_metric_replicas(
            view.pods, missing, current, self.target_inflight_per_pod, self.behavior.tolerance
        )
        return ScalerOutput(self.controller.normalize(current, proposed, view.now))
