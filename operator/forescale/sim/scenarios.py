"""Synthetic load scenarios: the shapes real traces rarely show but autoscalers must survive.

Each scenario is a rate curve with peak 1 over its duration, turned into a seeded
non-homogeneous Poisson process (Poisson counts per second, uniform within the second).
Request sizes are drawn (seeded) from a given trace's mix, e.g. a real production trace;
without one, from the ShareGPT-like chat mix the replica model was calibrated on
(``replica_calibration.chat_workload``).

* ``steady``: flat at the peak: holding a fleet under Poisson noise without flapping.
* ``step``: 20 % of the peak, then x5 at one third of the duration (unannounced).
* ``ramp``: 20 % rising linearly to the peak between 1/6 and 5/6 of the duration.
* ``flash``: 25 % base; at half time the rate jumps to the peak within 10 s and decays back
  with a 5-minute time constant (a flash crowd).
* ``flash2``: the same flash crowd twice, at one third of the duration and 10 minutes later
  (a spike seen once should be provisioned for the next time).
* ``diurnal``: one compressed day, 20 % at night to the peak at noon (raised cosine).
* ``recurring``: a batch job, three cycles of a third of the duration each: 20 % of the
  peak, and x5 from half to five sixths of every cycle (each onset unannounced, like
  ``step``, but at the same time of every cycle: what a season learns). A user who knows
  the job declares its period (``cycle_seconds``).
* ``workday``: a business-hours service over whole days: 20 % of the peak at night, x5
  from 09:00 to 17:00 (sharp edges, every day at the same time); its cycle is a day, the
  CRD's default period. Run it over several days (``--scenario-duration 72h``): a season
  needs two cycles, and the burst envelope's 6 h memory has forgotten yesterday's 09:00 by
  today's.

* ``mixpulse``: a flat 50 % of the peak while the requests' outputs double from 0.3 to 0.6
  of the duration, then return (a batch of long generations for a while): a capacity the
  heavy mix lowered must come back with the light one. Written for round 17's fix, so it
  is a seen shape; ``mixshift``'s outputs double for good.

``scenarios_unseen`` adds six shapes no round was tuned on (``make bench-unseen``), one of
them with a shift of the request mix rather than the rate.

* ``hourly:<path>``: a real service's days from its hourly request counts
  (``hourly_profile``; ``make bench-season-real`` runs a week of the Azure 2024
  conversation service and two of BurstGPT's). Its cycle is a day.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from forescale.sim import hourly_profile, scenarios_unseen
from forescale.sim.replica_calibration import chat_workload
from forescale.sim.traces import FloatArray, Trace

Shape = Callable[[FloatArray, float], FloatArray]


def _steady(t: FloatArray, duration: float) -> FloatArray:
    return np.ones_like(t)


def _step(t: FloatArray, duration: float) -> FloatArray:
    return np.where(t < duration / 3, 0.2, 1.0)


def _ramp(t: FloatArray, duration: float) -> FloatArray:
    start, end = duration / 6, 5 * duration / 6
    return 0.2 + 0.8 * np.clip((t - start) / (end - start), 0.0, 1.0)


def _crowd(t: FloatArray, onset: float) -> FloatArray:
    """One flash crowd from 0 to 1: a 10 s rise, then a 5-minute exponential decay."""
    since = t - onset
    rise = np.clip(since / 10.0, 0.0, 1.0)
    decay = np.exp(-np.maximum(since - 10.0, 0.0) / 300.0)
    return rise * decay


def _flash(t: FloatArray, duration: float) -> FloatArray:
    return 0.25 + 0.75 * _crowd(t, duration / 2)


#: Time between the two crowds of ``flash2``.
FLASH2_GAP_SECONDS = 600.0


def _flash2(t: FloatArray, duration: float) -> FloatArray:
    first = duration / 3
    both = np.maximum(_crowd(t, first), _crowd(t, first + FLASH2_GAP_SECONDS))
    return 0.25 + 0.75 * both


def _diurnal(t: FloatArray, duration: float) -> FloatArray:
    return 0.2 + 0.8 * (1 - np.cos(2 * math.pi * t / duration)) / 2


#: Cycles of ``recurring`` in its duration.
RECURRING_CYCLES = 3


def _recurring(t: FloatArray, duration: float) -> FloatArray:
    phase = np.mod(t, duration / RECURRING_CYCLES) / (duration / RECURRING_CYCLES)
    return np.where((phase >= 1 / 2) & (phase < 5 / 6), 1.0, 0.2)


DAY_SECONDS = 86400.0
#: ``workday``'s business hours, in seconds of the day.
WORKDAY_HOURS = (9 * 3600.0, 17 * 3600.0)


def _workday(t: FloatArray, duration: float) -> FloatArray:
    clock = np.mod(t, DAY_SECONDS)
    return np.where((clock >= WORKDAY_HOURS[0]) & (clock < WORKDAY_HOURS[1]), 1.0, 0.2)


def cycle_seconds(name: str, duration: float) -> float | None:
    """The period of a scenario that repeats (None: it does not)."""
    if name == "recurring":
        return duration / RECURRING_CYCLES
    return DAY_SECONDS if name == "workday" or hourly_profile.is_hourly(name) else None


SCENARIOS: dict[str, Shape] = {
    "steady": _steady,
    "step": _step,
    "ramp": _ramp,
    "flash": _flash,
    "flash2": _flash2,
    "diurnal": _diurnal,
    "recurring": _recurring,
    "workday": _workday,
    "mixpulse": scenarios_unseen.SHAPES["mixshift"],  # the same flat half, another shift
    **scenarios_unseen.SHAPES,
}
#: scenario -> (shares of the duration from which and until which, factor by which) the
#: requests' outputs are multiplied.
OUTPUT_SHIFTS: dict[str, tuple[float, float, float]] = {
    "mixpulse": (0.3, 0.6, 2.0),
    **scenarios_unseen.OUTPUT_SHIFTS,
}


def is_scenario(spec: str) -> bool:
    """Whether ``spec`` names a synthetic scenario (else a trace file)."""
    return spec in SCENARIOS or hourly_profile.is_hourly(spec)


def display_name(spec: str) -> str:
    """What tables call scenario ``spec``: its name, or an hourly profile's file stem."""
    return hourly_profile.source_of(spec).name if hourly_profile.is_hourly(spec) else spec


def shape(name: str) -> Shape:
    if hourly_profile.is_hourly(name):
        return lambda t, duration: hourly_profile.curve(name, t)
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join([*SCENARIOS, f"{hourly_profile.PREFIX}<path>"])
        raise ValueError(f"unknown scenario {name!r}; known: {known}") from None


def default_mix(seed: int, count: int = 2000) -> Trace:
    """The calibration's chat request mix as a trace (arrivals all zero: sizes only)."""
    pairs = np.array(chat_workload(count, seed=seed), dtype=np.int64).reshape(-1, 2)
    return Trace("chat", np.zeros(len(pairs)), pairs[:, 0], pairs[:, 1])


def synthesize(
    name: str, peak_rate: float, duration: float, seed: int, mix: Trace | None = None
) -> Trace:
    """A seeded trace of scenario ``name`` peaking at ``peak_rate`` requests/s."""
    if peak_rate < 0 or duration <= 0:
        raise ValueError("peak_rate must be >= 0 and duration > 0")
    curve = shape(name)
    rng = np.random.default_rng(seed)
    seconds = np.arange(math.ceil(duration), dtype=np.float64)
    counts = rng.poisson(peak_rate * curve(seconds + 0.5, duration))
    arrivals = np.sort(np.repeat(seconds, counts) + rng.random(int(counts.sum())))
    sizes = mix if mix is not None and len(mix) else default_mix(seed)
    pick = rng.integers(0, len(sizes), len(arrivals))
    outputs = sizes.output_tokens[pick]
    if name in OUTPUT_SHIFTS:
        start, end, factor = OUTPUT_SHIFTS[name]
        shifted = (arrivals >= start * duration) & (arrivals < end * duration)
        outputs = np.where(shifted, np.round(outputs * factor), outputs).astype(outputs.dtype)
    return Trace(
        name=name,
        arrivals=arrivals,
        prompt_tokens=sizes.prompt_tokens[pick],
        output_tokens=outputs,
    )
