"""The plan never exceeds what the arrivals showed: remembered peak, margin and ongoing rise."""

from __future__ import annotations

import pytest

from forescale.metrics.observation import Observation
from forescale.policy import ScalingParameters
from forescale.policy.demand import QueueReading, peak_bound, predictive, queue_arrivals

from .support import run

PARAMS = ScalingParameters(min_replicas=1, max_replicas=200, capacity_requests_per_second=10.0)
#: One burst a minute and a half long every 5 minutes (15 s intervals), peaking at 300 req/s:
#: the shape of the Azure code trace, whose bursts are shorter than a cold start.
BURST = [0.0] * 12 + [50.0, 150.0, 250.0, 300.0, 250.0, 150.0, 50.0, 0.0]


def test_the_bound_is_peak_plus_margin_and_a_rise_is_room_for_a_spike() -> None:
    history = [
        (0.0, 100.0, 100.0),
        (60.0, 300.0, 300.0),
        (120.0, 80.0, 300.0),
        (240.0, 50.0, 300.0),
        (300.0, 200.0, 300.0),
    ]
    # Samples a horizon (240 s) old or older: 100 and 300 (t <= 60); peak of the window 300.
    bound = peak_bound(history, 200.0, 300.0, 240.0, PARAMS)
    assert bound is not None
    assert (bound.peak, bound.rise) == (300.0, 0.0)
    assert bound.limit == pytest.approx(330.0)
    # A rate above everything seen a horizon ago: its rise is the room a spike's fast path
    # has above the limit (it no longer lifts the limit itself: that doubled the plan on a
    # step, 15 replicas for a need of 8).
    bound = peak_bound([*history[:-1], (300.0, 400.0, 400.0)], 400.0, 300.0, 240.0, PARAMS)
    assert bound is not None
    assert (bound.peak, bound.rise) == (400.0, 100.0)
    assert bound.limit == pytest.approx(400.0 * 1.1)
    assert bound.spike_limit == pytest.approx(400.0 * 1.1 + 100.0)
    # A peak older than the kept history still bounds (it is remembered, decaying).
    remembered = peak_bound(history, 200.0, 300.0, 240.0, PARAMS, remembered_peak=500.0)
    assert remembered is not None and remembered.peak == 500.0


def test_a_young_deployment_is_bounded_from_its_oldest_reading() -> None:
    # Watched for 100 s of a 240 s horizon: the oldest reading stands for a horizon ago.
    bound = peak_bound([(200.0, 10.0, 10.0), (300.0, 20.0, 20.0)], 20.0, 300.0, 240.0, PARAMS)
    assert bound is not None
    assert (bound.peak, bound.rise, bound.earlier) == (20.0, 10.0, 10.0)
    assert bound.limit == pytest.approx(22.0)
    assert peak_bound([], 20.0, 300.0, 240.0, PARAMS) is None  # nothing read at all


def test_a_burst_edge_just_after_the_warm_up_is_not_extrapolated_to_the_maximum() -> None:
    """A new deployment whose first burst comes as the forecaster finishes warming up: the
    trend fitted to the burst's edge is no climb that held. Unbounded, it planned 829 req/s
    (16 replicas, the maximum) for a burst of 272 on the held-out ``onoff`` shape."""
    params = ScalingParameters(min_replicas=1, max_replicas=16, capacity_requests_per_second=35.7)
    # The onoff shape's first decisions (seed 0): a lull at 41 req/s, then the burst's edge
    # through the 60 s rate window, reaching the burst's 272 req/s at the 8th sample.
    rates = [40.0, 41.0, 42.0, 41.0, 41.0, 41.0, 40.6, 55.3, 134.2, 210.9, 271.5, 272.3, 272.0]
    decisions = run(rates, params, replicas=9)
    first = next(d for d in decisions if "forecaster warming up" not in d.reason)
    assert first.forecast_requests_per_second is not None
    assert first.forecast_requests_per_second <= 272.3 * 1.1 + 1e-6, first.reason
    assert max(d.desired_replicas for d in decisions) <= 9, [d.reason for d in decisions]


def test_bursts_are_provisioned_at_their_peak_and_not_beyond() -> None:
    """Bursts shorter than a cold start: the envelope learns that the next horizon peaks
    near 300 req/s even when the base is near idle, and the bound keeps a busy minute's
    base times that ratio from planning several times any rate ever sent."""
    rates = BURST * 8
    decisions = run(rates, PARAMS)
    late = decisions[len(BURST) * 4 :]  # once several bursts have closed their windows
    planned = [d.forecast_requests_per_second or 0.0 for d in late]
    assert max(planned) <= 300.0 * 1.1 + 1.0  # + the rise a decaying peak leaves
    # Between bursts (arrivals 0) the plan still holds most of the peak.
    quiet = [p for p, rate in zip(planned, rates[len(BURST) * 4 :], strict=True) if rate == 0]
    assert min(quiet) >= 250.0
    assert any("burst envelope" in d.reason for d in late)
    assert any("capped at" in d.reason for d in late)


def test_a_sustained_rise_is_planned_ahead() -> None:
    """On a ramp the bound keeps the rise of the last horizon: the plan stays ahead of the
    arrivals by at least the rise one horizon (16 intervals of +2 req/s) brings."""
    ramp = [10.0 + 2.0 * i for i in range(60)]
    decisions = run(ramp, PARAMS)
    for decision, rate in list(zip(decisions, ramp, strict=True))[30:]:
        assert decision.forecast_requests_per_second is not None
        assert decision.forecast_requests_per_second >= rate + 16 * 2.0


def test_a_climb_back_towards_a_known_peak_is_not_capped_below_its_forecast() -> None:
    """A daily climb: 200 req/s seen, a quiet hour at 100, then +5 req/s per interval. The
    bound caps what the envelope adds, not the forecast: while the climb passes the old
    peak the plan keeps the forecaster's extrapolation (it was capped at the peak + 10 %,
    so the fleet lagged the whole climb)."""
    rates = [200.0] * 20 + [100.0] * 40 + [100.0 + 5.0 * i for i in range(40)]
    decisions = run(rates, PARAMS)
    for decision, rate in list(zip(decisions, rates, strict=True))[60:]:
        if 200.0 <= rate <= 260.0:
            assert decision.forecast_requests_per_second is not None
            assert decision.forecast_requests_per_second >= rate + 40.0, decision.reason


def test_a_forecast_above_the_bound_goes_no_faster_than_the_arrivals_rose() -> None:
    """The forecast may pass the bound (a climb), but only as far as the current rate plus
    its own rise over the last horizon: a burst's edge (50 -> 100 req/s within a minute)
    fits a steep trend that extrapolated to 400 req/s; it planned 16 replicas at every
    burst of the Azure code trace (6.14 GPU-hours against 4.17)."""
    history = [(0.0, 50.0, 100.0), (240.0, 50.0, 100.0), (480.0, 100.0, 100.0)]
    bound = peak_bound(history, 100.0, 480.0, 240.0, PARAMS)
    assert bound is not None
    assert bound.pace == pytest.approx(150.0)  # 100 now + (100 - 50) over the horizon
    plan = predictive(100.0, 100.0, None, 480.0, 400.0, 1.0, 1.0, True, bound, 240.0, 10.0, PARAMS)
    assert plan.rate == pytest.approx(150.0)
    assert "the forecast up to 150.0 req/s, the arrivals plus their current rise" in plan.label


def test_only_a_rise_that_held_for_a_quarter_horizon_lets_the_forecast_pass_the_bound() -> None:
    """A burst's edge: 50 req/s 45 s ago, 100 now. The rise has not held, so the plan
    stays at the bound (peak 100 + 10 %) instead of the edge's extrapolation."""
    history = [(0.0, 50.0, 100.0), (240.0, 50.0, 100.0), (435.0, 50.0, 100.0)]
    bound = peak_bound([*history, (480.0, 100.0, 100.0)], 100.0, 480.0, 240.0, PARAMS)
    assert bound is not None
    assert bound.pace == pytest.approx(100.0)
    plan = predictive(100.0, 100.0, None, 480.0, 400.0, 1.0, 1.0, True, bound, 240.0, 10.0, PARAMS)
    assert plan.rate == pytest.approx(110.0)


def test_a_climb_goes_on_at_its_current_pace_and_a_levelled_step_does_not() -> None:
    """Above the bound the forecast goes no further than the current rate plus its rise
    over the last quarter horizon (one rate window), extrapolated over the horizon, once a
    rise over the horizon has held beyond the noise. An accelerating climb (50, then 150 a
    quarter horizon ago, 200 now) goes on at +50 per quarter; the rise over the whole
    horizon (+150, the old rule's pace: 350) lags it. A step that levelled off (50 -> 100,
    flat for a quarter horizon) has no pace left: the old rule planned 150."""
    climb = [(0.0, 50.0, 50.0), (240.0, 50.0, 50.0), (420.0, 150.0, 150.0), (480.0, 200.0, 200.0)]
    bound = peak_bound(climb, 200.0, 480.0, 240.0, PARAMS)
    assert bound is not None
    assert bound.pace == pytest.approx(200.0 + 50.0 * 4)
    step = [(0.0, 50.0, 50.0), (240.0, 50.0, 50.0), (420.0, 100.0, 100.0), (480.0, 100.0, 100.0)]
    bound = peak_bound(step, 100.0, 480.0, 240.0, PARAMS)
    assert bound is not None
    assert bound.pace == pytest.approx(100.0)
    # A rise within three standard deviations of the readings' noise is no climb.
    noisy = peak_bound(climb, 200.0, 480.0, 240.0, PARAMS, noise=60.0)
    assert noisy is not None
    assert noisy.pace == pytest.approx(200.0)


def test_a_climb_past_its_crest_has_no_pace_left() -> None:
    """A crowd's rise held for a quarter horizon (180 -> 253 req/s) but the arrivals have
    turned (239 now, 14 req/s below the crest, beyond three standard deviations of the
    counting noise of two 60 s readings, 8.7 req/s): the rise that led to the crest is no
    pace to extrapolate (flash: it planned 13 replicas for a need of 8). Before the crest,
    the same rise is a climb."""
    rising = [(0.0, 60.0, 60.0), (240.0, 60.0, 60.0), (430.0, 183.0, 183.0), (460.0, 225.0, 225.0)]
    before = peak_bound(rising, 253.0, 480.0, 240.0, PARAMS)
    assert before is not None
    assert before.pace > 253.0
    turned = peak_bound([*rising, (475.0, 253.0, 253.0)], 239.0, 490.0, 240.0, PARAMS)
    assert turned is not None
    assert turned.pace == pytest.approx(239.0)
    # Rising again within the counting noise of the crest, a climb still climbs (round 5:
    # at the pace of its last interval, 250 -> 252; a reading below the last one has no
    # current pace at all, crest or not).
    wobble = peak_bound(
        [*rising, (475.0, 253.0, 253.0), (490.0, 250.0, 253.0)], 252.0, 505.0, 240.0, PARAMS
    )
    assert wobble is not None
    assert wobble.pace == pytest.approx(252.0 + 2.0 * 240.0 / 15.0)
    # Rising again far below the crest, it is still past it.
    fallen = peak_bound(
        [*rising, (475.0, 253.0, 253.0), (490.0, 230.0, 253.0)], 235.0, 505.0, 240.0, PARAMS
    )
    assert fallen is not None
    assert fallen.pace == pytest.approx(235.0)


def test_the_fast_path_sees_a_spike_the_bound_cut_the_envelope_for() -> None:
    """The step: the windows closing at its onset teach a 2.7x envelope at once, and a
    threshold of 2.7x the expected rate hid the spike from the fast path (151 req/s
    against 68 expected), though the bound (peak + 10 %) cut that envelope's headroom so
    nothing planned for it. Only an envelope the plan actually holds raises the threshold:
    the spike is extrapolated, within the bound's room for a rise."""
    bound = peak_bound(
        [(0.0, 55.0, 56.0), (465.0, 55.0, 56.0), (705.0, 77.7, 77.7), (720.0, 151.3, 151.3)],
        151.3,
        720.0,
        240.0,
        PARAMS,
    )
    assert bound is not None
    plan = predictive(
        151.3, 68.0, (705.0, 77.7), 720.0, 120.0, 2.66, 2.66, True, bound, 240.0, 35.0, PARAMS
    )
    assert plan.label.startswith("spike: arrivals 151.3 req/s")
    assert plan.rate == pytest.approx(bound.spike_limit)
    assert plan.rate > bound.limit


def test_a_climb_is_judged_against_the_noise_from_before_it() -> None:
    """An accelerating climb from a noisy plateau (100 +- 1.5 req/s): the forecaster errs
    by the climb's own rise at every step, and judged against that error the climb was
    recognised two samples later (index 48, 30 s; the ramp scenario: 90 s in). Against
    the one-step error of one horizon ago it is recognised at index 46, and the fleet
    asks 21 replicas there instead of 14."""
    plateau = [100.0 + (1.5 if i % 2 else -1.5) for i in range(40)]
    rates = plateau + [100.0 + 0.5 * i * i for i in range(1, 21)]
    decisions = run(rates, PARAMS, replicas=11)
    first = next(i for i, d in enumerate(decisions) if "a climb that held" in d.reason)
    assert first <= 46
    assert decisions[46].desired_replicas >= 20


def test_a_climbs_pace_goes_at_most_as_far_as_the_fast_path() -> None:
    """A rise of 150 req/s within a quarter horizon (a crowd's edge through the rate
    window) extrapolates to 200 + 600 req/s; the pace, like a spike's fast path, goes at
    most to twice the current rate."""
    edge = [(0.0, 50.0, 50.0), (240.0, 50.0, 50.0), (420.0, 50.0, 50.0), (435.0, 120.0, 120.0)]
    bound = peak_bound(edge, 200.0, 480.0, 240.0, PARAMS)
    assert bound is not None
    assert bound.pace == pytest.approx(2 * 200.0)


def test_a_jump_seen_through_the_rate_window_goes_on_only_at_its_last_intervals_pace() -> None:
    """Flash, 60 s after the crowd came: the readings rose 69 -> 251.7 req/s over one
    window (a jump averaged in over the window), but only 11.4 req/s over the last 15 s.
    The current pace is the last interval's: 251.7 + 11.4 x 240 / 15 = 434 req/s. The
    window's mean rise planned twice the arrivals (503 req/s, 15 replicas for a crowd that
    needs 8)."""
    history = [
        (660.0, 70.8, 70.8),
        (720.0, 70.0, 70.8),
        (900.0, 69.0, 70.8),
        (915.0, 108.2, 108.2),
        (930.0, 179.2, 179.2),
        (945.0, 240.3, 240.3),
    ]
    bound = peak_bound(history, 251.7, 960.0, 240.0, PARAMS)
    assert bound is not None
    assert (bound.current_rise, bound.rise_seconds) == pytest.approx((11.4, 15.0))
    assert bound.pace == pytest.approx(251.7 + 11.4 * 240.0 / 15.0)
    # A climb whose last interval rose as fast as its window goes on at the window's pace.
    steady = [(0.0, 50.0, 50.0), (240.0, 50.0, 50.0), (420.0, 150.0, 150.0), (465.0, 187.5, 187.5)]
    climb = peak_bound(steady, 200.0, 480.0, 240.0, PARAMS)
    assert climb is not None
    assert climb.pace == pytest.approx(200.0 + 50.0 * 4)


def _scrape(
    t: float, rate: float, completions: float, waiting: float, running: float
) -> Observation:
    return Observation(
        deployment="ns/llm",
        timestamp=t,
        replicas_reporting=3,
        arrival_rate=rate,
        completion_rate=completions,
        waiting=waiting,
        running=running,
    )


def test_a_spike_is_sized_by_the_arrivals_the_queue_shows() -> None:
    """Flash, 15 s after the crowd came: the 60 s rate window reads 108.2 req/s, but the
    fleet completed 76.4 req/s and its requests (waiting + running) grew from 225 to 1,749,
    101.6 req/s: 178.0 req/s arrived over the last interval. The fast path sizes the spike
    by those arrivals (peak 178.0 + 10 % + its rise of 107.2 over the peak a horizon ago:
    303.0 req/s, 9 replicas) instead of the window's (156.4 req/s, 6 replicas, and the
    crowd's first 3 minutes met them)."""
    queued = queue_arrivals(
        [_scrape(900.0, 69.0, 64.4, 0.0, 225.0), _scrape(915.0, 108.2, 76.4, 981.0, 768.0)],
        60.0,
    )
    assert queued is not None
    assert (queued.rate, queued.completions, queued.growth) == pytest.approx((178.0, 76.4, 101.6))
    history = [(600.0, 70.0, 70.8), (675.0, 69.5, 70.8), (900.0, 69.0, 70.8), (915.0, 108.2, 108.2)]
    bound = peak_bound(history, 108.2, 915.0, 240.0, PARAMS)
    assert bound is not None
    args = (108.2, 69.4, (900.0, 69.0), 915.0, 66.0, 1.02, 1.02, False, bound, 240.0, 35.7)
    window = predictive(*args, PARAMS)
    assert window.rate == pytest.approx(108.2 * 1.1 + (108.2 - 70.8))
    plan = predictive(*args, PARAMS, queued)
    assert plan.rate == pytest.approx(178.0 * 1.1 + (178.0 - 70.8))
    assert "the queue shows 178.0 req/s over the last 15 s (completions 76.4 + growth" in (
        plan.label
    )
    # The queue's arrivals only ever raise a spike's size: below the window they change
    # nothing, and a previous observation a whole rate window old gives none.
    low = QueueReading(100.0, 76.4, 23.6, 15.0)
    assert predictive(*args, PARAMS, low).rate == pytest.approx(window.rate)
    assert (
        queue_arrivals(
            [_scrape(840.0, 69.0, 64.4, 0.0, 225.0), _scrape(915.0, 108.2, 76.4, 981.0, 768.0)],
            60.0,
        )
        is None
    )


def test_a_horizon_longer_than_the_history_kept_measures_from_the_oldest_reading() -> None:
    # Kept for a 240 s horizon (+ a minute); a slower cold start just learned makes it 300 s.
    history = [(float(t), 100.0, 100.0) for t in range(75, 361, 15)]
    bound = peak_bound(history, 100.0, 360.0, 300.0, PARAMS)
    assert bound is not None
    assert (bound.peak, bound.rise, bound.earlier) == (100.0, 0.0, 100.0)
    assert bound.limit == pytest.approx(110.0)
    # Back after a gap longer than the history kept (metrics were down): only the current
    # reading is left, and the remembered peak still bounds.
    after_gap = peak_bound(
        [(3600.0, 80.0, 200.0)],
        80.0,
        3600.0,
        300.0,
        PARAMS,
        remembered_peak=200.0,
    )
    assert after_gap is not None
    assert (after_gap.peak, after_gap.rise) == (200.0, 0.0)


def test_a_cold_start_learned_longer_keeps_the_plan_bounded() -> None:
    """A pod that took longer to start lengthens the horizon past the arrivals kept: the
    plan must stay within the peak seen, not jump to the envelope's whole headroom."""
    # Bursts teach an envelope well above 1; then a long flat stretch at 100 req/s.
    rates = BURST * 6 + [100.0] * 40
    decisions = run(rates, PARAMS, startups={len(rates) - 5: (420.0,)})
    assert decisions[-5].horizon_seconds > decisions[-6].horizon_seconds + 60
    for decision in decisions[-5:]:
        assert (decision.forecast_requests_per_second or 0.0) <= 300.0 * 1.1 + 1e-6, decision.reason
