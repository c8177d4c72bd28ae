"""KEDA's Prometheus scaler over an HPA: a rate trigger, and the production-stack tutorial's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from forescale.sim.peers.hpa import HpaBehavior, HpaController, external_average_replicas
from forescale.sim.scaler import ScalerInput, ScalerOutput

Query = Literal["arrival_rate", "waiting"]


@dataclass
class KedaScaler:
    """KEDA's Prometheus scaler, which hands an ``External`` metric to an HPA.

    Sources: https://keda.sh/docs/latest/scalers/prometheus/ and
    https://keda.sh/docs/latest/reference/scaledobject-spec/ (``pollingInterval`` 30 s,
    ``cooldownPeriod`` 300 s, which only governs scaling to zero). KEDA exposes the query's
    value as an ``External`` metric with an ``AverageValue`` target of ``threshold`` and
    leaves the replica arithmetic and ``behavior`` to the HPA it creates. By default
    (``useCachedMetrics: false``) the metrics server runs the query on every HPA sync
    (15 s); the 30 s polling loop only decides activation (0 <-> 1), moot with min 1.

    Two triggers:

    * ``arrival_rate`` (how a production team sets it): the deployment's request rate,
      ``threshold`` = the requests/s one pod should take. It leads the queue: the trigger
      rises with the load, not after a backlog has formed.
    * ``waiting``: the vLLM production stack tutorial's ``vllm:num_requests_waiting`` with
      ``threshold: '5'`` (docs.vllm.ai/projects/production-stack, "Autoscaling with KEDA").
      It reads zero at any load a fleet absorbs, so it scales down to ``minReplicaCount``
      until a queue builds; the benchmark keeps it only as a labelled "tutorial" variant.
    """

    min_replicas: int
    max_replicas: int
    threshold: float = 5.0
    query: Query = "waiting"
    name: str = "keda"
    interval_seconds: float = 15.0
    behavior: HpaBehavior = field(default_factory=HpaBehavior)
    controller: HpaController = field(init=False)

    def __post_init__(self) -> None:
        self.controller = HpaController(self.min_replicas, self.max_replicas, self.behavior)

    def decide(self, view: ScalerInput) -> ScalerOutput:
        current = view.counts.desired
        obs = view.observation
        value = None if obs is None else getattr(obs, self.query)
        if obs is None or value is None or not obs.replicas_reporting:
            return ScalerOutput(current)  # metric unavailable: HPA keeps the scale
        # The HPA's status replica count includes pods that are still loading.
        status = view.counts.ready + view.counts.pending
        proposed = external_average_replicas(value, status, self.threshold, self.behavior.tolerance)
        return ScalerOutput(self.controller.normalize(current, proposed, view.now))
