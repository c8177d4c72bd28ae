"""Shapes no round of the policy was tuned on: a check of the principles, not of the quirks.

Why. Issue 10 warns that traces we have not seen judge the same targets. The recorded
sweep's eight inputs were each diagnosed in the policy's decision logs round after round
(docs/benchmarks.md, "what was tuned on what"), and the held-out windows are the same two
services. These six shapes were written down, parameters included, in one commit before
their first run (docs/benchmarks.md says which), and the results were recorded as they came:
a later change that is diagnosed on them makes them seen, and the docs must then say so
(``onoff`` is: round 15's bound for a young deployment was found in its decision log).

Each is a rate curve with peak 1 over its duration, as ``scenarios``' are (that module
synthesizes them the same way), chosen for what real services show and the sweep lacks:

* ``sawtooth``: three cycles of a climb from 30 % to the peak over three quarters of the
  cycle, then an instant drop back (a batch of work that builds up and is flushed).
* ``stairs``: 25 % rising to 50, 75 and 100 % at each quarter of the duration: steps of
  1.33-2x, smaller than ``step``'s 5x (near a spike test's thresholds, not far beyond).
* ``wave``: three cycles of a sine from 20 % to the peak: ``diurnal`` three times faster,
  so a 10-minute cycle rises from trough to peak in under two cold starts.
* ``onoff``: bursts at the peak of 30-120 s, between lulls at 15 % of 60-240 s (a fixed,
  seeded schedule): bursty like the Azure code trace but synthetic, longer bursts.
* ``surge``: 30 % until a third of the duration, a climb to the peak over 3 minutes (one
  cold start), held to two thirds, and down over 3 minutes: between ``step`` and ``ramp``.
* ``mixshift``: a flat 50 % of the peak while the requests' outputs double from half the
  duration on (``OUTPUT_SHIFTS``): the rate does not move, the work does. The load test
  that seeds every policy's capacity was taken on the mix before the shift, as it would
  have been in production.
"""

from __future__ import annotations

import math

import numpy as np

from forescale.sim.traces import FloatArray

#: Cycles of ``sawtooth`` and ``wave`` in their duration.
CYCLES = 3
#: Seed of ``onoff``'s burst schedule (fixed: the schedule is the shape, not the noise).
ONOFF_SCHEDULE_SEED = 20261205
#: Seconds ``surge`` takes to climb and to fall.
SURGE_EDGE_SECONDS = 180.0


def _sawtooth(t: FloatArray, duration: float) -> FloatArray:
    period = duration / CYCLES
    phase = np.mod(t, period) / period
    return np.where(phase < 0.75, 0.3 + 0.7 * phase / 0.75, 0.3)


def _stairs(t: FloatArray, duration: float) -> FloatArray:
    return 0.25 * (1 + np.minimum(np.floor(4 * t / duration), 3))


def _wave(t: FloatArray, duration: float) -> FloatArray:
    period = duration / CYCLES
    return 0.6 - 0.4 * np.cos(2 * math.pi * t / period)


def onoff_bursts(duration: float) -> list[tuple[float, float]]:
    """``onoff``'s (start, end) of each burst: a fixed schedule, the same every run."""
    rng = np.random.default_rng(ONOFF_SCHEDULE_SEED)
    bursts: list[tuple[float, float]] = []
    at = float(rng.uniform(60.0, 240.0))
    while at < duration:
        length = float(rng.uniform(30.0, 120.0))
        bursts.append((at, at + length))
        at += length + float(rng.uniform(60.0, 240.0))
    return bursts


def _onoff(t: FloatArray, duration: float) -> FloatArray:
    on = np.zeros_like(t, dtype=bool)
    for start, end in onoff_bursts(duration):
        on |= (t >= start) & (t < end)
    return np.where(on, 1.0, 0.15)


def _surge(t: FloatArray, duration: float) -> FloatArray:
    up = np.clip((t - duration / 3) / SURGE_EDGE_SECONDS, 0.0, 1.0)
    down = np.clip((t - 2 * duration / 3) / SURGE_EDGE_SECONDS, 0.0, 1.0)
    return 0.3 + 0.7 * (up - down)


def _flat_half(t: FloatArray, duration: float) -> FloatArray:
    return np.full_like(t, 0.5)


SHAPES = {
    "sawtooth": _sawtooth,
    "stairs": _stairs,
    "wave": _wave,
    "onoff": _onoff,
    "surge": _surge,
    "mixshift": _flat_half,
}

#: scenario -> (shares of the duration from which and until which, factor by which) the
#: requests' outputs are multiplied.
OUTPUT_SHIFTS: dict[str, tuple[float, float, float]] = {"mixshift": (0.5, 1.0, 2.0)}
