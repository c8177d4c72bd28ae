"""Knative Pod Autoscaler (KPA), concurrency mode, with Knative's defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from forescale.sim.scaler import ScalerInput, ScalerOutput


@dataclass
class KpaScaler:
    """Knative Pod Autoscaler, concurrency mode.

    Sources: https://knative.dev/docs/serving/autoscaling/kpa-specific/ and
    .../autoscaling/autoscaling-targets/ and the ``config-autoscaler`` defaults: stable
    window 60 s, panic window 10 % of it (6 s), panic threshold 200 %, target utilization
    70 %, max scale-up rate 1000, max scale-down rate 2, tick 2 s. Each tick:
    ``desired_stable = ceil(mean concurrency over 60 s / target)``, ``desired_panic``
    likewise over 6 s, both bounded to [ready / 2, 1000 x ready]. Panic starts when
    ``desired_panic / ready >= 2`` and lasts until a stable window passes without that;
    in panic the count never decreases. The concurrency is what the queue-proxies report
    each second (requests in flight per pod, summed).

    Initial panic mode (``pkg/autoscaler/scaling/autoscaler.go``, ``New``): an autoscaler
    that starts with more than one pod starts in panic with ``maxPanicPods`` = the current
    count, so a restarted autoscaler without metric history does not scale down before a
    stable window has passed. ``scale_down_delay_seconds`` is Knative's
    ``scale-down-delay`` (default 0): the count applied is the highest one computed over
    that window.
    """

    min_replicas: int
    max_replicas: int
    target_concurrency: float
    """``autoscaling.knative.dev/target`` per pod, before the utilization factor."""
    target_utilization: float = 0.7
    stable_window_seconds: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    name: str = "kpa"
    interval_seconds: float = 2.0
    scale_down_delay_seconds: float = 0.0
    initial_panic: bool = True
    panic_since: float | None = None
    max_panic_pods: int = 0
    started: bool = False
    delayed: list[tuple[float, int]] = field(default_factory=list)

    def decide(self, view: ScalerInput) -> ScalerOutput:
        if not self.started:
            self.started = True
            if self.initial_panic and view.counts.desired > 1:
                self.panic_since = view.now
                self.max_panic_pods = view.counts.desired
        target = self.target_concurrency * self.target_utilization
        ready = max(view.counts.ready, 1)
        panic_window = self.stable_window_seconds * self.panic_window_percentage / 100
        stable = view.mean_concurrency(self.stable_window_seconds)
        panic = view.mean_concurrency(panic_window)
        up_bound = math.ceil(self.max_scale_up_rate * ready)
        down_bound = math.floor(ready / self.max_scale_down_rate)
        desired_stable = min(max(math.ceil(stable / target), down_bound), up_bound)
        desired_panic = min(max(math.ceil(panic / target), down_bound), up_bound)
        over = math.ceil(panic / target) / ready >= self.panic_threshold
        now = view.now
        if over:
            if self.panic_since is None:
                self.max_panic_pods = 0
            self.panic_since = now
        elif self.panic_since is not None and now - self.panic_since >= self.stable_window_seconds:
            self.panic_since = None
        desired = desired_stable
        if self.panic_since is not None:
            self.max_panic_pods = max(self.max_panic_pods, desired_panic, view.counts.desired)
            desired = self.max_panic_pods
        if self.scale_down_delay_seconds > 0:
            window = self.scale_down_delay_seconds
            self.delayed = [(t, d) for t, d in self.delayed if now - t < window]
            self.delayed.append((now, desired))
            desired = max(d for _, d in self.delayed)
        return ScalerOutput(min(max(desired, self.min_replicas), self.max_replicas))
