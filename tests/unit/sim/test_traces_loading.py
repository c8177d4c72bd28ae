"""Trace files: malformed rows, skipping them, tiny traces, windows and rate scaling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from forescale.sim.traces import (
    Trace,
    TraceColumns,
    TraceFormatError,
    load_trace,
    peak_rate,
    scale_rate,
    window,
)

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_azure_rows_are_read_relative_to_the_first_request(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.csv",
        HEADER
        + "2023-11-16 18:17:04.5000000,100,0\n"
        + "2023-11-16 18:17:04.0000000,200,20\n"
        + "2023-11-16 18:18:04.0000000,300,30\n",
    )
    trace = load_trace(path)
    assert trace.arrivals.tolist() == [0.0, 0.5, 60.0]
    assert trace.prompt_tokens.tolist() == [200, 100, 300]
    assert trace.output_tokens.tolist() == [20, 1, 30]  # 0 output tokens read as 1
    assert trace.duration == 60.0


@pytest.mark.parametrize(
    ("row", "detail"),
    [
        ("2023-11-16 18:17:05,abc,10", "abc"),
        ("2023-11-16 18:17:05,-5,10", "negative"),
        ("not-a-time,5,10", "not-a-time"),
        ("2023-11-16 18:17:05,5", "GeneratedTokens"),
    ],
)
def test_a_malformed_row_names_file_and_line(tmp_path: Path, row: str, detail: str) -> None:
    path = write(tmp_path, "bad.csv", HEADER + "1.0,5,5\n2.0,5,5\n" + row + "\n4.0,5,5\n")
    with pytest.raises(TraceFormatError) as caught:
        load_trace(path)
    message = str(caught.value)
    assert f"{path}:4:" in message  # header is line 1
    assert detail in message


def test_skip_bad_rows_counts_them(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", HEADER + "1.0,5,5\nx,5,5\n2.0,5,5\n3.0,-1,5\n4.0,5,5\n")
    trace = load_trace(path, skip_bad_rows=True)
    assert len(trace) == 3
    assert trace.skipped_rows == 2


def test_jsonl_with_custom_columns_and_a_bad_line(tmp_path: Path) -> None:
    lines = [
        json.dumps({"t": 10.0, "in": 7, "out": 3}),
        "{broken",
        json.dumps({"t": 12.5, "in": 8, "out": 4}),
        "",
        json.dumps([1, 2, 3]),
    ]
    path = write(tmp_path, "t.jsonl", "\n".join(lines) + "\n")
    columns = TraceColumns(timestamp="t", prompt_tokens="in", output_tokens="out")
    with pytest.raises(TraceFormatError, match=r"t\.jsonl:2:"):
        load_trace(path, columns)
    trace = load_trace(path, columns, skip_bad_rows=True)
    assert trace.arrivals.tolist() == [0.0, 2.5]
    assert trace.skipped_rows == 2


def test_empty_and_one_request_traces(tmp_path: Path) -> None:
    empty = load_trace(write(tmp_path, "empty.csv", HEADER))
    assert len(empty) == 0
    assert empty.duration == 0.0
    assert peak_rate(empty) == 0.0
    one = load_trace(write(tmp_path, "one.csv", HEADER + "2023-11-16 18:17:04.0,100,10\n"))
    assert len(one) == 1
    assert one.duration == 0.0
    assert peak_rate(one) == pytest.approx(1 / 60)
    assert len(scale_rate(one, 3.0, seed=0)) == 3


def test_window_cuts_and_rebases(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, "t.csv", HEADER + "0,1,1\n10,1,1\n20,1,1\n30,1,1\n"))
    cut = window(trace, 10.0, 30.0)
    assert cut.arrivals.tolist() == [0.0, 10.0]
    with pytest.raises(ValueError, match="after start"):
        window(trace, 30.0, 10.0)


def test_rate_scaling_multiplies_the_rate_and_keeps_the_mix() -> None:
    rng = np.random.default_rng(1)
    arrivals = np.sort(rng.uniform(0, 600, 3000))
    sizes = rng.integers(1, 1000, 3000)
    trace = Trace("t", arrivals, sizes, sizes // 2 + 1)
    scaled = scale_rate(trace, 2.5, seed=3)
    assert len(scaled) == pytest.approx(2.5 * len(trace), rel=0.03)
    assert np.all(np.diff(scaled.arrivals) >= 0)
    assert scaled.prompt_tokens.mean() == pytest.approx(trace.prompt_tokens.mean(), rel=0.05)
    again = scale_rate(trace, 2.5, seed=3)
    assert np.array_equal(again.arrivals, scaled.arrivals)
    with pytest.raises(ValueError, match="positive"):
        scale_rate(trace, float("nan"), seed=0)
