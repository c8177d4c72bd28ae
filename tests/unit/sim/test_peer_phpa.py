"""Predictive HPA (jthomperoo/predictive-horizontal-pod-autoscaler) against its documentation.

Source: the project's README and docs/user-guide/models.md: the HPA calculation is stored each
sync; once ``seasonalPeriods x storedSeasons`` (6 x 4 = 24) values are stored, a Holt-Winters
model predicts the next and ``decisionType: maximum`` takes the larger of prediction and HPA.
"""

from __future__ import annotations

from forescale.policy.parameters import ReplicaCounts
from forescale.sim.peers.hpa import HpaBehavior, HpaController, HpaScaler
from forescale.sim.peers.phpa import PhpaScaler
from forescale.sim.scaler import PodSample, ScalerInput


def view(now: float, replicas: int, inflight_per_pod: float) -> ScalerInput:
    samples = tuple(PodSample(f"p{i}", inflight_per_pod, 0.0) for i in range(replicas))
    return ScalerInput(now, ReplicaCounts(replicas, replicas), None, samples, lambda w: 0.0)


def test_without_24_stored_values_phpa_is_plain_hpa() -> None:
    phpa = PhpaScaler(1, 100, target_inflight_per_pod=10)
    hpa = HpaScaler(1, 100, target_inflight_per_pod=10)
    for step in range(23):
        sample = view(15.0 * step, 4, 15.0 + step)
        assert phpa.decide(sample).desired_replicas == hpa.decide(sample).desired_replicas
    assert len(phpa.stored) == 23


def test_a_repeating_spike_is_predicted_before_hpa_sees_it() -> None:
    """HPA counts 30 every 6th sync and 10 otherwise (``seasonalPeriods: 6``): after 4 seasons
    the model predicts the next spike, so PHPA asks for more while HPA's count is still 10.
    Both run without scale-down stabilization so that only the prediction differs."""
    quick = HpaBehavior(scale_down_stabilization_seconds=0.0)
    phpa = PhpaScaler(1, 100, target_inflight_per_pod=10)
    phpa.controller = HpaController(1, 100, quick)
    hpa = HpaScaler(1, 100, target_inflight_per_pod=10)
    hpa.controller = HpaController(1, 100, quick)
    for step in range(24):
        sample = view(15.0 * step, 10, 30.0 if step % 6 == 0 else 10.0)
        predicted = phpa.decide(sample).desired_replicas
        reactive = hpa.decide(sample).desired_replicas
    assert reactive == 10
    assert predicted > reactive
    assert predicted == 20  # the predicted 30, limited by max(100 %, 4 pods) from 10


def test_a_flat_history_predicts_the_same_count() -> None:
    phpa = PhpaScaler(1, 100, target_inflight_per_pod=10)
    outs = [phpa.decide(view(15.0 * s, 8, 10.0)).desired_replicas for s in range(30)]
    assert outs == [8] * 30


def test_linear_model_extrapolates_the_hpa_counts_one_look_ahead() -> None:
    """PHPA's Linear model: a line through the stored counts, read ``lookAhead`` ahead."""
    phpa = PhpaScaler(1, 100, target_inflight_per_pod=10, model="linear", look_ahead_seconds=60.0)
    hpa = HpaScaler(1, 100, target_inflight_per_pod=10)
    # In flight grows so the HPA count rises by one pod per 15 s sync: 4, 5, 6 ...
    outs = []
    for step in range(4):
        replicas = 4 + step
        sample = view(15.0 * step, replicas, 10.0 + 10.0 / replicas)
        outs.append((phpa.decide(sample).desired_replicas, hpa.decide(sample).desired_replicas))
    # The line through (0, 5), (15, 6), (30, 7), (45, 8) read 60 s ahead says 12, within the
    # scale-up limit (the larger of 100 % or 4 pods) from 7.
    assert outs[-1] == (12, 8)
