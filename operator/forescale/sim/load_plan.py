"""What ``forescale loadgen`` will send and when: a list of planned requests.

Pure: a plan is computed up front from a rate curve (seeded Poisson arrivals) or from trace
rows, so the same flags always send the same schedule and the open-loop sender only has to
keep time. Rate curves, all in requests per second and seconds from the start:

* ``constant:rate=R`` (what ``--rate R`` means)
* ``step:from=A,to=B,at=T``                     A until T, then B
* ``ramp:from=A,to=B,start=T0,end=T1``          A until T0, linear to B at T1, then B
* ``spike:base=A,peak=B,at=T,duration=D``       A, except B during [T, T+D)

Arrivals are a non-homogeneous Poisson process drawn by thinning, the textbook way to get
exact arrival statistics from any bounded rate function.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class PlannedRequest:
    at: float
    """Seconds after the start at which the request is due."""
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class RateCurve:
    kind: str
    params: dict[str, float]

    def rate(self, t: float) -> float:
        p = self.params
        if self.kind == "constant":
            return p["rate"]
        if self.kind == "step":
            return p["from"] if t < p["at"] else p["to"]
        if self.kind == "ramp":
            if t <= p["start"]:
                return p["from"]
            if t >= p["end"]:
                return p["to"]
            share = (t - p["start"]) / (p["end"] - p["start"])
            return p["from"] + share * (p["to"] - p["from"])
        return p["peak"] if p["at"] <= t < p["at"] + p["duration"] else p["base"]

    @property
    def max_rate(self) -> float:
        return max(v for k, v in self.params.items() if k in _RATE_PARAMS)


_RATE_PARAMS = {"rate", "from", "to", "base", "peak"}
_CURVES: dict[str, tuple[str, ...]] = {
    "constant": ("rate",),
    "step": ("from", "to", "at"),
    "ramp": ("from", "to", "start", "end"),
    "spike": ("base", "peak", "at", "duration"),
}


def parse_curve(text: str) -> RateCurve:
    """``kind:key=value,...`` into a curve; errors name the expected keys."""
    kind, _, rest = text.partition(":")
    if kind not in _CURVES:
        raise ValueError(f"unknown curve {kind!r}; known: {', '.join(_CURVES)}")
    params: dict[str, float] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        try:
            params[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"curve {kind}: {item!r} is not key=number") from None
        if not sep:
            raise ValueError(f"curve {kind}: {item!r} is not key=number")
    expected = set(_CURVES[kind])
    if set(params) != expected:
        raise ValueError(f"curve {kind} takes exactly {', '.join(_CURVES[kind])}; got {text!r}")
    if any(params[k] < 0 for k in params):
        raise ValueError(f"curve {kind}: values must not be negative")
    if kind == "ramp" and params["end"] <= params["start"]:
        raise ValueError("curve ramp: end must be after start")
    return RateCurve(kind, params)


def plan_from_curve(
    curve: RateCurve,
    *,
    duration: float,
    max_requests: int,
    prompt_tokens: int,
    output_tokens: int,
    seed: int = 0,
) -> list[PlannedRequest]:
    """Poisson arrivals following ``curve`` over ``duration`` seconds, at most ``max_requests``."""
    bound = curve.max_rate
    if bound <= 0:
        return []
    rng = random.Random(seed)
    plan: list[PlannedRequest] = []
    t = 0.0
    while len(plan) < max_requests:
        t += rng.expovariate(bound)
        if t >= duration:
            break
        if rng.random() * bound < curve.rate(t):
            plan.append(PlannedRequest(t, prompt_tokens, output_tokens))
    return plan


def _parse_time(text: str) -> float:
    """Azure trace timestamps have 7 fractional digits; Python parses at most 6."""
    head, dot, fraction = text.strip().partition(".")
    stamp = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return stamp.timestamp() + (float("0." + fraction) if dot else 0.0)


def plan_from_trace(
    lines: Iterable[str],
    *,
    time_column: str = "TIMESTAMP",
    prompt_column: str = "ContextTokens",
    output_column: str = "GeneratedTokens",
    time_scale: float = 1.0,
    duration: float,
    max_requests: int,
) -> list[PlannedRequest]:
    """Trace rows (CSV with a header) into a plan; times relative to the first row.

    ``time_scale`` compresses time: 10 replays ten times faster. The time column may be a
    timestamp (``YYYY-MM-DD HH:MM:SS.fffffff``) or seconds.
    """
    if time_scale <= 0:
        raise ValueError("time_scale must be positive")
    reader = csv.DictReader(lines)
    missing = {time_column, prompt_column, output_column} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"trace lacks column(s) {', '.join(sorted(missing))}")
    plan: list[PlannedRequest] = []
    start: float | None = None
    for row in reader:
        raw = row[time_column]
        try:
            when = float(raw)
        except ValueError:
            when = _parse_time(raw)
        start = when if start is None else start
        at = (when - start) / time_scale
        if at >= duration or len(plan) >= max_requests:
            break
        plan.append(
            PlannedRequest(at, max(1, int(row[prompt_column])), max(1, int(row[output_column])))
        )
    return plan
