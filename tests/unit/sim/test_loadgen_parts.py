"""Loadgen's pure parts: target choice, loopback guard, summary."""

from __future__ import annotations

import pytest

from forescale.sim.loadgen import RequestRecord, TargetPicker, summarize

A, B = "http://127.0.0.1:1", "http://127.0.0.1:2"


def test_round_robin_alternates_and_least_outstanding_prefers_idle() -> None:
    robin = TargetPicker([A, B], "round-robin")
    assert [robin.pick() for _ in range(3)] == [A, B, A]
    least = TargetPicker([A, B], "least-outstanding")
    least.outstanding[A] = 3
    assert least.pick() == B


@pytest.mark.parametrize("url", ["http://10.1.2.3:8000", "http://example.com", "ftp://127.0.0.1"])
def test_non_loopback_targets_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        TargetPicker([url], "round-robin")


def test_summary_counts_errors_and_ttft_quantiles_of_successes() -> None:
    records = [
        RequestRecord(i, A, i, 10, 5, sent=float(i), first_token=i + 0.1 * (i + 1), end=i + 2.0,
                      status="ok")
        for i in range(10)
    ]  # fmt: skip
    records.append(RequestRecord(10, A, 10, 10, sent=10.0, end=10.1, status="http_500"))
    summary = summarize(records)
    assert (summary["requests"], summary["ok"], summary["errors"]) == (11, 10, 1)
    assert summary["achieved_rate"] == pytest.approx(1.0)
    assert summary["ttft_p50"] == pytest.approx(0.5)
    assert summary["ttft_p99"] == pytest.approx(1.0)
