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
  A spike's arrivals are the higher of the window's reading and what the queue shows over
  the last interval (completions + the growth of waiting and running requests,
  ``queue_arrivals``): the window averages a jump in with the minute before it.

* **A rise that recurs.** When both of the last two cycles of the traffic's period rose
  within the coming horizon at this time of the cycle (``season``), the plan is at least
  the lower of their highest readings within the horizon, each at today's scale (today's
  last slot over theirs): the same arrivals the bound and the envelope learn from, but
  from a cycle ago, so a job's onset is planned for before it shows. Arrivals within what
  both cycles read from now over the horizon are a rise they showed: a spike's fast path
  extrapolates them no further.

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

from forescale.metrics.observation import Observation
from forescale.policy.parameters import ScalingParameters

#: The fast path extrapolates a spike to at most this multiple of the current arrival rate.
SPIKE_EXTRAPOLATION_CAP = 2.0
#: A spike must also exceed the expected rate by this many standard deviations of the
#: rate window's counting noise (a Poisson count over the window): at 1 req/s a 15 s
#: window reads 1.8 req/s about once every few hundred samples without any burst.
SPIKE_SIGNIFICANCE_SIGMAS = 3.0
#: A rise that held counts as a climb only beyond this many standard deviations of the
#: difference of two readings (counting noise, or the forecaster's one-step error when
#: the traffic is burstier than Poisson, as on the Azure code trace).
CLIMB_SIGNIFICANCE_SIGMAS = 3.0


@dataclass(frozen=True)
class PeakBound:
    """The most demand the observed arrivals justify over the horizon."""

    limit: float
    peak: float
    """Highest arrival rate remembered (the current one included)."""
    rise: float
    """How far the current rate exceeds the highest rate seen at least one horizon ago: how
    far a spike's fast path may go beyond ``limit`` (a spike into new territory)."""
    pace: float = math.inf
    """The most demand the forecast may reach above the bound: the current rate plus its
    rise over the last quarter horizon extrapolated over the horizon, once the arrivals'
    rise over the last horizon has held for a quarter horizon beyond the noise (a climb
    goes on as fast as it goes now; a burst's edge and a step that levelled off do not),
    and not past a crest; at most ``SPIKE_EXTRAPOLATION_CAP`` times the current rate."""
    current_rise: float = 0.0
    """The arrivals' rise over the last quarter horizon (0 when no climb held)."""
    rise_seconds: float = 0.0
    """The time that rise took: ``pace`` is the arrivals plus it x horizon / this."""
    pace_capped: bool = False
    """``pace`` is ``SPIKE_EXTRAPOLATION_CAP`` times the arrivals, short of the climb's own
    extrapolation (the Event says so)."""
    earlier: float = 0.0
    """The highest peak remembered at least one horizon ago: what ``rise`` is measured
    from."""

    @property
    def spike_limit(self) -> float:
        return self.limit + self.rise

    def spike_room(self, arrivals: float) -> tuple[float, float]:
        """(peak, rise) of a spike's fast path at ``arrivals`` (the rate window's reading or
        the queue's): the peak seen with them, and their rise over the peak a horizon ago."""
        return max(self.peak, arrivals), max(0.0, arrivals - self.earlier)


def peak_bound(
    history: Sequence[tuple[float, float, float]],
    arrival: float,
    at: float,
    horizon: float,
    params: ScalingParameters,
    *,
    remembered_peak: float = 0.0,
    noise: float = 0.0,
) -> PeakBound | None:
    """Bound on planned demand from (time, rate) ``history`` (which includes ``at``).

    ``peak x (1 + peak_margin)``, where ``peak`` is the larger of ``remembered_peak`` and
    the history's rates; ``rise`` is the current rate's excess over the highest peak
    remembered at least one horizon ago (``history`` holds (time, arrival rate, remembered
    peak then), so a burst that returns to a known peak adds no rise), the room a spike's
    fast path has above the limit. ``noise`` is the standard deviation of the difference
    of two readings of the rate (``deciding``). None (no bound) only without any reading.

    With no reading a horizon old, the oldest reading kept is the nearest to a horizon ago
    there is. That happens in two ways, and both planned unbounded before:

    * A horizon that grew longer than the history kept for the last one (a slower cold
      start just learned): the envelope learned on a climb planned 476.6 req/s, 12
      replicas for a need of 6 (diurnal, seed 3: the horizon grew from 199 to 273 s).
    * A deployment watched for less than a horizon: the forecaster's first trend, fitted
      to a burst's edge just after its warm-up, planned 829 req/s, the maximum of 16
      replicas, for a burst of 272 (the held-out ``onoff`` shape, seed 0), held for the
      scale-down's 300 s. From its oldest reading the young deployment's bound is the peak
      seen + margin, and a burst's edge is no climb that held, as for an older one.
    """
    older = [entry for entry in history if entry[0] <= at - horizon]
    if not older:
        if not history:
            return None
        older = [min(history)]
    peak = max([arrival, remembered_peak, *(rate for _, rate, _ in history)])
    before = [peak_then for _, _, peak_then in older]
    rise = max(0.0, arrival - max(before))
    then = max(older)[1]
    # A climb holds its gains: the lowest rate of the last quarter horizon is above the
    # rate a horizon ago by more than the noise. A burst's edge (quiet a minute ago) does
    # not, and extrapolated it planned every burst of the Azure code trace far above the
    # peak seen. A climb goes on at its current pace (the rise over the last quarter
    # horizon, one rate window: independent readings): the rise over the whole horizon
    # lags an accelerating morning (diurnal 85.56 % with the rise over the horizon, 96.80 %
    # with the current pace, reduced bench), and a step that levelled off has no current
    # pace left to extrapolate.
    recent = [arrival, *(rate for t, rate, _ in history if t > at - horizon / 4)]
    held = min(recent)
    # A climb that has turned has no pace left: arrivals below the highest reading of the
    # last quarter horizon by more than the counting noise of two readings are past a
    # crest (flash: 253 -> 239 req/s, and the rise that led there planned 13 replicas for
    # a need of 8). The counting noise, not the forecaster's error: the crowd itself made
    # that error hundreds of req/s.
    crest = max(recent) - arrival > CLIMB_SIGNIFICANCE_SIGMAS * math.sqrt(
        2 * max(arrival, 0.0) / params.rate_window_seconds
    )
    current = seconds = 0.0
    if held - then > CLIMB_SIGNIFICANCE_SIGMAS * noise and not crest:
        since, earlier = max((t, rate) for t, rate, _ in history if t <= at - horizon / 4)
        current, seconds = max(0.0, arrival - earlier), max(at - since, 1e-9)
        # The pace is the current one: the readings' rise over the last interval when it is
        # slower than their rise over the window. A jump seen through the rate window rises
        # for one window at the jump's pace and then levels off; the window's mean rise
        # extrapolated it over the whole horizon (flash: 251.7 + 185.9 req/s per 60 s, 15
        # replicas for a crowd that needs 8, while the last 15 s had risen 11.4 req/s).
        previous = [(t, rate) for t, rate, _ in history if since < t < at]
        if previous:
            last_at, last_rate = max(previous)
            step = max(0.0, arrival - last_rate)
            if step * seconds < current * (at - last_at):
                current, seconds = step, max(at - last_at, 1e-9)
    # As far as a spike's fast path, no further: a crowd's edge seen through the rate
    # window rises for one window as fast as it arrived (flash2: 245 + 171 req/s per 60 s
    # x 240 s planned 930 req/s for a crowd of 250).
    climb = arrival + (current * horizon / seconds if seconds else 0.0)
    pace = min(climb, SPIKE_EXTRAPOLATION_CAP * arrival)
    return PeakBound(
        peak * (1 + params.peak_margin),
        peak,
        rise,
        pace,
        current,
        seconds,
        pace < climb,
        earlier=max(before),
    )


@dataclass(frozen=True)
class QueueReading:
    """The arrivals of the last scrape interval as the queue shows them."""

    rate: float
    completions: float
    """The completion rate (over the rate window: a saturated fleet completes at its
    capacity, so the window adds no lag)."""
    growth: float
    """The growth of waiting + running requests since the previous observation, per s."""
    seconds: float


def queue_arrivals(
    observations: Sequence[Observation], window_seconds: float
) -> QueueReading | None:
    """Completions plus the growth of the requests in the fleet (waiting + running) since
    the previous observation: the arrivals of the last interval, where the rate window
    still averages a jump in with the window before it (flash, 15 s after the crowd
    came: 108 req/s through the 60 s window, 178 req/s by the queue).

    The reader's own conservation estimate (completions + growth), over one interval
    instead of the window. None without a previous observation, or when it is a whole
    rate window old (the window is then as recent).
    """
    if len(observations) < 2:
        return None
    now, before = observations[-1], observations[-2]
    seconds = now.timestamp - before.timestamp
    completions = now.completion_rate
    if not 0 < seconds < window_seconds or completions is None:
        return None
    if None in (now.waiting, now.running, before.waiting, before.running):
        return None
    inside = (now.waiting or 0.0) + (now.running or 0.0)
    inside_before = (before.waiting or 0.0) + (before.running or 0.0)
    growth = (inside - inside_before) / seconds
    return QueueReading(completions + growth, completions, growth, seconds)


@dataclass(frozen=True)
class Recurring:
    """A figure of the season's: the highest reading the last two cycles rose to over the
    coming horizon at this time of the cycle, at today's scale (``season``), as the plan's
    floor; or the highest they read from now over the horizon, as a spike's ceiling.

    Not times the learned envelope: the season's figure is itself a peak (the highest
    reading), and the rises of the cycles it learned from closed envelope windows too (the
    job's onset, 5x its base): multiplied, the two planned a job twice (1,345-1,431 req/s
    for one of 270).
    """

    planned: float
    why: str


@dataclass(frozen=True)
class Plan:
    """Demand to size for, in requests/s, and the sentence that explains it."""

    rate: float
    label: str


def _bound_note(peak: float, params: ScalingParameters, rise: float = 0.0) -> str:
    room = f" + rise {rise:.1f} req/s" if rise > 0 else ""
    return f"peak {peak:.1f} req/s seen + {params.peak_margin:.0%}{room}"


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
    queued: QueueReading | None = None,
    recurring: Recurring | None = None,
    recurred: Recurring | None = None,
    at_floor: bool = False,
) -> Plan:
    """The predictive plan (see the module docstring).

    ``expected`` is the rate the forecaster expected for this sample, ``last`` the previous
    (time, arrival rate), ``capacity`` one replica's within-SLO requests/s, ``envelope`` the
    ratio planned with and ``learned`` the histogram's quantile (None: nothing closed yet),
    which says whether the envelope is learned or the Poisson prior. ``recurring`` is the
    season's floor for the plan, ``recurred`` where a rise the last two cycles showed at
    this time ended (a spike within it is extrapolated no further). ``at_floor``: the
    forecast runs below ``min_replicas``' capacity and the envelope is the one learned
    there (``deciding._envelope_for``).
    """
    quantile = f"p{params.attainment * 100:g}"
    source = "Poisson prior" if learned is None or learned < envelope else "learned"
    if at_floor:
        source = f"{source} below minReplicas' capacity"
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
        forecast = min(base * envelope, bound.pace)
        rate = max(bound.limit, forecast, arrival)
        note = _bound_note(bound.peak, params)
        if forecast > bound.limit:
            cap = SPIKE_EXTRAPOLATION_CAP
            capped = f", at most {cap:g}x the arrivals" if bound.pace_capped else ""
            note = (
                f"{note}; the forecast up to {bound.pace:.1f} req/s, the arrivals plus"
                f" their current rise over the horizon, a climb that held: {arrival:.1f}"
                f" + {bound.current_rise:.1f} req/s per {bound.rise_seconds:.0f} s x"
                f" {horizon:.0f} s{capped}"
            )
        label = f"{label}, capped at {rate:.1f} req/s ({note})"
    # Arrivals within the envelope are planned for, unless the bound cut its headroom: then
    # the envelope learned from the spike's own first windows (2.7x on the step) must not
    # hide the spike from the fast path.
    covered = bound is None or base * envelope <= bound.limit
    threshold = max(params.spike_ratio, envelope) if covered else params.spike_ratio
    noise = math.sqrt(max(expected, 0.0) / params.rate_window_seconds)
    surprise = (
        arrival > threshold * expected
        and arrival - expected > SPIKE_SIGNIFICANCE_SIGMAS * noise
        and arrival > 0.5 * capacity
    )
    if surprise and last is not None and at > last[0]:
        slope = max(arrival - last[1], 0.0) / (at - last[0])
        # The queue shows a jump before the rate window does: a spike's arrivals are the
        # higher of the two (the surprise itself is judged on the window, whose noise the
        # thresholds are set for).
        now, seen = arrival, ""
        if queued is not None and queued.rate > arrival:
            now = queued.rate
            seen = (
                f"; the queue shows {now:.1f} req/s over the last {queued.seconds:.0f} s"
                f" (completions {queued.completions:.1f} + growth {queued.growth:.1f})"
            )
        extrapolated = min(now + slope * horizon, SPIKE_EXTRAPOLATION_CAP * now)
        capped = ""
        if bound is not None:
            peak, rise = bound.spike_room(now)
            limit = peak * (1 + params.peak_margin) + rise
            if extrapolated > limit:
                extrapolated = max(limit, arrival)
                capped = f", capped ({_bound_note(peak, params, rise)})"
        if recurred is not None and now <= recurred.planned < extrapolated:
            # A rise both of the last two cycles showed at this time ends where theirs did.
            extrapolated = max(recurred.planned, arrival)
            capped = f", capped ({recurred.why})"
        if extrapolated > rate:
            label = (
                f"spike: arrivals {arrival:.1f} req/s ({arrival / max(expected, 1e-9):.1f}x the"
                f" expected {expected:.1f}){seen}, rising to {extrapolated:.1f} req/s in"
                f" {horizon:.0f} s{capped}; planned {rate:.1f} req/s"
            )
            rate = extrapolated
    if recurring is not None and recurring.planned > rate:
        # A rise both of the last two cycles showed is evidence of its own: the bound (what
        # the arrivals have shown lately) does not cap it.
        rate = recurring.planned
        label = f"{label}; {recurring.why}"
    return Plan(rate, label)
