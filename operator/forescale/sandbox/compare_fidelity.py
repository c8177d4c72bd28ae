"""The compare run's contenders replayed in the fleet simulator, for the fidelity check.

`forescale sandbox compare` drives the real KEDA + HPA and forescale with a trace; the
benchmark drives models of them with traces in virtual time. Replaying the very same
compressed trace through the simulator, with the simulated peer configured exactly like
the real ScaledObject (same query, target, window, sync period and behavior), and putting
the two replica timelines side by side, measures how well the model stands for the
controller.

The simulated KEDA is the benchmark's own ``KedaScaler`` with its ``arrival_rate`` trigger,
which reads the signal the real trigger queries: the per-deployment arrival rate by
conservation (completions plus growth of requests in the system, the operator's own
PromQL), divided by the HPA's ``AverageValue`` target.
"""

from __future__ import annotations

from dataclasses import dataclass

from forescale.api.spec import LLMDeploymentSpec
from forescale.policy.spec_mapping import parameters_from_spec
from forescale.sim.fleet import ColdStart, FleetConfig, RunResult, simulate
from forescale.sim.peers.forescale import ForescaleScaler
from forescale.sim.peers.hpa import HpaBehavior, HpaController
from forescale.sim.peers.keda import KedaScaler
from forescale.sim.replica_profiles import ReplicaProfile
from forescale.sim.traces import Trace


@dataclass
class PodsLimitedHpaController(HpaController):
    """HpaController with a ``Pods`` scale-down policy (at most ``scale_down_pods`` removed
    per ``behavior.scale_down_period_seconds``) instead of the percent one; give the
    behavior ``scale_down_percent=100`` so the percent policy does not bind first."""

    scale_down_pods: int = 1

    def normalize(self, current: int, proposed: int, now: float) -> int:
        desired = super().normalize(current, proposed, now)
        if desired >= current:
            return desired
        self.events.pop()  # recorded by the parent as (now, desired - current); redo it
        period = self.behavior.scale_down_period_seconds
        removed = -sum(d for t, d in self.events if d < 0 and now - t < period)
        limited = max(desired, current + removed - self.scale_down_pods, self.min_replicas)
        if limited != current:
            self.events.append((now, limited - current))
        return limited


def KedaArrivalRateScaler(  # noqa: N802 - stands for the peer class it configures
    min_replicas: int,
    max_replicas: int,
    target_per_pod: float,
    behavior: HpaBehavior | None = None,
    *,
    scale_down_pods: int | None = None,
    interval_seconds: float = 15.0,
) -> KedaScaler:
    """The benchmark's own KEDA peer (``KedaScaler``, ``arrival_rate`` trigger) at the
    ScaledObject's settings; with ``scale_down_pods`` its HPA gets the ``Pods`` scale-down
    policy the ScaledObject sets."""
    scaler = KedaScaler(
        min_replicas,
        max_replicas,
        threshold=target_per_pod,
        query="arrival_rate",
        name="keda-sim",
        interval_seconds=interval_seconds,
        behavior=behavior or HpaBehavior(),
    )
    if scale_down_pods is not None:
        scaler.controller = PodsLimitedHpaController(
            min_replicas, max_replicas, scaler.behavior, scale_down_pods=scale_down_pods
        )
    return scaler


@dataclass(frozen=True)
class SimulatedContenders:
    """Simulator replays of the compare run's contenders."""

    keda: RunResult
    forescale: RunResult


def fleet_config(
    profile: ReplicaProfile,
    load_seconds: float,
    rate_window_seconds: float,
    max_replicas: int,
    seed: int,
) -> FleetConfig:
    """The sandbox's fleet in the simulator: 1 s scrapes, a fixed model load, one replica
    Ready at the start (the run waits for it before the traffic)."""
    return FleetConfig(
        profile=profile,
        cold_start=ColdStart(load_seconds, 0.0),
        initial_replicas=1,
        max_replicas=max_replicas,
        scrape_interval_seconds=1.0,
        rate_window_seconds=rate_window_seconds,
        seed=seed,
    )


def replay(
    trace: Trace,
    spec: LLMDeploymentSpec,
    profile: ReplicaProfile,
    *,
    keda_target: float,
    keda_behavior: HpaBehavior,
    keda_scale_down_pods: int | None,
    keda_window_seconds: float,
    operator_window_seconds: float,
    load_seconds: float,
    hpa_sync_seconds: float = 15.0,
    seed: int = 0,
) -> SimulatedContenders:
    """Both contenders in virtual time, with the run's settings."""
    low, high = spec.scaling.min_replicas, spec.scaling.max_replicas
    keda = KedaArrivalRateScaler(
        low,
        high,
        keda_target,
        keda_behavior,
        scale_down_pods=keda_scale_down_pods,
        interval_seconds=hpa_sync_seconds,
    )
    forescale = ForescaleScaler(parameters_from_spec(spec))
    return SimulatedContenders(
        keda=simulate(
            trace, keda, fleet_config(profile, load_seconds, keda_window_seconds, high, seed)
        ),
        forescale=simulate(
            trace,
            forescale,
            fleet_config(profile, load_seconds, operator_window_seconds, high, seed),
        ),
    )
