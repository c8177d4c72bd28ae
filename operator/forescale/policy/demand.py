"""The demand a fleet is sized for: the peak expected within the horizon, and why.

The ``predictive`` plan is ``base x envelope``: the forecaster's base (level, damped trend
and season, highest point over the horizon) times the burst envelope learned from this
deployment's history at the SLO's attainment quantile (``envelope``). Two things keep it
honest:

* **Bound by what was seen.** The envelope's headroom never takes the plan above the
  highest arrival rate the deployment has shown (remembered with the envelope's
  half-life, so a flash crowd seen once still counts hours later) plus ``peak_margin``,
  plus the rise of the arrival rate over the last horizon above the peak seen before it;
  the forecast itself is not capped (a climb back towards a known peak is the
  forecaster's to follow; its trend counts only beyond the noise, ``deciding``). The
  envelope is one quantile over all levels: ratios learned from quiet minutes (a burst
  from near idle is many times its base) must not multiply the base of a busy minute into
  a rate nobody ever sent.
* **A fast path for the unforeseen.** Arrivals beyond both ``spike_ratio`` and the
  envelope times the expected rate, and beyond the rate window's counting noise, are a
  spike the smoothed base lags on: the current rise
  is extrapolated over the horizon (at most doubling the current rate), within the bound.

Until a burst window has closed, the envelope is the counting noise a Poisson stream at the
recent mean rate shows over the horizon at the SLO's quantile (``envelope.prior``). Until
enough windows have closed for the quantile to rest on evidence (one expected beyond it:
100 windows for 0.99), the plan is at least the highest rate seen: a new deployment has not
shown its bursts yet. ``reactive`` plans for the current arrival rate; while the
forecaster warms up (a rate window still filling looks like a steep rise), so does
``predictive``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from forescale.policy.parameters import ScalingParameters

#: The fast path extrapolates a spike to at most this multiple of the current arrival rate.
SPIKE_EXTRAPOLATION_CAP = 2.0
#: A spike must also exceed the expected rate by this many standard deviations of the
#: rate window's counting noise (a Poisson count over the window): at 1 req/s a 15 s
#: window reads 1.8 req/s about once every few hundred samples without any burst.
SPIKE_SIGNIFICANCE_SIGMAS = 3.0


@dataclass(frozen=True)
class PeakBound:
    """The most demand the observed arrivals justify over the horizon."""

    limit: float
    peak: float
    """Highest arrival rate remembered (the current one included)."""
    rise: float
    """How far the current rate exceeds the highest rate seen at least one horizon ago."""
    pace: float = math.inf
    """The most demand the forecast may reach above the bound: the current rate plus the
    rise over the last horizon that has held for a quarter horizon (a climb goes on at
    most as fast as it went)."""


def peak_bound(
    history: Sequence[tuple[float, float, float]],
    arrival: float,
    at: float,
    horizon: float,
    params: ScalingParameters,
    *,
    remembered_peak: float = 0.0,
) -> PeakBound | None:
    """Bound on planned demand from (time, rate) ``history`` (which includes ``at``).

    ``peak x (1 + peak_margin) + rise``, where ``peak`` is the larger of
    ``remembered_peak`` and the history's rates, and ``rise`` the current rate's excess over
    the highest peak remembered at least one horizon ago. ``history`` holds (time, arrival
    rate, remembered peak then), so a burst that returns to a known peak adds no rise and a
    ramp into new territory keeps its own. None (no bound) while no observation is a
    horizon old yet.
    """
    before = [peak_then for t, _, peak_then in history if t <= at - horizon]
    if not before:
        return None
    peak = max([arrival, remembered_peak, *(rate for _, rate, _ in history)])
    rise = max(0.0, arrival - max(before))
    then = max((t, rate) for t, rate, _ in history if t <= at - horizon)[1]
    # Only the rise that has held counts: the lowest rate of the last quarter horizon over
    # the rate a horizon ago. A climb holds its gains; a burst's edge (quiet a minute ago)
    # does not, and extrapolated it planned every burst of the Azure code trace far above
    # the peak seen.
    held = min([arrival, *(rate for t, rate, _ in history if t > at - horizon / 4)])
    pace = arrival + max(0.0, held - then)
    return PeakBound(peak * (1 + params.peak_margin) + rise, peak, rise, pace)


@dataclass(frozen=True)
class Plan:
    """Demand to size for, in requests/s, and the sentence that explains it."""

    rate: float
    label: str


def _bound_note(bound: PeakBound, params: ScalingParameters) -> str:
    rise = f" + rise {bound.rise:.1f} req/s" if bound.rise > 0 else ""
    return f"peak {bound.peak:.1f} req/s seen + {params.peak_margin:.0%}{rise}"


def predictive(  # noqa: PLR0917 (the plan's inputs, each a different quantity)
    arrival: float,
    expected: float,
    last: tuple[float, float] | None,
    at: float,
    base: float,
    envelope: float,
    learned: float | None,
    trusted: bool,
    bound: PeakBound | None,
    horizon: float,
    capacity: float,
    params: ScalingParameters,
) -> Plan:
    """The predictive plan (see the module docstring).

    ``expected`` is the rate the forecaster expected for this sample, ``last`` the previous
    (time, arrival rate), ``capacity`` one replica's within-SLO requests/s, ``envelope`` the
    ratio planned with and ``learned`` the histogram's quantile (None: nothing closed yet),
    which says whether the envelope is learned or the Poisson prior.
    """
    quantile = f"p{params.attainment * 100:g}"
    source = "Poisson prior" if learned is None or learned < envelope else "learned"
    rate = max(base * envelope, arrival)
    label = (
        f"forecast {base:.1f} req/s x burst envelope {envelope:.2f} ({quantile}, {source})"
        f" = {rate:.1f} req/s in {horizon:.0f} s"
    )
    if not trusted and bound is not None and bound.peak > rate:
        # Too few windows for this quantile: until one is expected beyond it, plan for the
        # highest rate the deployment has shown (a new deployment has not shown its bursts).
        rate = bound.peak
        label = f"{label}; too little history for {quantile}: the peak seen, {rate:.1f} req/s"
    if bound is not None and rate > bound.limit:
        # The bound caps the envelope's headroom, not the forecast: a climb back towards
        # (or past) a known peak is the forecaster's to follow, as fast as the arrivals
        # rose over the last horizon (a burst's edge extrapolated is no climb).
        forecast = min(base, bound.pace)
        rate = max(bound.limit, forecast, arrival)
        note = _bound_note(bound, params)
        if forecast > bound.limit:
            note = (
                f"{note}; the forecast up to {bound.pace:.1f} req/s, the arrivals plus the"
                " rise that held over the last horizon"
            )
        label = f"{label}, capped at {rate:.1f} req/s ({note})"
    threshold = max(params.spike_ratio, envelope)
    noise = math.sqrt(max(expected, 0.0) / params.rate_window_seconds)
    surprise = (
        arrival > threshold * expected
        and arrival - expected > SPIKE_SIGNIFICANCE_SIGMAS * noise
        and arrival > 0.5 * capacity
    )
    if surprise and last is not None and at > last[0]:
        slope = max(arrival - last[1], 0.0) / (at - last[0])
        extrapolated = min(arrival + slope * horizon, SPIKE_EXTRAPOLATION_CAP * arrival)
        capped = ""
        if bound is not None and extrapolated > bound.limit:
            extrapolated = max(bound.limit, arrival)
            capped = f", capped ({_bound_note(bound, params)})"
        if extrapolated > rate:
            label = (
                f"spike: arrivals {arrival:.1f} req/s ({arrival / max(expected, 1e-9):.1f}x the"
                f" expected {expected:.1f}) rising to {extrapolated:.1f} req/s in"
                f" {horizon:.0f} s{capped}; planned {rate:.1f} req/s"
            )
            rate = extrapolated
    return Plan(rate, label)
