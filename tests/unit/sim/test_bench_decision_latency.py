"""The decision-latency micro-benchmark writes its figures (it asserts no time threshold)."""

from __future__ import annotations

import json
from pathlib import Path

from forescale.sim import decision_latency


def test_writes_mean_median_p99_per_configuration(tmp_path: Path) -> None:
    out = tmp_path / "latency.json"
    assert decision_latency.main(["--out", str(out), "--decisions", "50"]) == 0
    record = json.loads(out.read_text())
    names = [r["configuration"] for r in record["results"]]
    assert names == ["predictive", "predictive-hourly-season", "reactive"]
    for row in record["results"]:
        assert row["decisions"] == 50
        assert 0 < row["median_us"] <= row["p99_us"] <= row["max_us"]
        assert row["mean_us"] <= row["max_us"]


def test_the_timed_history_really_scales() -> None:
    """The timed decisions must be real ones: the warmed-up policy follows the load."""
    history = decision_latency.observations(decision_latency.WARMUP_DECISIONS)
    rates = [o.arrival_rate or 0.0 for o in history]
    assert max(rates) > 1.3 * min(rates) > 0
