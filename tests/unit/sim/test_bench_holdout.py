"""The held-out windows' table, from hand-made results rows through the real frontier code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from forescale.sim.bench_frontier import frontier
from forescale.sim.bench_holdout import main, markdown, rows, window_label
from tests.unit.sim.frontier_rows import row as frontier_row


def row(policy: str, value: float, seed: int, slo: float, gpu: float) -> dict[str, Any]:
    return frontier_row(policy, value, seed, slo, gpu, trace="conv")


# forescale: 0.99 (default) 100 % / 3.0, 0.9 99.5 % / 2.8; keda @ 0.9 beats both; hpa
# reaches the target only at a higher cost; the oracle costs 2.5.
ROWS = [
    row("oracle", 1.0, 0, 1.0, 2.5),
    row("forescale", 0.99, 0, 1.0, 3.0),
    row("forescale", 0.9, 0, 0.995, 2.8),
    row("keda", 0.9, 0, 1.0, 2.7),
    row("hpa", 0.7, 0, 0.999, 3.5),
]


def test_windows_are_named_after_their_run_directories() -> None:
    assert window_label("out/holdout/15m-45m") == "15m:45m"
    assert window_label("out/holdout/30m-") == "30m:"
    assert window_label("whole") == "whole"


def test_a_row_names_the_default_the_cheapest_points_and_who_beats_every_point() -> None:
    table = rows("0:20m", frontier(ROWS, {}), 0.99)
    assert [r.trace for r in table] == ["conv"]
    text = markdown(table)
    line = text.splitlines()[2]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[0:3] == ["0:20m", "conv", "100.00 % / 3.00"]
    assert cells[3] == "1.20x"
    assert cells[4] == "@ 0.9: 99.50 % / 2.80"
    assert cells[5] == "keda @ 0.9: 100.00 % / 2.70"
    assert cells[6] == "keda @ 0.9: 100.00 % / 2.70"  # hpa's 3.5 beats no forescale point


def test_no_peer_at_the_target_and_none_beating_are_said_so() -> None:
    quiet = [r for r in ROWS if r["policy"] in {"oracle", "forescale"}]
    quiet.append(row("hpa", 0.7, 0, 0.9, 2.0))
    line = markdown(rows("w", frontier(quiet, {}), 0.99)).splitlines()[2]
    assert line.endswith("| none reaches it | none |")


def test_main_writes_the_table_and_fails_with_the_reason_on_a_missing_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "0-20m"
    run.mkdir()
    (run / "frontier.json").write_text(json.dumps(frontier(ROWS, {})))
    out = tmp_path / "holdout.md"
    assert main([str(run), "--out", str(out)]) == 0
    assert "| 0:20m | conv | 100.00 % / 3.00 |" in out.read_text()
    assert main([str(run), str(tmp_path / "40m-")]) == 1
    assert "40m-/frontier.json: no frontier.json" in capsys.readouterr().err


def test_an_oracle_below_the_target_is_flagged_next_to_its_ratio() -> None:
    short = [r for r in ROWS if r["policy"] != "oracle"] + [row("oracle", 1.0, 0, 0.97, 3.5)]
    line = markdown(rows("w", frontier(short, {}), 0.99)).splitlines()[2]
    assert "| 0.86x (oracle 97.00 %) |" in line
