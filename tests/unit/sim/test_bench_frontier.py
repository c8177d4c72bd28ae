"""The frontier computation and the oracle check, on hand-made rows (pure functions)."""

from __future__ import annotations

import pytest

from forescale.sim.bench_frontier import frontier, label, oracle_violations, summary
from tests.unit.sim.frontier_rows import row

ROWS = [
    row("oracle", 1.0, 0, 0.995, 5.0),
    row("oracle", 1.0, 1, 0.993, 7.0),
    row("forescale", 0.8, 0, 1.0, 9.0),
    row("forescale", 0.8, 1, 0.998, 11.0),
    row("forescale", 1.0, 0, 0.97, 8.0),
    row("forescale", 1.0, 1, 0.95, 8.0),
    row("hpa", 0.5, 0, 0.90, 12.0),
    row("hpa", 0.5, 1, 0.92, 12.0),
    row("hpa", 0.5, 0, 0.80, 6.0, variant="defaults"),
    row("hpa", 0.5, 1, 0.80, 6.0, variant="defaults"),
]


def test_points_are_means_over_seeds_with_their_spread() -> None:
    result = frontier(ROWS, {"t": 4.0})["t"]
    assert result["oracle"] == {"slo_attainment": pytest.approx(0.994), "gpu_hours": 6.0}
    assert result["fluid_bound_gpu_hours"] == 4.0
    curve = result["policies"]["forescale"]["points"]
    assert [p["knob_value"] for p in curve] == [0.8, 1.0]
    assert curve[0]["slo_attainment"] == pytest.approx(0.999)
    assert curve[0]["gpu_hours"] == pytest.approx(10.0)
    assert curve[0]["spread"]["gpu_hours"] == pytest.approx(1.41421356)  # sd of 9 and 11
    assert curve[1]["spread"]["gpu_hours"] == 0.0
    assert set(result["policies"]) == {"forescale", "hpa", "hpa:defaults"}


def test_cheapest_point_at_the_target_or_null_and_the_best_attainment() -> None:
    result = frontier(ROWS, {}, target=0.99)["t"]["policies"]
    assert result["forescale"]["cheapest_at_slo"] == {
        "knob_value": 0.8,
        "slo_attainment": pytest.approx(0.999),
        "gpu_hours": pytest.approx(10.0),
    }
    assert result["hpa"]["cheapest_at_slo"] is None
    assert result["hpa"]["best_attainment"]["slo_attainment"] == pytest.approx(0.91)


def test_a_peer_point_beats_forescale_only_if_it_beats_every_forescale_point() -> None:
    # hpa:defaults (80 %, 6 GPU-h) is cheaper than every forescale point but worse on SLO.
    assert frontier(ROWS, {})["t"]["beating_every_forescale_point"] == []
    better = [*ROWS, row("keda", 0.7, 0, 1.0, 7.5), row("keda", 0.7, 1, 1.0, 7.5)]
    beating = frontier(better, {})["t"]["beating_every_forescale_point"]
    assert beating == [
        {"policy": "keda", "knob_value": 0.7, "slo_attainment": 1.0, "gpu_hours": 7.5}
    ]


def test_labels_name_the_variant() -> None:
    assert label(row("hpa", 1, 0, 1, 1)) == "hpa"
    assert label(row("hpa", 1, 0, 1, 1, variant="defaults")) == "hpa:defaults"


def test_oracle_violations_compare_runs_of_the_same_trace_and_seed() -> None:
    assert oracle_violations(ROWS) == []  # hpa:defaults is cheaper but below the oracle's SLO
    cheaper = row("fixed", 1.0, 1, 0.995, 6.5)  # seed 1 oracle: 99.3 % at 7.0
    assert oracle_violations([*ROWS, cheaper]) == [cheaper]
    other_seed = row("fixed", 1.0, 0, 0.995, 6.5)  # seed 0 oracle: 99.5 % at 5.0
    assert oracle_violations([*ROWS, other_seed]) == []


def test_frontier_flags_points_that_beat_the_oracle_and_summarises_each_trace() -> None:
    rows = [
        *ROWS,
        row("keda", 0.9, 0, 1.0, 5.5),  # mean 100 % at 5.5 GPU-h: the oracle (99.4 %) pays 6.0
        row("keda", 0.9, 1, 1.0, 5.5),
    ]
    entry = frontier(rows, {"t": 4.0})["t"]
    assert entry["beating_the_oracle"] == [
        {"policy": "keda", "knob_value": 0.9, "slo_attainment": 1.0, "gpu_hours": 5.5}
    ]
    s = summary(entry, default_knob=1.0)
    assert s["forescale_default"] == {"knob_value": 1.0, "slo_attainment": 0.96, "gpu_hours": 8.0}
    assert s["forescale_cheapest_at_slo"]["knob_value"] == 0.8
    assert s["cheapest_peer_at_slo"] == {
        "policy": "keda", "knob_value": 0.9, "slo_attainment": 1.0, "gpu_hours": 5.5
    }  # fmt: skip
    assert s["forescale_default_over_oracle"] == pytest.approx(8.0 / 6.0)
    assert s["fluid_bound_gpu_hours"] == 4.0
    assert s["beating_the_oracle"] == entry["beating_the_oracle"]
    assert s["second_crowd_attainment"] is None
    # Without the keda rows nothing beats the oracle (5.0 and 7.0 GPU-h at 99.5 / 99.3 %).
    assert frontier(ROWS, {})["t"]["beating_the_oracle"] == []


def test_the_second_crowd_attainment_is_averaged_over_seeds() -> None:
    rows = [
        {**row("forescale", 0.99, 0, 0.9, 1.0), "second_crowd_attainment": 0.8},
        {**row("forescale", 0.99, 1, 0.9, 1.0), "second_crowd_attainment": 0.6},
    ]
    entry = frontier(rows, {})["t"]
    assert summary(entry, 0.99)["second_crowd_attainment"] == pytest.approx(0.7)
