"""Knative KPA against hand-computed cases from its documentation.

Source: https://knative.dev/docs/serving/autoscaling/kpa-specific/ and
https://knative.dev/docs/serving/autoscaling/autoscaling-targets/ with the ``config-autoscaler``
defaults: target utilization 70 %, stable window 60 s, panic window 10 % of it (6 s), panic
threshold 200 %, max scale-down rate 2 (at most halve per decision).
"""

from __future__ import annotations

from forescale.policy.parameters import ReplicaCounts
from forescale.sim.peers.kpa import KpaScaler
from forescale.sim.scaler import ScalerInput


def view(now: float, counts: ReplicaCounts, stable: float, panic: float) -> ScalerInput:
    """Concurrency ``stable`` over the 60 s window and ``panic`` over the 6 s window."""
    windows = {60.0: stable, 6.0: panic}
    return ScalerInput(now, counts, None, (), lambda window: windows[window])


def test_stable_mode_divides_concurrency_by_target_times_utilization() -> None:
    """Target 10 per pod at 70 % -> 7 per pod; 70 in flight -> 10 pods."""
    scaler = KpaScaler(1, 100, target_concurrency=10, initial_panic=False)
    assert scaler.decide(view(0.0, ReplicaCounts(10, 10), 70.0, 70.0)).desired_replicas == 10
    assert scaler.decide(view(2.0, ReplicaCounts(10, 10), 71.0, 71.0)).desired_replicas == 11


def test_scale_down_at_most_halves() -> None:
    """Max scale-down rate 2: 10 Ready pods and no load -> floor(10 / 2) = 5, not 1."""
    scaler = KpaScaler(1, 100, target_concurrency=10, initial_panic=False)
    assert scaler.decide(view(0.0, ReplicaCounts(10, 10), 0.0, 0.0)).desired_replicas == 5


def test_panic_at_200_percent_and_never_scales_down_during_panic() -> None:
    """2 Ready pods, 35 in flight over 6 s -> ceil(35 / 7) = 5, 5 / 2 >= 2: panic.

    In panic the count only rises; it stays until a stable window (60 s) without the panic
    condition has passed, even though the 60 s mean would ask for less.
    """
    scaler = KpaScaler(1, 100, target_concurrency=10, initial_panic=False)
    assert scaler.decide(view(0.0, ReplicaCounts(2, 2), 10.0, 35.0)).desired_replicas == 5
    assert scaler.panic_since == 0.0
    calm = view(30.0, ReplicaCounts(5, 5), 10.0, 10.0)
    assert scaler.decide(calm).desired_replicas == 5  # stable alone would say 2
    after = view(60.0, ReplicaCounts(5, 5), 10.0, 10.0)
    assert scaler.decide(after).desired_replicas == 2  # panic over: ceil(10 / 7), >= 5 // 2
    assert scaler.panic_since is None


def test_below_the_panic_threshold_stays_stable() -> None:
    """2 Ready pods, 27 in flight over 6 s -> ceil(27 / 7) = 4, 4 / 2 = 2.0 is panic; 20 -> 3,
    3 / 2 = 1.5 is not: the stable window's ceil(14 / 7) = 2 wins."""
    scaler = KpaScaler(1, 100, target_concurrency=10, initial_panic=False)
    assert scaler.decide(view(0.0, ReplicaCounts(2, 2), 14.0, 20.0)).desired_replicas == 2
    assert scaler.panic_since is None


def test_bounds() -> None:
    scaler = KpaScaler(3, 6, target_concurrency=10, initial_panic=False)
    assert scaler.decide(view(0.0, ReplicaCounts(4, 4), 1000.0, 1000.0)).desired_replicas == 6
    scaler = KpaScaler(3, 6, target_concurrency=10, initial_panic=False)
    assert scaler.decide(view(0.0, ReplicaCounts(4, 4), 0.0, 0.0)).desired_replicas == 3


def test_initial_panic_holds_the_starting_count_for_a_stable_window() -> None:
    """Knative starts an autoscaler with more than one pod in panic at the current count, so
    an autoscaler without history does not scale down (``scaling/autoscaler.go``, ``New``)."""
    scaler = KpaScaler(1, 100, target_concurrency=10)
    assert scaler.decide(view(0.0, ReplicaCounts(10, 10), 0.0, 0.0)).desired_replicas == 10
    assert scaler.decide(view(30.0, ReplicaCounts(10, 10), 0.0, 0.0)).desired_replicas == 10
    # A stable window later without the panic condition, normal mode resumes (halving).
    assert scaler.decide(view(60.0, ReplicaCounts(10, 10), 0.0, 0.0)).desired_replicas == 5
    off = KpaScaler(1, 100, target_concurrency=10, initial_panic=False)
    assert off.decide(view(0.0, ReplicaCounts(10, 10), 0.0, 0.0)).desired_replicas == 5


def test_scale_down_delay_keeps_the_highest_count_of_the_window() -> None:
    scaler = KpaScaler(
        1, 100, target_concurrency=10, initial_panic=False, scale_down_delay_seconds=60.0
    )
    assert scaler.decide(view(0.0, ReplicaCounts(10, 10), 70.0, 70.0)).desired_replicas == 10
    assert scaler.decide(view(30.0, ReplicaCounts(10, 10), 7.0, 7.0)).desired_replicas == 10
    assert scaler.decide(view(60.0, ReplicaCounts(10, 10), 7.0, 7.0)).desired_replicas == 5
