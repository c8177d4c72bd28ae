"""The burst envelope: how far the peak over the next horizon exceeds the planned base.

Why. A replica started now is Ready one horizon later (cold start + control interval + the
lag of the observed rate), so what must run now is capacity for the *highest* demand that
arrives within that horizon, not for the average the forecaster predicts. How much higher
the peak runs than the forecast is a property of the deployment's traffic: near 1 for a
steady stream of many users (run hot), several times for an API hit by batch jobs. So it is
learned from the deployment's own history rather than set by a user or read from a normal
table:

* At every decision the policy's **base** (the forecaster's point forecast over the
  horizon: level, trend, season) opens a window. When the horizon has passed, the window
  closes with the **ratio** of the highest arrival rate observed inside it to the base.
* Ratios go into a log-spaced histogram, **weighted by the requests that arrived in the
  window** (its mean rate): the SLO counts requests, so a burst that carries many requests
  weighs more than a quiet minute. Weights decay with a half-life, so the envelope follows a
  deployment whose traffic changes, and a flash crowd seen once is still provisioned for
  when the next one comes within hours.
* The envelope is the ratio at the SLO's attainment quantile: with ``attainment`` 0.99,
  the windows carrying 99 % of the requests peaked at most that far above their base.

The state is a fixed-size histogram plus the windows still open (one horizon of decisions),
small enough to persist in status (sparse), and every update is O(bins + open windows).
A policy keeps two: the shared one, and one that only the windows opened below the floor
(``min_replicas``' capacity) teach, measured against their own forecast: a request-weighted
quantile is carried by the busy minutes, whose headroom a near-idle fleet does not need
(``deciding._envelope_for``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

#: Lower edge of the histogram's first bin (a peak at half the base: a falling load).
LOWEST_RATIO = 0.5
#: Each bin is this factor wider than the one below it (2 %).
BIN_GROWTH = 1.02
#: Bins from 0.5x to 0.5 x 1.02^245 = 64x; ratios outside fall into the edge bins.
BINS = 245


@dataclass(frozen=True)
class OpenWindow:
    """A base waiting for its horizon to pass."""

    at: float
    base: float
    peak: float = 0.0
    total: float = 0.0
    """Sum of the arrival rates observed inside the window."""
    count: int = 0
    reference: float = 0.0
    """What the ratio is measured against: the highest base the fleet still holds when the
    window opens (``observe``); 0 means ``base``."""

    @property
    def held(self) -> float:
        return max(self.reference, self.base)

    def to_list(self) -> list[float]:
        return [self.at, self.base, self.peak, self.total, float(self.count), self.reference]

    @classmethod
    def from_list(cls, values: object) -> OpenWindow:
        # Five entries: written before the reference existed (it was the base).
        if not isinstance(values, list) or len(values) not in {5, 6}:
            raise ValueError(
                "an open envelope window is [at, base, peak, total, count, reference],"
                f" got {values!r}"
            )
        numbers = [finite_number(values[0])]
        numbers += [
            amount(v, "an open envelope window's base, peak, total or count") for v in values[1:]
        ]
        reference = numbers[5] if len(numbers) == 6 else 0.0
        return cls(numbers[0], numbers[1], numbers[2], numbers[3], int(numbers[4]), reference)


@dataclass(frozen=True)
class EnvelopeState:
    """Decayed, request-weighted histogram of peak-to-base ratios, and the open windows."""

    weights: tuple[float, ...] = ()
    """One weight per bin; empty until the first window closes."""
    ratios: tuple[float, ...] = ()
    """Per bin, the weighted sum of its ratios: ``ratios[i] / weights[i]`` is the bin's mean,
    what a quantile falling in it returns (a steady load's 1.00 stays 1.00, not the edge
    of a 2 % bin)."""
    updated_at: float | None = None
    """When ``weights`` were last decayed."""
    windows: int = 0
    """Windows closed so far (not decayed): the evidence a quantile rests on."""
    open: tuple[OpenWindow, ...] = ()

    @property
    def samples_weight(self) -> float:
        return sum(self.weights)

    def to_dict(self) -> dict[str, object]:
        # Sparse: most bins of a real deployment stay empty.
        return {
            "weights": [[i, w, self.ratios[i]] for i, w in enumerate(self.weights) if w > 0],
            "updated_at": self.updated_at,
            "windows": self.windows,
            "open": [w.to_list() for w in self.open],
        }

    @classmethod
    def from_dict(cls, data: object) -> EnvelopeState:
        if not isinstance(data, dict):
            raise ValueError(f"envelope must be an object, got {data!r}")
        sparse = data.get("weights", [])
        if not isinstance(sparse, list):
            raise ValueError("envelope weights must be a list of [bin, weight, ratios]")
        weights = [0.0] * BINS if sparse else []
        ratios = list(weights)
        for entry in sparse:
            if not isinstance(entry, list) or len(entry) != 3:
                raise ValueError(f"envelope weights hold [bin, weight, ratios], got {entry!r}")
            index = int(finite_number(entry[0]))
            if not 0 <= index < BINS:
                raise ValueError(f"envelope bin {index} outside 0..{BINS - 1}")
            weights[index] = amount(entry[1], "an envelope weight")
            ratios[index] = amount(entry[2], "an envelope bin's ratio sum")
        opened = data.get("open", [])
        if not isinstance(opened, list):
            raise ValueError("envelope open windows must be a list")
        updated = data.get("updated_at")
        return cls(
            weights=tuple(weights),
            ratios=tuple(ratios),
            updated_at=None if updated is None else finite_number(updated),
            windows=int(amount(data.get("windows", 0), "envelope windows")),
            open=tuple(OpenWindow.from_list(w) for w in opened),
        )


def finite_number(value: object) -> float:
    """``value`` as a float, or ValueError unless it is a finite JSON number (not a bool):
    what a persisted state may hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def amount(value: object, what: str) -> float:
    """``value`` as a float, or ValueError unless it is a finite number of at least zero: a
    rate, count, weight or duration, which no update makes negative (a hand-edited one
    would be read as a quantity that cannot exist)."""
    number = finite_number(value)
    if number < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return number


def _bin(ratio: float) -> int:
    if ratio <= LOWEST_RATIO:
        return 0
    index = int(math.log(ratio / LOWEST_RATIO) / math.log(BIN_GROWTH))
    return min(index, BINS - 1)


def observe(  # noqa: PLR0917 (each argument is a different quantity; a bundle would hide them)
    state: EnvelopeState,
    at: float,
    rate: float,
    base: float | None,
    horizon_seconds: float,
    half_life_seconds: float,
    held_seconds: float = 0.0,
) -> EnvelopeState:
    """Fold the arrival ``rate`` observed at ``at`` into the envelope.

    Open windows younger than the horizon take ``rate`` into their peak; older ones close
    into the histogram. A new window opens at ``at`` when a positive ``base`` is given
    (None while the forecaster warms up: a filling rate window is not a burst).

    The window's ratio is measured against what the fleet holds, not the momentary base:
    the highest base of the last ``held_seconds`` (the scale-down stabilization keeps the
    capacity planned for it that long). A dip followed by its recovery is then no burst:
    measured against the dip's base, the Azure conv trace's dips (47 -> 23 -> 62 req/s)
    taught a 2.7x envelope, and the fleet ran at its peak seen.
    """
    still_open: list[OpenWindow] = []
    closing: list[OpenWindow] = []
    for window in state.open:
        if at <= window.at:
            still_open.append(window)
            continue
        grown = OpenWindow(
            window.at,
            window.base,
            max(window.peak, rate),
            window.total + rate,
            window.count + 1,
            window.reference,
        )
        (closing if at - window.at >= horizon_seconds else still_open).append(grown)
    weights, ratios, updated = state.weights, state.ratios, state.updated_at
    if closing:
        bins = list(weights) if weights else [0.0] * BINS
        sums = list(ratios) if ratios else [0.0] * BINS
        if updated is not None and at > updated:
            decay = 0.5 ** ((at - updated) / half_life_seconds)
            bins = [w * decay for w in bins]
            sums = [r * decay for r in sums]
        for window in closing:
            mean_rate = window.total / window.count
            if mean_rate > 0:
                ratio = window.peak / window.held
                index = _bin(ratio)
                bins[index] += mean_rate
                sums[index] += mean_rate * ratio
        if any(bins):
            weights, ratios = tuple(bins), tuple(sums)
        updated = at
    if base is not None and base > 0:
        held = [w.base for w in still_open if at - w.at < held_seconds]
        still_open.append(OpenWindow(at, base, reference=max([base, *held])))
    return EnvelopeState(weights, ratios, updated, state.windows + len(closing), tuple(still_open))


def trusted(state: EnvelopeState, q: float) -> bool:
    """Whether enough windows closed for quantile ``q`` to rest on evidence: at least one
    window is expected beyond it (``windows x (1 - q) >= 1``; 100 windows for 0.99)."""
    return state.windows * (1 - q) >= 1


def prior(rate: float, window_seconds: float, horizon_seconds: float, q: float) -> float:
    """The envelope before any burst window has closed: pure counting noise.

    A Poisson stream at ``rate`` read through a ``window_seconds`` rate window shows
    readings of standard deviation ``sqrt(rate / window)``; over the horizon there are about
    ``horizon / window`` independent readings, and their highest one exceeds its mean by
    ``z`` standard deviations at quantile ``q`` when each reading stays below it with
    probability ``q ** (1 / readings)``. So a stream with no bursts at all peaks at
    ``1 + z / sqrt(rate x window)`` times its rate within the horizon at quantile ``q``:
    that is the least headroom the SLO's quantile asks for, from the first decision on,
    and the learned histogram can only raise it (``envelope``).
    """
    if rate <= 0 or window_seconds <= 0:
        return 1.0
    readings = max(1.0, horizon_seconds / window_seconds)
    z = NormalDist().inv_cdf(q ** (1.0 / readings))
    return 1.0 + max(z, 0.0) / math.sqrt(rate * window_seconds)


def envelope(  # noqa: PLR0917 (each a different quantity)
    state: EnvelopeState,
    base: float,
    rate: float,
    window_seconds: float,
    horizon_seconds: float,
    q: float,
) -> tuple[float, float | None]:
    """The envelope a plan uses over ``base``, and the learned quantile (None: no window
    has closed yet).

    Until a window has closed it is what the Poisson ``prior`` of a stream at ``rate`` (the
    traffic's mean rate, not the floored base) peaks at over ``base``; then the learned
    quantile, whose ratios include the counting noise of their own windows (so on a steady
    stream the two agree) and rise above it as burst windows close. The quantile moves the
    plan from the first decision on.
    """
    learned = quantile(state, q)
    if learned is not None:
        return learned, learned
    if base <= 0:
        return 1.0, None
    return max(1.0, rate * prior(rate, window_seconds, horizon_seconds, q) / base), None


def quantile(state: EnvelopeState, q: float) -> float | None:
    """The peak-to-base ratio at request-weighted quantile ``q`` (None: nothing learned).

    Walks down from the highest bin until ``1 - q`` of the weight lies above and returns
    the mean ratio of the bin where that happens.
    """
    total = sum(state.weights)
    if total <= 0:
        return None
    tail = (1 - q) * total
    above = 0.0
    for index in range(BINS - 1, -1, -1):
        weight = state.weights[index]
        if weight <= 0:
            continue
        above += weight
        if above >= tail:
            return state.ratios[index] / weight
    return state.ratios[0] / state.weights[0]
