"""KEDA's Prometheus scaler over an HPA, as the vLLM production stack configures it."""

from __future__ import annotations

from dataclasses import dataclass, field

from forescale.sim.peers.hpa import HpaBehavior, HpaController, external_average_replicas
from forescale.sim.scaler import ScalerInput, ScalerOutput


@dataclass
class KedaScaler:
    """KEDA's Prometheus scaler as the vLLM production stack configures it.

    Sources: https://keda.sh/docs/latest/scalers/prometheus/ and
    https://keda.sh/docs/latest/reference/scaledobject-spec/ (``pollingInterval`` 30 s,
    ``cooldownPeriod`` 300 s, which only governs scaling to zero); the production stack's
    tutorial (docs.vllm.ai/projects/production-stack, "Autoscaling with KEDA") uses
    ``query: vllm:num_requests_waiting`` summed, ``threshold: '5'``, ``minReplicaCount: 1``.
    KEDA exposes the query as an ``External`` metric with an ``AverageValue`` target of the
    threshold and leaves the replica arithmetic to an HPA with default behavior. By default
    (``useCachedMetrics: false``) the metrics server runs the query on every HPA sync
    (15 s); the 30 s polling loop only decides activation (0 <-> 1), moot with min 1.
    """

    min_replicas: int
    max_replicas: int
    threshold: float = 5.0
    name: str = "keda"
    interval_seconds: float = 15.0
    controller: HpaController = field(init=False)

    def __post_init__(self) -> None:
        self.controller = HpaController(self.min_replicas, self.max_replicas)

    def decide(self, view: ScalerInput) -> ScalerOutput:
        current = view.counts.desired
        obs = view.observation
        if obs is None or obs.waiting is None or not obs.replicas_reporting:
            return ScalerOutput(current)  # metric unavailable: HPA keeps the scale
        # The HPA's status replica count includes pods that are still loading.
        status = view.counts.ready + view.counts.pending
        proposed = external_average_replicas(
            obs.waiting, status, self.threshold, HpaBehavior().tolerance
        )
        return ScalerOutput(self.controller.normalize(current, proposed, view.now))
