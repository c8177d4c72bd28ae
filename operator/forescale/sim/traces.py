"""Request traces: the format, loaders, rate scaling and time windows.

A trace is one row per request: an arrival time and the request's prompt and output token
counts. Arrivals are kept as seconds since the first request, in numpy arrays, because the
benchmark replays hundreds of thousands of requests per run and a list of objects would
dominate its memory and time.

File formats (column names configurable, defaults are the Azure LLM inference trace's):

* CSV with a header row: ``TIMESTAMP,ContextTokens,GeneratedTokens``.
* JSONL: one object per line with the same keys.

A timestamp is either a number (seconds, any origin) or a date-time like
``2023-11-16 18:17:04.0000000`` (ISO 8601, ``T`` or space, up to 9 fractional digits, UTC
assumed). A malformed row raises :class:`TraceFormatError` naming the file and line, unless
``skip_bad_rows`` is set, in which case it is skipped and counted. An output of 0 tokens is
read as 1 (the engine emits at least the first token). Rows need not be sorted.

Rate scaling multiplies the request rate while keeping the trace's shape: each request is
replayed ``floor(k)`` times plus once more with probability ``frac(k)``; the first copy keeps
its time, further copies are shifted by a seeded uniform jitter (default up to 30 s either
way). The minute-scale shape an autoscaler acts on and the request mix are kept; bursts
shorter than the jitter are smoothed, because a k-times larger population of independent
users does not synchronise its requests. (With sub-second jitter every original request
becomes a clump of k identical requests: on the bursty code trace even fixed provisioning
at the peak minute's need then misses the TTFT SLO for 17 % of requests, which measures
the clumping, not the autoscaler.)
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Half-width of the arrival jitter given to replayed copies by rate scaling (seconds).
COPY_JITTER_SECONDS = 30.0


class TraceFormatError(ValueError):
    """A trace row or file that cannot be read."""


@dataclass(frozen=True)
class TraceColumns:
    timestamp: str = "TIMESTAMP"
    prompt_tokens: str = "ContextTokens"
    output_tokens: str = "GeneratedTokens"


@dataclass(frozen=True, eq=False)
class Trace:
    """Requests sorted by arrival; arrivals in seconds from the trace's start."""

    name: str
    arrivals: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray
    skipped_rows: int = 0

    def __post_init__(self) -> None:
        n = len(self.arrivals)
        if len(self.prompt_tokens) != n or len(self.output_tokens) != n:
            raise ValueError("trace arrays differ in length")

    def __len__(self) -> int:
        return len(self.arrivals)

    @property
    def duration(self) -> float:
        """Seconds from the trace's start to its last arrival (0 for 0 or 1 request)."""
        return float(self.arrivals[-1]) if len(self.arrivals) else 0.0


def from_rows(name: str, rows: list[tuple[float, int, int]], skipped_rows: int = 0) -> Trace:
    """A trace from (arrival seconds, prompt, output) rows in any order and origin."""
    data = np.array(rows, dtype=np.float64).reshape(-1, 3)
    order = np.argsort(data[:, 0], kind="stable")
    data = data[order]
    start = data[0, 0] if len(data) else 0.0
    return Trace(
        name=name,
        arrivals=data[:, 0] - start,
        prompt_tokens=data[:, 1].astype(np.int64),
        output_tokens=np.maximum(data[:, 2], 1).astype(np.int64),
        skipped_rows=skipped_rows,
    )


def parse_timestamp(text: str) -> float:
    """Seconds (float) from a number or an ISO-like date-time with up to 9 decimals."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    base, _, fraction = text.partition(".")
    if fraction and not fraction.isdigit():
        raise ValueError(f"bad fractional seconds in {text!r}")
    moment = datetime.fromisoformat(base.replace(" ", "T"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() + (float("0." + fraction) if fraction else 0.0)


def _field(values: dict[str, object], column: str) -> str:
    # A short CSV row gives None for its missing cells: report the column, not "None".
    value = values[column]
    if value is None:
        raise KeyError(column)
    return str(value)


def _row(values: dict[str, object], columns: TraceColumns) -> tuple[float, int, int]:
    arrival = parse_timestamp(_field(values, columns.timestamp))
    prompt = int(_field(values, columns.prompt_tokens).strip())
    output = int(_field(values, columns.output_tokens).strip())
    if not math.isfinite(arrival) or prompt < 0 or output < 0:
        raise ValueError("negative token count or non-finite timestamp")
    return arrival, prompt, output


def _records(path: Path) -> Iterator[tuple[int, dict[str, object] | None]]:
    """(line number, record or None when the line is unparseable) for CSV or JSONL."""
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix in (".jsonl", ".ndjson"):
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    yield number, None
                    continue
                yield number, record if isinstance(record, dict) else None
            return
        reader = csv.DictReader(handle)
        for record in reader:
            yield reader.line_num, dict(record)


def load_trace(
    path: str | Path,
    columns: TraceColumns | None = None,
    skip_bad_rows: bool = False,
    name: str | None = None,
) -> Trace:
    """Read a CSV or JSONL trace; see the module docstring for the format."""
    path = Path(path)
    columns = columns or TraceColumns()
    rows: list[tuple[float, int, int]] = []
    skipped = 0
    for number, record in _records(path):
        try:
            if record is None:
                raise ValueError("not a JSON object")
            rows.append(_row(record, columns))
        except (KeyError, ValueError, TypeError) as error:
            if skip_bad_rows:
                skipped += 1
                continue
            detail = f"missing column {error}" if isinstance(error, KeyError) else str(error)
            raise TraceFormatError(f"{path}:{number}: malformed row ({detail})") from None
    return from_rows(name or path.stem, rows, skipped)


def window(trace: Trace, start: float, end: float | None = None) -> Trace:
    """Requests arriving in [start, end) seconds from the trace start, re-based to 0."""
    stop = math.inf if end is None else end
    if stop <= start:
        raise ValueError(f"window end {end} must be after start {start}")
    keep = (trace.arrivals >= start) & (trace.arrivals < stop)
    return Trace(
        name=trace.name,
        arrivals=trace.arrivals[keep] - start,
        prompt_tokens=trace.prompt_tokens[keep],
        output_tokens=trace.output_tokens[keep],
        skipped_rows=trace.skipped_rows,
    )


def scale_rate(
    trace: Trace, factor: float, seed: int, jitter_seconds: float = COPY_JITTER_SECONDS
) -> Trace:
    """The trace with ``factor`` times its request rate (see the module docstring)."""
    if not factor > 0 or not math.isfinite(factor):
        raise ValueError(f"rate factor must be a positive number, got {factor}")
    rng = np.random.default_rng(seed)
    whole = math.floor(factor)
    copies = np.full(len(trace), whole, dtype=np.int64)
    copies += rng.random(len(trace)) < factor - whole
    index = np.repeat(np.arange(len(trace)), copies)
    # The first copy of each request keeps its time; further copies are jittered.
    first = np.ones(len(index), dtype=bool)
    first[1:] = index[1:] != index[:-1]
    jitter = rng.uniform(-jitter_seconds, jitter_seconds, len(index))
    arrivals = np.maximum(trace.arrivals[index] + np.where(first, 0.0, jitter), 0.0)
    order = np.argsort(arrivals, kind="stable")
    return Trace(
        name=trace.name,
        arrivals=arrivals[order],
        prompt_tokens=trace.prompt_tokens[index][order],
        output_tokens=trace.output_tokens[index][order],
        skipped_rows=trace.skipped_rows,
    )


def peak_rate(trace: Trace, window_seconds: float = 60.0) -> float:
    """Highest request rate over consecutive windows from the trace start (requests/s)."""
    if len(trace) == 0:
        return 0.0
    bins = np.floor(trace.arrivals / window_seconds).astype(np.int64)
    return float(np.bincount(bins).max()) / window_seconds


def rate_series(trace: Trace, bin_seconds: float, until: float) -> FloatArray:
    """Arrivals per second in consecutive bins covering [0, until)."""
    count = max(1, math.ceil(until / bin_seconds))
    bins = np.floor(trace.arrivals / bin_seconds).astype(np.int64)
    bins = bins[bins < count]
    return np.bincount(bins, minlength=count).astype(np.float64) / bin_seconds
