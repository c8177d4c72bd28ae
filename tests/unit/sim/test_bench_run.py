"""A small end-to-end ``forescale bench`` run: the files it writes and what they say."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from forescale.sim.bench import RESULT_FIELDS, BenchConfig, prepare, run_bench, second_crowd, size
from forescale.sim.bench_cli import bench
from forescale.sim.replica_profiles import get_profile

SMALL = [
    "--scenario-duration",
    "3m",
    "--peak-replicas",
    "3",
    "--max-replicas",
    "6",
    "--cold-start",
    "60s",
    "--slo-ttft",
    "2s",
]


def run(tmp_path: Path, name: str, *args: str) -> tuple[int, str, Path]:
    out = tmp_path / name
    result = CliRunner().invoke(bench, [*args, *SMALL, "--out", str(out)])
    return result.exit_code, result.output, out


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    tmp = tmp_path_factory.mktemp("bench")
    code, output, out = run(tmp, "a", "--trace", "step", "--policies", "forescale,hpa,fixed")
    assert code == 0, output
    rows = json.loads((out / "results.json").read_text())
    return out, rows


def test_results_have_the_issue_columns_one_row_per_policy(
    small_run: tuple[Path, list[dict[str, object]]],
) -> None:
    out, rows = small_run
    # The oracle always runs: it is the GPU-hours yardstick of every other row.
    assert [r["policy"] for r in rows] == ["oracle", "forescale", "hpa", "fixed"]
    assert all(r["variant"] == "" for r in rows)  # without --sweep: the main variants only
    expected = [
        *("trace", "policy", "variant", "knob", "knob_value", "seed", "requests"),
        *("slo_attainment", "gpu_hours", "ttft_p50", "ttft_p95", "ttft_p99", "scale_events"),
        *("dropped", "gpu_hours_over_oracle", "peak_waiting", "second_crowd_attainment"),
    ]
    assert list(RESULT_FIELDS) == expected
    for row in rows:
        assert list(row) == expected
        assert row["trace"] == "step"
        assert row["seed"] == 0
    report = (out / "report.md").read_text()
    assert report.count("| forescale |") == 1
    assert "spec.scaling.maxReplicas`: `6`" in report  # overrides of the CRD defaults printed
    assert (out / "step.png").stat().st_size > 1000
    assert "step" in json.loads((out / "frontier.json").read_text())


def test_values_are_sane(small_run: tuple[Path, list[dict[str, object]]]) -> None:
    _, rows = small_run
    requests = {r["requests"] for r in rows}
    assert len(requests) == 1  # every policy sees the same trace
    (count,) = requests
    assert isinstance(count, int) and count > 1000
    for row in rows:
        attainment, ratio = row["slo_attainment"], row["gpu_hours_over_oracle"]
        assert isinstance(attainment, float) and 0.0 <= attainment <= 1.0
        p50, p95, p99 = row["ttft_p50"], row["ttft_p95"], row["ttft_p99"]
        assert isinstance(p50, float) and isinstance(p95, float) and isinstance(p99, float)
        assert 0.0 < p50 <= p95 <= p99
        gpu_hours = row["gpu_hours"]
        assert isinstance(gpu_hours, float) and gpu_hours > 0
        assert isinstance(ratio, float) and math.isfinite(ratio) and ratio > 0.5
        assert isinstance(row["dropped"], int) and 0 <= row["dropped"] <= count
        assert isinstance(row["scale_events"], int) and row["scale_events"] >= 0
    fixed = next(r for r in rows if r["policy"] == "fixed")
    assert fixed["scale_events"] == 0
    # Fixed runs a whole number of replicas (at least the peak need of 3) for 3 minutes.
    replicas = float(str(fixed["gpu_hours"])) * 60 / 3
    assert round(replicas) >= 3
    assert replicas == pytest.approx(round(replicas), abs=0.05)
    assert fixed["slo_attainment"] == pytest.approx(1.0, abs=0.01)


def test_same_seed_same_results(
    tmp_path: Path, small_run: tuple[Path, list[dict[str, object]]]
) -> None:
    out, _ = small_run
    code, output, again = run(tmp_path, "b", "--trace", "step", "--policies", "forescale,hpa,fixed")
    assert code == 0, output
    assert (again / "results.json").read_text() == (out / "results.json").read_text()


def test_another_seed_another_run() -> None:
    config = BenchConfig(
        profile=get_profile("llama-3.1-8b-h100"),
        cold_start_seconds=60.0,
        peak_replicas=3.0,
        max_replicas=6,
        scenario_seconds=120.0,
    )
    first = run_bench(["flash"], ["forescale"], config).rows
    other = run_bench(["flash"], ["forescale"], replace(config, seed=1)).rows
    assert json.dumps(first) != json.dumps(other)


HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def test_malformed_trace_fails_with_the_line_unless_skipped(tmp_path: Path) -> None:
    rows = "".join(f"{t},500,50\n" for t in range(0, 120, 2))
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + rows + "oops,1,1\n", encoding="utf-8")
    code, output, _ = run(tmp_path, "bad", "--trace", str(path), "--policies", "fixed")
    assert code != 0
    assert f"{path}:62:" in output
    code, output, out = run(
        tmp_path, "skip", "--trace", str(path), "--policies", "fixed", "--skip-bad-rows"
    )
    assert code == 0, output
    assert "skipped 1 malformed rows" in output
    assert json.loads((out / "results.json").read_text())[0]["requests"] > 0


def test_one_request_trace_runs(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text(HEADER + "2023-11-16 18:17:04.0,500,50\n", encoding="utf-8")
    code, output, out = run(tmp_path, "one", "--trace", str(path), "--policies", "forescale,hpa")
    assert code == 0, output
    rows = json.loads((out / "results.json").read_text())
    assert [r["requests"] for r in rows] == [1, 1, 1]  # replayed as recorded, not multiplied
    assert all(r["slo_attainment"] == 1.0 for r in rows)


def test_empty_trace_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(HEADER, encoding="utf-8")
    code, output, _ = run(tmp_path, "empty", "--trace", str(path), "--policies", "fixed")
    assert code != 0
    assert "no requests" in output


def test_flash2_rows_carry_the_second_crowds_attainment_and_others_none() -> None:
    config = BenchConfig(
        profile=get_profile("llama-3.1-8b-h100"),
        cold_start_seconds=60.0,
        peak_replicas=2.0,
        max_replicas=4,
        scenario_seconds=960.0,
        warmup_seconds=120.0,
    )
    outcome = run_bench(["flash2", "steady"], ["fixed"], config)
    crowd = {r["trace"]: r["second_crowd_attainment"] for r in outcome.rows}
    assert crowd["steady"] is None
    assert isinstance(crowd["flash2"], float) and 0.0 <= crowd["flash2"] <= 1.0
    prepared = prepare("flash2", config, 0, size("flash2", config))
    # The second crowd starts 10 minutes after the first (a third of the way in).
    assert second_crowd("flash2", prepared, config) == (120.0 + 320.0 + 600.0, 120.0 + 960.0)


def test_a_trace_with_other_column_names_runs_with_trace_columns(tmp_path: Path) -> None:
    """BurstGPT's per-request CSV: relative seconds, its own column names, extra columns."""
    path = tmp_path / "burstgpt.csv"
    rows = "".join(
        f"{t},ChatGPT,{400 + t},{30 + t % 50},{430 + t},Conversation log\n"
        for t in range(0, 170, 2)
    )
    header = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
    path.write_text(header + rows, encoding="utf-8")
    code, output, _ = run(tmp_path, "default", "--trace", str(path), "--policies", "fixed")
    assert code != 0
    assert "missing column 'TIMESTAMP'" in output
    columns = ["--trace-columns", "Timestamp,Request tokens,Response tokens"]
    code, output, out = run(
        tmp_path, "burst", "--trace", str(path), "--policies", "fixed", *columns
    )
    assert code == 0, output
    assert json.loads((out / "results.json").read_text())[0]["requests"] > 0
    code, output, _ = run(
        tmp_path, "two", "--trace", str(path), "--policies", "fixed", "--trace-columns", "a,b"
    )
    assert code != 0
    assert "must name three columns" in output
