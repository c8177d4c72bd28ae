"""The one interface every autoscaler under test implements, and what it is shown.

The simulator calls ``decide`` every ``interval_seconds`` of virtual time with a
:class:`ScalerInput`: what each real autoscaler would be able to read at that moment (the
Prometheus-like :class:`Observation`, per-pod gauges from the last scrape, the Deployment's
replica counts, and the per-second concurrency the Knative queue-proxy would report).
Peers read only what their real counterparts read; nobody sees the simulator's internals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from forescale.metrics.observation import Observation
from forescale.policy.parameters import ReplicaCounts


@dataclass(frozen=True)
class PodSample:
    """One pod's vLLM gauges at the last scrape."""

    name: str
    running: float
    waiting: float
    terminating: bool = False
    """Draining after a scale-down (Kubernetes: has a deletionTimestamp)."""


@dataclass(frozen=True)
class ScalerInput:
    now: float
    counts: ReplicaCounts
    observation: Observation | None
    pods: tuple[PodSample, ...]
    """Pods that reported at the last scrape (Ready or draining; loading pods do not)."""
    mean_concurrency: Callable[[float], float]
    """Mean total in-flight requests over the last ``window`` seconds (1 s samples)."""


@dataclass(frozen=True)
class ScalerOutput:
    desired_replicas: int
    forecast_requests_per_second: float | None = None
    """The demand the scaler planned for, when it has such a notion (plotted)."""


class Scaler(Protocol):
    """An autoscaler the fleet simulator can run."""

    @property
    def name(self) -> str: ...

    @property
    def interval_seconds(self) -> float: ...

    def decide(self, view: ScalerInput) -> ScalerOutput: ...
