"""The traffic's recurring cycle: a rise that came at this time of the cycle before comes again.

Why. The forecaster follows a level and a trend, and the envelope provisions for bursts at
the SLO's quantile, but neither sees a rise before it starts: a morning ramp, a batch job
at 09:00, an hourly report. A replica started when the rise shows is Ready a cold start
later, so a policy that only reacts loses the rise's first minutes every day. What the
deployment did at the same time of its cycle tells it in advance.

How, and why so:

* The cycle's length is the user's (``spec.scaling.seasonPeriodSeconds``: a day by
  default, a week, a batch job's period); the phase is wall-clock time modulo it, so a
  restarted operator, a missed scrape or a changed control interval keeps the slots
  aligned (a sample-counting season, as in Holt-Winters, slips by one slot per missed
  sample).
* Each cycle is cut into at most ``SLOTS`` slots (5 min for a day, one control interval
  for a short cycle), and a slot keeps the mean and the highest arrival rate read in it
  in each of the last ``CYCLES`` cycles: ``CYCLES - 1`` complete ones and the one under
  way. Figures per cycle, not a smoothed profile, because the outlook asks each past
  cycle the same question.
* The outlook asks each of the last two cycles whether the traffic rose within the
  coming horizon above the mean of the slot of now (the burst envelope's question, asked
  of the same time a cycle ago), and plans for its **highest reading** there **at
  today's scale**: today's last complete slot over the same slot then. The highest
  reading, not the slot's mean: a job that starts at 09:00 is read through the rate
  window's ramp for its first minute, and the 09:00 slot's mean (249 req/s for a job of
  270) planned a replica short. At today's scale, so a quieter Friday rises like
  Thursday did, in proportion; from the last complete slot, not from today's level over
  now's slot, because now's slot is under way today and whole in the past: a minute into
  the 09:00 job the level is the job's and the slot's mean the ramp's, and today looked
  1.10x busier than the cycles.
* Where a rise both cycles showed at this time ends (``Ceiling``) bounds a spike's fast
  path: a job's onset read through the rate window is a spike to the forecaster, and its
  rise extrapolated over the horizon doubled a job the season had already planned for.
* It counts only when **both** of the last two cycles rose, each beyond
  ``SIGNIFICANCE_SIGMAS`` standard deviations of the counting noise of its two slot
  means, and the lower of the two cycles' figures is used: one flash crowd yesterday is
  the burst envelope's to remember, not the season's to repeat every day. A falling
  outlook is none: capacity shed on yesterday's word is not back for a cold start.

The state is two small tables per slot, updated in O(1) per observation and read in
O(horizon / slot) per decision; persisted with the rest of the policy state.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist

from forescale.policy.envelope import amount, finite_number

#: Most slots a cycle is cut into (a day: 288 slots of 5 minutes).
SLOTS = 288
#: Cycles each slot remembers: the one under way and the two complete before it.
CYCLES = 3
#: A past cycle's rise counts beyond this many standard deviations of its slots' noise
#: (for the highest of the horizon's slots: the bar rises with how many were compared).
SIGNIFICANCE_SIGMAS = 3.0


def slots_for(period_seconds: float, interval_seconds: float) -> int:
    """Slots per cycle: ``SLOTS``, or fewer so that a slot spans one control interval."""
    return max(2, min(SLOTS, int(period_seconds // max(interval_seconds, 1e-9))))


@dataclass(frozen=True)
class SeasonState:
    """Per slot, the mean and highest arrival rate of the last ``CYCLES`` cycles."""

    period_seconds: float = 0.0
    cycle: int | None = None
    """Index of the newest cycle observed (``floor(time / period)``)."""
    means: tuple[tuple[float | None, ...], ...] = ()
    """``means[k][slot]``: the mean arrival rate of ``slot`` in cycle ``cycle - k`` (None:
    not observed)."""
    peaks: tuple[tuple[float | None, ...], ...] = ()
    """``peaks[k][slot]``: the highest arrival rate read in ``slot`` in cycle ``cycle - k``."""
    counts: tuple[int, ...] = ()
    """Readings averaged into ``means[0]`` per slot (the cycle under way)."""

    @property
    def slots(self) -> int:
        return len(self.counts)

    def to_dict(self) -> dict[str, object]:
        return {
            "period_seconds": self.period_seconds,
            "cycle": self.cycle,
            # A cycle not observed at all (the first two days) is an empty list.
            "means": [_sparse(row) for row in self.means],
            "peaks": [_sparse(row) for row in self.peaks],
            "counts": list(self.counts),
        }

    @classmethod
    def from_dict(cls, data: object) -> SeasonState:
        if not isinstance(data, dict):
            raise ValueError(f"season must be an object, got {data!r}")
        period = amount(data.get("period_seconds", 0.0), "the season's period")
        cycle = data.get("cycle")
        counts = data.get("counts", [])
        if not isinstance(counts, list):
            raise ValueError("season counts must be a list")
        return cls(
            period_seconds=period,
            cycle=None if cycle is None else int(finite_number(cycle)),
            means=_table(data.get("means", []), len(counts)),
            peaks=_table(data.get("peaks", []), len(counts)),
            counts=tuple(int(amount(c, "a season count")) for c in counts),
        )


def _sparse(row: tuple[float | None, ...]) -> list[float | None]:
    return [] if all(v is None for v in row) else list(row)


def _table(rows: object, slots: int) -> tuple[tuple[float | None, ...], ...]:
    if not isinstance(rows, list):
        raise ValueError("season means and peaks must be lists")
    out: list[tuple[float | None, ...]] = []
    for listed in rows:
        row = [None] * slots if listed == [] else listed
        if not isinstance(row, list) or len(row) != slots:
            raise ValueError(f"a season row holds one figure per slot ({slots})")
        out.append(tuple(None if v is None else amount(v, "a season's rate") for v in row))
    if slots and len(out) != CYCLES:
        raise ValueError(f"a season keeps {CYCLES} cycles, got {len(out)}")
    return tuple(out)


def _position(at: float, period: float, slots: int) -> tuple[int, int]:
    cycle = math.floor(at / period)
    slot = min(slots - 1, int((at - cycle * period) / (period / slots)))
    return cycle, slot


def observe(
    state: SeasonState, at: float, rate: float, period_seconds: float, interval_seconds: float
) -> SeasonState:
    """Average the arrival ``rate`` observed at ``at`` into its slot of the cycle under way.

    A new cycle shifts the older ones back (a gap of whole cycles leaves them unobserved);
    a changed period or slot count starts afresh (the old slots mean other times).
    A reading from before the newest cycle (a clock set back) is ignored.
    """
    if period_seconds <= 0:
        return SeasonState()
    slots = slots_for(period_seconds, interval_seconds)
    cycle, slot = _position(at, period_seconds, slots)
    empty = ((None,) * slots,)
    if state.period_seconds != period_seconds or state.slots != slots or state.cycle is None:
        state = SeasonState(period_seconds, cycle, empty * CYCLES, empty * CYCLES, (0,) * slots)
    newest = state.cycle if state.cycle is not None else cycle
    if cycle < newest:
        return state
    means, peaks, counts = state.means, state.peaks, state.counts
    if cycle > newest:
        shift = min(cycle - newest, CYCLES)
        means = empty * shift + means[: CYCLES - shift]
        peaks = empty * shift + peaks[: CYCLES - shift]
        counts = (0,) * slots
    old, high, n = means[0][slot], peaks[0][slot], counts[slot]
    mean = rate if old is None or n == 0 else old + (rate - old) / (n + 1)
    peak = rate if high is None or n == 0 else max(high, rate)
    return SeasonState(
        period_seconds,
        cycle,
        (_with(means[0], slot, mean), *means[1:]),
        (_with(peaks[0], slot, peak), *peaks[1:]),
        (*counts[:slot], n + 1, *counts[slot + 1 :]),
    )


def _with(row: tuple[float | None, ...], slot: int, value: float) -> tuple[float | None, ...]:
    return (*row[:slot], value, *row[slot + 1 :])


@dataclass(frozen=True)
class Outlook:
    """What the last two cycles did over the coming horizon, at this time of the cycle."""

    rate: float
    """What today is planned for: the lower of the two cycles' highest readings within the
    horizon, each at today's scale (``scales``)."""
    rises: tuple[tuple[float, float], ...]
    """Per cycle (newest first): (mean rate of now's slot, highest reading within the
    horizon)."""
    scales: tuple[float, ...]
    """Per cycle: today's traffic over that cycle's at this time (``_scale``)."""
    scaled_by: str
    """What the scales compare, for the Event."""
    ahead_seconds: float
    """How far ahead the newest cycle's highest slot lies."""

    def explain(self, period_seconds: float) -> str:
        figures = ", ".join(f"{low:.1f} -> {high:.1f}" for low, high in self.rises)
        return (
            f"each of the last {len(self.rises)} {_cycles(period_seconds)} rose at this time"
            f" ({figures} req/s, {self.ahead_seconds:.0f} s ahead), {self.scaled_by} at"
            f" {_times(self.scales)} theirs"
        )


@dataclass(frozen=True)
class Ceiling:
    """How high the traffic went from this time of the cycle over the coming horizon in
    each of the last two cycles, at today's scale: where a rise they both showed ends."""

    rate: float
    """The lower of the two cycles' highest readings, each at today's scale."""
    highs: tuple[float, ...]
    scales: tuple[float, ...]
    scaled_by: str

    def explain(self, period_seconds: float) -> str:
        highs = ", ".join(f"{high:.1f}" for high in self.highs)
        return (
            f"the last {len(self.highs)} {_cycles(period_seconds)} reached at most {highs}"
            f" req/s from this time over the horizon, {self.scaled_by} at"
            f" {_times(self.scales)} theirs: {self.rate:.1f} req/s"
        )


def _cycles(period_seconds: float) -> str:
    names = {86400.0: "days", 604800.0: "weeks", 3600.0: "hours"}
    return names.get(period_seconds, f"cycles of {period_seconds:.0f} s")


def _times(scales: tuple[float, ...]) -> str:
    return " and ".join(f"{scale:.2f}x" for scale in scales)


def _steps(horizon_seconds: float, width: float) -> int:
    """The slots after now's a horizon reaches."""
    return max(1, math.ceil(horizon_seconds / width))


@functools.cache
def _significance(steps: int) -> float:
    """Standard deviations the highest of ``steps`` slots must clear to be as rare as one
    slot clearing ``SIGNIFICANCE_SIGMAS`` (a few horizons' worth of values: cached, the
    decision asks every interval)."""
    normal = NormalDist()
    return normal.inv_cdf(1 - (1 - normal.cdf(SIGNIFICANCE_SIGMAS)) / steps)


def _scale(state: SeasonState, at: float, back: int) -> float | None:
    """Today's traffic over that of ``back`` cycles ago at this time: the means of the last
    complete slot, today's and the same slot then (None: either not observed).

    The last complete slot, not now's: now's slot is under way today and whole in the past
    cycle, and a rise inside it (a job at 09:00 read through the rate window's first
    minute: the 09:00 slot's mean 249 req/s for a job of 270) made today's level, already
    at the job's, look 1.10x busier than that cycle and planned a replica for nothing.
    """
    width = state.period_seconds / state.slots
    today = _figures(state, at - width)
    then = _figures(state, at - width - back * state.period_seconds)
    if today is None or then is None or then[0] <= 0:
        return None
    return today[0] / then[0]


@dataclass(frozen=True)
class _Past:
    """One past cycle at this time of the cycle, read in one pass over its slots."""

    now: float
    """The mean of now's slot."""
    best: float
    """The highest slot mean after now's within the horizon."""
    best_ahead: float
    """How far ahead that slot lies."""
    highest: float
    """The highest reading after now's slot within the horizon."""
    highest_from_now: float
    """The highest reading from now's slot through the horizon."""
    scale: float | None
    """Today's traffic over this cycle's (``_scale``)."""


def _past(state: SeasonState, at: float, back: int, horizon_seconds: float) -> _Past | None:
    """The cycle ``back`` cycles ago from ``at``'s time through the horizon (None: a slot
    of it not observed)."""
    width = state.period_seconds / state.slots
    then = at - back * state.period_seconds
    figures = _figures(state, then)
    if figures is None:
        return None
    now, top = figures
    best = highest = -math.inf
    best_ahead = 0.0
    for step in range(1, _steps(horizon_seconds, width) + 1):
        offset = min(step * width, horizon_seconds)
        figures = _figures(state, then + offset)
        if figures is None:
            return None
        mean, peak = figures
        if mean > best:
            best, best_ahead = mean, offset
        highest = max(highest, peak)
    return _Past(now, best, best_ahead, highest, max(top, highest), _scale(state, at, back))


def ahead(
    state: SeasonState,
    at: float,
    horizon_seconds: float,
    window_seconds: float,
    level: float,
) -> tuple[Outlook | None, Ceiling | None]:
    """What the last two cycles say about the next ``horizon_seconds``: the recurring rise
    to plan for (``Outlook``, None: none both showed beyond their noise) and where a rise
    they showed at this time ends (``Ceiling``, None: today's last slot not observed in
    both); both None until two cycles are observed.

    The noise of a slot mean is the counting noise of a Poisson stream at that rate over
    the slot (or the rate window, if longer): a flat cycle read through noise shows no
    rise, and a rise of the slots' means must clear both slots' noise together (the means
    decide whether there is a rise; the highest reading how far it goes). The highest of
    the horizon's slots is compared, so the bar is the one that many independent slots
    clear by chance as rarely as one slot clears ``SIGNIFICANCE_SIGMAS``. Each cycle's
    highest reading is taken at today's scale (``_scale``; the outlook falls back on
    today's ``level`` over the mean of now's slot when the last slot was not observed in
    both).

    The ceiling is the lower of the two cycles' highest readings from now's slot through
    the horizon, at today's scale. Arrivals within it are a rise both cycles showed at
    this time, and it ends where they ended: a spike's fast path extrapolates them no
    further (``demand``). At 09:00:30 on a workday's third day a job the season had
    planned for read through the rate window as a spike (205 req/s, 1.9x the
    forecaster's expected) and its rise extrapolated over the horizon added two replicas
    to the eight already Ready for it.
    """
    period, slots = state.period_seconds, state.slots
    if period <= 0 or state.cycle is None or not slots:
        return None, None
    pasts = [_past(state, at, back, horizon_seconds) for back in (1, 2)]
    if pasts[0] is None or pasts[1] is None:
        return None, None
    cycles = (pasts[0], pasts[1])
    width = period / slots
    known = tuple(past.scale for past in cycles if past.scale is not None)
    scales = known if len(known) == len(cycles) else None
    top = None
    if scales is not None:
        highs = tuple(past.highest_from_now for past in cycles)
        rate = min(high * scale for high, scale in zip(highs, scales, strict=True))
        top = Ceiling(rate, highs, scales, _scaled_by(True, width))
    return _outlook(cycles, horizon_seconds, window_seconds, level, width, scales), top


def _outlook(  # noqa: PLR0917 (the two cycles and what their figures are judged by)
    cycles: tuple[_Past, _Past],
    horizon_seconds: float,
    window_seconds: float,
    level: float,
    width: float,
    slot_scales: tuple[float, ...] | None,
) -> Outlook | None:
    """The rise both cycles showed beyond their noise, at today's scale ``slot_scales``
    (None: the last slot not observed in both, today's ``level`` over the mean of now's
    slot)."""
    span = max(width, window_seconds)
    sigmas = _significance(_steps(horizon_seconds, width))
    for past in cycles:
        if past.now <= 0:
            return None
        noise = math.sqrt((past.now + max(past.best, 0.0)) / span)
        if past.best - past.now <= sigmas * noise:
            return None
    scales = slot_scales or tuple(max(level, 0.0) / past.now for past in cycles)
    rate = min(past.highest * scale for past, scale in zip(cycles, scales, strict=True))
    rises = tuple((past.now, past.highest) for past in cycles)
    by_slot = slot_scales is not None
    return Outlook(rate, rises, scales, _scaled_by(by_slot, width), cycles[0].best_ahead)


def _scaled_by(by_slot: bool, width: float) -> str:
    return f"the last {width:.0f} s" if by_slot else "today's level"


def _figures(state: SeasonState, at: float) -> tuple[float, float] | None:
    """(mean, highest) arrival rate of ``at``'s slot in its cycle (None: that cycle or
    slot not observed)."""
    cycle, slot = _position(at, state.period_seconds, state.slots)
    back = (state.cycle or 0) - cycle
    if not 0 <= back < CYCLES or (back == 0 and state.counts[slot] == 0):
        return None
    mean, peak = state.means[back][slot], state.peaks[back][slot]
    return None if mean is None or peak is None else (mean, peak)
