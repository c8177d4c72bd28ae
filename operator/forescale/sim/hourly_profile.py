"""A rate curve from real hourly request counts: whole days of a production service.

Why. The season (``policy.season``) was measured on ``workday``, a shape written for it
(sharp 09:00 and 17:00 edges, identical days). Real services publish their daily and
weekly cycle as hourly counts (``shared/traces/aggregates``: the Azure LLM inference
trace 2024's conversation service, six days from a Sunday), not as requests, so this
module turns such a file into a scenario shape the simulator draws Poisson arrivals from:
the scenario ``hourly:<path>[#<column>][@<first day>]`` (``scenarios.shape``; ``PREFIX``).
BurstGPT's file has three columns, and its 61 days hold one multi-hour flood of API
requests: a column and a first day choose a week of it.

How. Each hour's mean rate sits at the middle of its hour, and the curve is linear between
those points (flat over the first and last half hour), then scaled within each hour so
the hour holds exactly its count. Holding each hour's rate as a step would put a jump of
the whole difference at every hour's edge, a spike the service never showed and a burst
the envelope would learn; the line alone moves counts between hours where the rate turns
(on the Azure file by at most 3.9 %, on BurstGPT's by up to 43 % and more: the first
hour of its API flood, 1,507 requests in all, would hold 3,848). The scaled line steps at
an hour's edge where the neighbours' scales differ: barely where the rate runs smoothly,
by the flood itself at a flood's first edge. What happens inside an hour is not in the
data: the arrivals are Poisson around the curve, so minute-scale bursts are not part of
the test.

The file is one row per hour in order (``day``, ``hour`` columns, 0-23, no gap) and a
count column; the curve peaks at 1 (the busiest hour).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forescale.sim.traces import FloatArray

HOUR_SECONDS = 3600.0
PREFIX = "hourly:"
"""A scenario spec ``hourly:<path>[#<column>][@<first day>]`` names the hourly counts in
column ``<column>`` (default ``conversation``) of file ``<path>``, from its day ``<first
day>`` (default its first; counted from the file's first day)."""
DEFAULT_COLUMN = "conversation"


@dataclass(frozen=True)
class Source:
    """Where a profile's counts come from: a file, a column of it, a first day."""

    path: Path
    column: str = DEFAULT_COLUMN
    first_day: int = 0

    @property
    def name(self) -> str:
        """What tables call it: the file's stem, and the column and first day if chosen."""
        column = "" if self.column == DEFAULT_COLUMN else f"-{self.column}"
        day = f"-from-day-{self.first_day}" if self.first_day else ""
        return f"{self.path.stem}{column}{day}"


def is_hourly(spec: str) -> bool:
    return spec.startswith(PREFIX)


def source_of(spec: str) -> Source:
    if not is_hourly(spec):
        raise ValueError(f"{spec!r} is not an hourly profile (expected {PREFIX}<path>)")
    rest = spec[len(PREFIX) :]
    rest, _, day = rest.rpartition("@") if "@" in rest else (rest, "", "0")
    path, _, column = rest.rpartition("#") if "#" in rest else (rest, "", "")
    if not day.isdigit():
        raise ValueError(f"{spec!r}: the first day after '@' must be a whole number, not {day!r}")
    return Source(Path(path), column or DEFAULT_COLUMN, int(day))


def hours(spec: str) -> tuple[int, ...]:
    """The profile's hourly counts from its first day on."""
    source = source_of(spec)
    whole = counts(source.path, source.column)
    start = source.first_day * 24
    if start >= len(whole):
        whole_days = len(whole) // 24
        raise ValueError(f"{spec}: day {source.first_day} is past the file's {whole_days} days")
    chosen = whole[start:]
    if max(chosen) == 0:
        raise ValueError(f"{spec}: every hour from day {source.first_day} on is empty")
    return chosen


@functools.lru_cache(maxsize=4)
def counts(path: Path, column: str = DEFAULT_COLUMN) -> tuple[int, ...]:
    """The hourly counts of ``path``, checked to be consecutive hours of whole days."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no rows")
    if column not in rows[0]:
        raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(rows[0])})")
    out = []
    for index, row in enumerate(rows):
        expected = (index // 24, index % 24)
        found = (int(row["day"]) - int(rows[0]["day"]), int(row["hour"]))
        if found != expected:
            raise ValueError(
                f"{path}: row {index + 2} is day {row['day']} hour {row['hour']}; "
                f"expected consecutive hours from day {rows[0]['day']} hour 0"
            )
        value = int(row[column])
        if value < 0:
            raise ValueError(f"{path}: row {index + 2} has a negative count {value}")
        out.append(value)
    return tuple(out)


def days(spec: str) -> int:
    """Whole days in the profile of ``spec`` (from its first day)."""
    return len(hours(spec)) // 24


def curve(spec: str, t: FloatArray) -> FloatArray:
    """The profile's rate at times ``t`` (seconds from its first hour), peak 1."""
    rates = np.asarray(hours(spec), dtype=np.float64)
    span = len(rates) * HOUR_SECONDS
    if len(t) and (float(np.min(t)) < 0 or float(np.max(t)) > span):
        asked = float(np.max(t))
        raise ValueError(f"{spec}: the profile covers {span:.0f} s; asked for up to {asked:.0f} s")
    middles = (np.arange(len(rates)) + 0.5) * HOUR_SECONDS
    line = np.interp(t, middles, rates)
    scale, peak = _hour_scales(rates)
    hour = np.minimum((np.asarray(t) // HOUR_SECONDS).astype(np.int64), len(rates) - 1)
    result: FloatArray = line * scale[hour] / peak
    return result


def _hour_scales(rates: np.ndarray) -> tuple[np.ndarray, float]:
    """Per hour, what the line is multiplied by so the hour holds its count exactly, and
    the scaled line's highest value (piecewise linear, so at a middle or an edge).

    The line's value at an hour's edge is the mean of the two hours' rates (the first and
    last edges: their hour's). Over an hour it runs from its left edge to the hour's rate at
    the middle and on to the right edge, so it holds ``(left + 2 x rate + right) / 4``: too
    much beside a steep rise (BurstGPT's first flood hour, 1,507 requests, would hold
    3,848), too little at a peak. The scale is 1 where the neighbours balance, 0 for an
    empty hour.
    """
    edges = np.concatenate([rates[:1], (rates[:-1] + rates[1:]) / 2, rates[-1:]])
    left, right = edges[:-1], edges[1:]
    held = (left + 2 * rates + right) / 4
    scale: np.ndarray = np.divide(rates, held, out=np.zeros_like(rates), where=held > 0)
    peak = float(np.max(np.maximum(rates, np.maximum(left, right)) * scale))
    return scale, peak
