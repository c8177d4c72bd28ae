"""Kubernetes HPA and KEDA (an HPA underneath) against hand-computed documentation cases.

Source for every case: https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
("Algorithm details": ``desired = ceil(current * metric / target)``, tolerance 0.1, pods
without metrics assumed at 0 when scaling up and at target when scaling down; "Default
Behavior": scale up by max(100 %, 4 pods) per 15 s, scale down after a 300 s stabilization
window), and https://keda.sh/docs/latest/scalers/prometheus/ (the query is an External
metric with an AverageValue target equal to ``threshold``).
"""

from __future__ import annotations

from forescale.metrics.observation import Observation
from forescale.policy.parameters import ReplicaCounts
from forescale.sim.peers.hpa import (
    UNIFORM_BEHAVIOR,
    HpaController,
    HpaScaler,
    external_average_replicas,
    pods_metric_replicas,
)
from forescale.sim.peers.keda import KedaScaler
from forescale.sim.scaler import PodSample, ScalerInput


def pods(*inflight: float) -> tuple[PodSample, ...]:
    return tuple(PodSample(f"p{i}", running=v, waiting=0.0) for i, v in enumerate(inflight))


def view(
    now: float, counts: ReplicaCounts, samples: tuple[PodSample, ...], waiting: float = 0.0
) -> ScalerInput:
    obs = Observation("ns/llm", now, replicas_reporting=len(samples), waiting=waiting)
    return ScalerInput(now, counts, obs, samples, lambda window: 0.0)


def test_metric_twice_the_target_doubles_the_replicas() -> None:
    """Docs: current 200m, desired 100m -> ratio 2.0 -> replicas doubled."""
    assert pods_metric_replicas(pods(20, 20, 20), 0, 3, target=10, tolerance=0.1) == 6


def test_half_the_target_halves_the_replicas() -> None:
    """Docs: current 50m, desired 100m -> ratio 0.5 -> replicas halved."""
    assert pods_metric_replicas(pods(5, 5, 5, 5), 0, 4, target=10, tolerance=0.1) == 2


def test_ratio_within_tolerance_keeps_the_count() -> None:
    """Docs: a ratio within 0.1 of 1.0 skips scaling; 1.09 holds, 1.2 does not."""
    assert pods_metric_replicas(pods(10.9, 10.9), 0, 2, target=10, tolerance=0.1) == 2
    assert pods_metric_replicas(pods(12, 12), 0, 2, target=10, tolerance=0.1) == 3


def test_loading_pods_count_as_zero_when_scaling_up() -> None:
    """Docs: on scale-up, pods without metrics are assumed to use 0 %.

    2 Ready pods at 30 in flight, target 10, 1 loading pod: (30 + 30 + 0) / (3 x 10) = 2.0
    -> ceil(2.0 x 3) = 6; with 4 loading pods (60 / 60) = 1.0: hold at the current 6.
    """
    assert pods_metric_replicas(pods(30, 30), 1, 3, target=10, tolerance=0.1) == 6
    assert pods_metric_replicas(pods(30, 30), 4, 6, target=10, tolerance=0.1) == 6


def test_loading_pods_count_at_target_when_scaling_down() -> None:
    """Docs: on scale-down, pods without metrics are assumed at 100 % of the target.

    2 Ready pods at 2 in flight, target 10, 2 loading: (2 + 2 + 10 + 10) / 40 = 0.6 -> 3.
    """
    assert pods_metric_replicas(pods(2, 2), 2, 4, target=10, tolerance=0.1) == 3


def test_external_average_value_divides_the_total_by_the_target() -> None:
    """KEDA AverageValue: ceil(23 waiting / threshold 5) = 5; 4 replicas: 23/20 = 1.15."""
    assert external_average_replicas(23, 4, 5, 0.1) == 5
    assert external_average_replicas(23, 5, 5, 0.1) == 5  # 23/25 = 0.92: within tolerance
    assert external_average_replicas(0, 5, 5, 0.1) == 0


def test_scale_up_limited_to_max_of_100_percent_or_4_pods_per_15s() -> None:
    """Default scale-up: 1 -> at most max(2, 1 + 4) = 5; 10 -> at most 20."""
    assert HpaController(1, 100).normalize(1, 50, 0.0) == 5
    assert HpaController(1, 100).normalize(10, 50, 0.0) == 20
    controller = HpaController(1, 100)
    assert controller.normalize(1, 50, 0.0) == 5
    assert controller.normalize(5, 50, 5.0) == 5  # same 15 s period: budget spent
    assert controller.normalize(5, 50, 15.0) == 10


def test_scale_down_waits_for_the_300s_stabilization_window() -> None:
    """Default scale-down: the highest recommendation of the last 300 s wins."""
    controller = HpaController(1, 100)
    assert controller.normalize(10, 10, 0.0) == 10
    for t in range(15, 300, 15):
        assert controller.normalize(10, 2, float(t)) == 10
    assert controller.normalize(10, 2, 300.0) == 2


def test_a_fresh_hpa_does_not_scale_down_before_a_window() -> None:
    """horizontal.go seeds the window with the current desired count on the first sync."""
    controller = HpaController(1, 100)
    assert controller.normalize(17, 10, 0.0) == 17
    assert controller.normalize(17, 10, 285.0) == 17
    assert controller.normalize(17, 10, 300.0) == 10


def test_min_and_max_bound_the_hpa() -> None:
    controller = HpaController(3, 8)
    controller.normalize(4, 4, 0.0)
    assert controller.normalize(4, 1, 300.0) == 3  # the window passed: 1, raised to min
    assert HpaController(3, 8).normalize(4, 50, 0.0) == 8


def test_hpa_scaler_reads_inflight_per_pod() -> None:
    scaler = HpaScaler(1, 32, target_inflight_per_pod=10)
    out = scaler.decide(view(0.0, ReplicaCounts(2, 2), pods(25, 25)))
    assert out.desired_replicas == 5


def test_keda_scales_on_waiting_requests_over_threshold_5() -> None:
    """vLLM production stack: ``vllm:num_requests_waiting`` threshold 5."""
    scaler = KedaScaler(1, 32)
    out = scaler.decide(view(0.0, ReplicaCounts(2, 2), pods(8, 8), waiting=40.0))
    assert out.desired_replicas == 6  # ceil(40 / 5) = 8, limited to max(2 x 2, 2 + 4) = 6


def test_uniform_behavior_removes_at_most_4_pods_per_60s() -> None:
    """The benchmark's scale-down for every policy, as an HPA ``behavior`` pods policy."""
    controller = HpaController(1, 100, UNIFORM_BEHAVIOR)
    assert controller.normalize(20, 20, 0.0) == 20
    assert controller.normalize(20, 2, 300.0) == 16  # the window passed; 4 pods at most
    assert controller.normalize(16, 2, 315.0) == 16  # the 60 s period is not over
    assert controller.normalize(16, 2, 360.0) == 12


def test_keda_rate_trigger_divides_the_request_rate_by_the_per_pod_rate() -> None:
    scaler = KedaScaler(1, 32, threshold=10.0, query="arrival_rate")
    obs = Observation("ns/llm", 0.0, replicas_reporting=2, arrival_rate=55.0, waiting=0.0)
    out = scaler.decide(ScalerInput(0.0, ReplicaCounts(2, 2), obs, pods(1, 1), lambda w: 0.0))
    assert out.desired_replicas == 6  # ceil(55 / 10), within the scale-up limit of 6
    # The tutorial's trigger reads the empty queue as no load at all.
    tutorial = KedaScaler(1, 32)
    out = tutorial.decide(ScalerInput(0.0, ReplicaCounts(2, 2), obs, pods(1, 1), lambda w: 0.0))
    assert out.desired_replicas == 2  # ceil(0 / 5) = 0, held by the fresh 300 s window
