"""The recurring cycle: a rise both of the last two cycles showed is planned for ahead of it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forescale.policy import Decision, ScalingParameters
from forescale.policy.deciding import seasonal_base
from forescale.policy.demand import Recurring, predictive
from forescale.policy.forecasting import ForecasterState
from forescale.policy.season import (
    CYCLES,
    SLOTS,
    Ceiling,
    Outlook,
    SeasonState,
    ahead,
    observe,
    slots_for,
)

from .support import run

PERIOD = 3600.0
INTERVAL = 15.0
WINDOW = 60.0
HORIZON = 240.0
#: Today's level when the outlook is asked (the background's).
LEVEL = 20.0
#: A job that sends 4x the background from minute 30 to minute 40 of every hour.
ONSET = 1800.0


def outlook(
    state: SeasonState, at: float, horizon: float, window: float, level: float
) -> Outlook | None:
    return ahead(state, at, horizon, window, level)[0]


def ceiling(state: SeasonState, at: float, horizon: float) -> Ceiling | None:
    return ahead(state, at, horizon, WINDOW, LEVEL)[1]


def _job(t: float, low: float = 20.0, high: float = 80.0) -> float:
    return high if ONSET <= t % PERIOD < ONSET + 600 else low


def _learned(
    cycles: int,
    rate: object = _job,
    *,
    seed: int = 0,
    until: float | None = None,
) -> SeasonState:
    """A season fed one noisy reading per interval (a 60 s window's Poisson count) for
    ``cycles`` cycles, up to ``until`` seconds into the last one."""
    rng = np.random.default_rng(seed)
    state = SeasonState()
    end = cycles * PERIOD if until is None else (cycles - 1) * PERIOD + until
    for t in np.arange(0.0, end, INTERVAL):
        mean = rate(float(t))  # type: ignore[operator]
        reading = rng.poisson(mean * WINDOW) / WINDOW
        state = observe(state, float(t), reading, PERIOD, INTERVAL)
    return state


def test_a_rise_of_the_last_two_cycles_is_foreseen_a_horizon_ahead() -> None:
    state = _learned(3, until=ONSET - 120)
    look = outlook(state, 2 * PERIOD + ONSET - 120, HORIZON, WINDOW, LEVEL)
    assert look is not None
    # The job's highest reading within the horizon (80 req/s and its counting noise).
    assert 80.0 <= look.rate < 90.0
    assert len(look.rises) == 2
    assert all(0.9 < scale < 1.1 for scale in look.scales)
    assert 0 < look.ahead_seconds <= HORIZON


def test_one_cycle_is_no_evidence() -> None:
    state = _learned(2, until=ONSET - 120)
    assert outlook(state, PERIOD + ONSET - 120, HORIZON, WINDOW, LEVEL) is None


def test_a_rise_seen_in_only_one_of_the_two_cycles_is_not_repeated() -> None:
    """A flash crowd yesterday is the envelope's to remember, not the season's."""

    def once(t: float) -> float:
        return 80.0 if PERIOD + ONSET <= t < PERIOD + ONSET + 600 else 20.0

    state = _learned(3, once, until=ONSET - 120)
    assert outlook(state, 2 * PERIOD + ONSET - 120, HORIZON, WINDOW, LEVEL) is None


@pytest.mark.parametrize("seed", range(20))
def test_a_flat_cycle_read_through_counting_noise_shows_no_rise(seed: int) -> None:
    state = _learned(3, lambda t: 20.0, seed=seed)
    at = 3 * PERIOD - INTERVAL
    times = np.arange(2 * PERIOD, at, INTERVAL)
    assert all(outlook(state, float(t), HORIZON, WINDOW, LEVEL) is None for t in times)


def test_a_fall_is_no_outlook() -> None:
    """Capacity shed on yesterday's word is not back for a cold start."""
    state = _learned(3, until=ONSET + 600 - 120)
    assert outlook(state, 2 * PERIOD + ONSET + 600 - 120, HORIZON, WINDOW, LEVEL) is None


def test_the_smaller_of_the_two_rises_is_planned() -> None:
    def growing(t: float) -> float:
        high = 80.0 if t < 1.5 * PERIOD else 120.0
        return _job(t, high=high)

    state = _learned(3, growing, until=ONSET - 120)
    look = outlook(state, 2 * PERIOD + ONSET - 120, HORIZON, WINDOW, LEVEL)
    assert look is not None
    newest, older = look.rises
    assert newest[1] > older[1]
    assert look.rate == pytest.approx(
        min(high * scale for (_, high), scale in zip(look.rises, look.scales, strict=True))
    )
    assert look.rate < newest[1] * look.scales[0]


def test_a_missed_cycle_leaves_no_evidence_until_two_more() -> None:
    """A cycle the operator did not watch is unobserved, not yesterday's copy."""
    state = _learned(1)
    at = 2 * PERIOD + 10.0  # the second cycle was never observed
    state = observe(state, at, 20.0, PERIOD, INTERVAL)
    assert state.means[1] == (None,) * state.slots
    assert outlook(state, 2 * PERIOD + ONSET - 120, HORIZON, WINDOW, LEVEL) is None


def test_a_changed_period_starts_afresh() -> None:
    state = _learned(3)
    again = observe(state, 3 * PERIOD, 20.0, 2 * PERIOD, INTERVAL)
    assert again.period_seconds == 2 * PERIOD
    assert sum(again.counts) == 1
    assert all(v is None for row in again.means[1:] for v in row)


def test_a_reading_from_before_the_newest_cycle_is_ignored() -> None:
    state = _learned(2)
    assert observe(state, 10.0, 500.0, PERIOD, INTERVAL) == state


def test_no_period_is_no_season() -> None:
    assert observe(SeasonState(), 0.0, 20.0, 0.0, INTERVAL) == SeasonState()
    assert outlook(SeasonState(), 0.0, HORIZON, WINDOW, LEVEL) is None


def test_slots_are_at_most_a_day_in_five_minutes_or_one_interval_each() -> None:
    assert slots_for(86400, 15) == SLOTS == 288
    assert slots_for(1800, 15) == 120
    assert slots_for(604800, 15) == SLOTS


def test_a_week_of_slots_round_trips_and_fits_the_status_field() -> None:
    """The state is persisted in ``status.autoscaling.policyState`` (at most 64 KiB with
    everything else): a full week's season stays a small part of it."""
    rng = np.random.default_rng(1)
    state = SeasonState()
    for t in np.arange(0.0, 3 * 604800.0, 2100.0):
        state = observe(state, float(t), float(rng.uniform(10, 500)), 604800, 15)
    text = json.dumps(state.to_dict(), separators=(",", ":"))
    assert SeasonState.from_dict(json.loads(text)) == state
    rounded = json.dumps(
        {
            **state.to_dict(),
            "means": [[round(v, 4) for v in r if v is not None] for r in state.means],
            "peaks": [[round(v, 4) for v in r if v is not None] for r in state.peaks],
        },
        separators=(",", ":"),
    )
    assert len(rounded) < 24 * 1024, len(rounded)


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"period_seconds": 60.0, "cycle": 1, "means": [[1.0]], "counts": [1, 2]},
        {"period_seconds": 60.0, "cycle": 1, "means": [[1.0, 2.0]], "counts": [1, 2]},
        {"period_seconds": 60.0, "cycle": 1, "means": [[1.0, "x"]] * CYCLES, "counts": [1, 2]},
        {"period_seconds": float("nan")},
    ],
)
def test_a_malformed_season_is_rejected(data: object) -> None:
    with pytest.raises(ValueError, match=r"season|number"):
        SeasonState.from_dict(data)


def _hourly_job_decisions(period: float) -> list[Decision]:
    """The demand planned at each decision over three hours of the hourly job. The memory
    half-life is shorter than the cycle, as 6 h is to a day: the envelope and the peak seen
    have forgotten the last job by the next one, and only the season remembers it."""
    params = ScalingParameters(
        capacity_requests_per_second=10.0,
        max_replicas=64,
        season_period_seconds=period,
        memory_half_life_seconds=PERIOD / 8,
    )
    rng = np.random.default_rng(3)
    rates = [rng.poisson(_job(t) * WINDOW) / WINDOW for t in np.arange(0.0, 3 * PERIOD, INTERVAL)]
    return run(rates, params, interval=INTERVAL)


def test_the_policy_plans_for_a_job_that_came_in_each_of_the_last_two_cycles() -> None:
    """A cold start before the third hour's job the plan is the job's rate; with no season
    it is the background's (the test fails with ``season`` switched off)."""
    onset = int((2 * PERIOD + ONSET) / INTERVAL)
    ahead = int(200 / INTERVAL)  # a cold start and a little before the job
    season_on = _hourly_job_decisions(PERIOD)
    with_season = [d.forecast_requests_per_second for d in season_on]
    without = [d.forecast_requests_per_second for d in _hourly_job_decisions(0.0)]
    assert with_season[onset - ahead] >= 0.9 * 80.0  # the job, within its noise
    assert without[onset - ahead] < 40.0
    # The first two jobs (no two cycles seen yet) are planned for alike.
    first = int(ONSET / INTERVAL)
    assert with_season[: first + 4 * ahead] == without[: first + 4 * ahead]
    # The Event says why, in numbers a person can check against the last two hours.
    reason = season_on[onset - ahead].reason
    assert "each of the last 2 hours rose at this time" in reason, reason
    assert "req/s ahead" not in reason and "s ahead)" in reason, reason


def test_cycles_not_observed_are_persisted_as_empty_lists() -> None:
    """The first two days of a deployment's life its past cycles are empty: they cost the
    status field two characters each, not a null per slot."""
    state = _learned(1, until=600.0)
    data = state.to_dict()
    assert data["means"][1:] == [[], []] and data["peaks"][1:] == [[], []]  # type: ignore[index]
    assert len(data["means"][0]) == state.slots  # type: ignore[index]
    assert SeasonState.from_dict(json.loads(json.dumps(data))) == state


def test_a_job_that_skips_a_cycle_is_provisioned_for_one_horizon_only() -> None:
    """The third hour's job does not come (a weekend): the season plans for it a horizon
    ahead, and once its onset has passed (the past cycles are high there too: no rise
    left) the plan is the background's again."""
    params = ScalingParameters(
        capacity_requests_per_second=10.0,
        max_replicas=64,
        season_period_seconds=PERIOD,
        memory_half_life_seconds=PERIOD / 8,
    )

    def skipped(t: float) -> float:
        return 20.0 if t >= 2 * PERIOD else _job(t)

    rng = np.random.default_rng(4)
    times = np.arange(0.0, 3 * PERIOD, INTERVAL)
    rates = [rng.poisson(skipped(t) * WINDOW) / WINDOW for t in times]
    plans = [d.forecast_requests_per_second for d in run(rates, params, interval=INTERVAL)]
    onset = int((2 * PERIOD + ONSET) / INTERVAL)
    assert plans[onset - int(200 / INTERVAL)] >= 0.9 * 80.0  # the job, within its noise
    assert max(plans[onset + int(60 / INTERVAL) :]) < 40.0


def test_today_is_planned_at_its_own_scale() -> None:
    """A day at half the traffic of the last two (a quieter Friday) is planned for half
    their job: the cycles' highest readings at today's scale, read from the last slot."""

    def quieter(t: float) -> float:
        return _job(t) / 2 if t >= 2 * PERIOD else _job(t)

    state = _learned(3, quieter, until=ONSET - 120)
    look = outlook(state, 2 * PERIOD + ONSET - 120, HORIZON, WINDOW, LEVEL / 2)
    assert look is not None
    assert all(0.4 < scale < 0.6 for scale in look.scales), look.scales
    assert 0.45 * 80.0 < look.rate < 0.6 * 80.0
    assert "the last 15 s at" in look.explain(PERIOD)


def _windowed(t: float) -> float:
    """The hourly job as a 60 s rate window reads it: a job read through its first minute."""
    inside = min(t % PERIOD, ONSET + 600) - max(t % PERIOD - WINDOW, ONSET)
    share = min(max(inside, 0.0), WINDOW) / WINDOW
    return 20.0 + 60.0 * share


def test_a_rise_inside_now_s_slot_is_not_planned_twice() -> None:
    """Five-minute slots, a job read through the rate window's ramp at the start of one
    (the workday's 09:00): a minute after the onset today's level is already the job's,
    and the cycles' slot of now (its mean 72.5 req/s, the ramp averaged in) is lower than
    the next. Today's level over that mean made today look 1.10x busier than the cycles
    and planned 90 req/s for a job of 80; today's last slot over theirs says 1.00x (fails
    with the scale taken from the level)."""
    rng = np.random.default_rng(5)
    state = SeasonState()
    coarse = 300.0  # the slot width a day has (observe sizes slots by this interval)
    now = 2 * PERIOD + ONSET + 60
    for t in np.arange(0.0, now, INTERVAL):
        reading = rng.poisson(_windowed(float(t)) * WINDOW) / WINDOW
        state = observe(state, float(t), reading, PERIOD, coarse)
    assert state.slots == 12
    look = outlook(state, now, HORIZON, WINDOW, 80.0)
    assert look is not None, "the next slot's mean is above now's: a rise both cycles show"
    highest = max(high for _, high in look.rises)
    assert look.rate <= 1.03 * highest, look


def test_the_ceiling_is_the_lower_of_the_cycles_highest_readings_from_now() -> None:
    state = _learned(3, until=ONSET + 30)
    top = ceiling(state, 2 * PERIOD + ONSET + 30, HORIZON)
    assert top is not None
    assert len(top.highs) == 2 and all(80.0 <= high < 90.0 for high in top.highs)
    assert top.rate == pytest.approx(
        min(high * scale for high, scale in zip(top.highs, top.scales, strict=True))
    )
    assert "the last 2 hours reached at most" in top.explain(PERIOD)
    # One cycle is no evidence of where a rise ends.
    assert ceiling(_learned(2, until=ONSET + 30), PERIOD + ONSET + 30, HORIZON) is None
    assert ceiling(SeasonState(), 0.0, HORIZON) is None


def test_a_spike_within_what_the_cycles_rose_to_is_extrapolated_no_further() -> None:
    """The hourly job's onset on the third hour reads as a spike (3.3x the expected rate):
    its rise extrapolated over the horizon planned twice the job (145 req/s for a job of
    80); the cycles rose to 83 at this time, and the fast path goes no further (fails with
    the ceiling switched off)."""
    onset = int((2 * PERIOD + ONSET) / INTERVAL)
    decisions = _hourly_job_decisions(PERIOD)
    spikes = [d for d in decisions[onset : onset + 8] if "spike" in d.reason]
    assert spikes, "the onset reads as a spike through the rate window"
    assert max(d.forecast_requests_per_second for d in decisions[onset : onset + 8]) < 1.15 * 80
    assert "capped (the last 2 hours reached at most" in spikes[0].reason, spikes[0].reason


def test_a_spike_beyond_what_the_cycles_rose_to_keeps_its_fast_path() -> None:
    """A ceiling caps a spike only while its arrivals are within it: today's job at twice
    the cycles' is extrapolated as any spike is."""
    args = (160.0, 24.0, (900.0, 20.0), 915.0, 24.0, 1.0, 1.0, True, None, 240.0, 10.0)
    params = ScalingParameters(capacity_requests_per_second=10.0, max_replicas=64)
    free = predictive(*args, params)
    within = predictive(*args, params, None, None, Recurring(83.0, "the cycles"))
    assert free.rate == pytest.approx(min(160.0 + 140.0 / 15.0 * 240.0, 2 * 160.0))
    assert within.rate == free.rate  # 160 req/s is beyond 83: no cap
    inside = predictive(
        80.0, 24.0, (900.0, 20.0), 915.0, 24.0, 1.0, 1.0, True, None, 240.0, 10.0, params
    )
    capped = predictive(
        80.0,
        24.0,
        (900.0, 20.0),
        915.0,
        24.0,
        1.0,
        1.0,
        True,
        None,
        240.0,
        10.0,
        params,
        None,
        None,
        Recurring(83.0, "the cycles"),
    )
    assert inside.rate == pytest.approx(160.0)
    assert capped.rate == pytest.approx(83.0)
    assert "capped (the cycles)" in capped.label


def test_a_slot_idle_in_the_past_cycles_does_not_multiply_the_rise() -> None:
    """Before the job the past cycles were nearly idle (0.05 req/s) and today is not
    (5 req/s): today's scale reads 77x and 62x, and the job's 80 req/s would be planned
    as 5,019. The season plans at most the higher of the cycles' highest readings + the
    peak bound's margin (fails without that limit)."""

    def busier_today(t: float) -> float:
        background = 5.0 if t >= 2 * PERIOD else 0.05
        return _job(t, low=background)

    state = _learned(3, busier_today, until=ONSET - 120)
    at = 2 * PERIOD + ONSET - 120
    look = outlook(state, at, HORIZON, WINDOW, 5.0)
    assert look is not None and look.rate > 1000.0  # the scale alone: a slot near idle
    params = ScalingParameters(capacity_requests_per_second=10.0, season_period_seconds=PERIOD)
    forecaster = ForecasterState(level=5.0, samples=100)
    seasonal = seasonal_base(forecaster, state, at, HORIZON, params)
    highest = max(high for _, high in look.rises)
    assert seasonal.base == pytest.approx(1.1 * highest)
    assert seasonal.base < 100.0
