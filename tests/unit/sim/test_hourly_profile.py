"""A real service's hourly counts as a scenario: the curve, the file's checks, the bench."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forescale.sim import bench_season, hourly_profile, scenarios
from tests.conftest import SHARED

AZURE_2024 = SHARED / "traces" / "aggregates" / "azure-llm-2024-conv-hourly.csv"
BURSTGPT = SHARED / "traces" / "aggregates" / "burstgpt-1-hourly.csv"


def _write(tmp_path: Path, counts: list[int], header: str = "day,hour,conversation") -> str:
    path = tmp_path / "profile.csv"
    rows = [f"{3 + i // 24},{i % 24},{count}" for i, count in enumerate(counts)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return hourly_profile.PREFIX + str(path)


def _per_hour(spec: str, count: int) -> np.ndarray:
    """The curve's integral over each hour (1 s steps), in the curve's units x seconds."""
    t = np.arange(count * 3600.0) + 0.5
    per_hour: np.ndarray = hourly_profile.curve(spec, t).reshape(-1, 3600).sum(1)
    return per_hour


def test_where_the_rate_runs_straight_the_curve_is_the_line_through_the_hours(
    tmp_path: Path,
) -> None:
    counts = [3600 * (10 + h) for h in range(24)]
    spec = _write(tmp_path, counts)
    peak = hourly_profile.curve(spec, np.arange(86400.0)).max()
    inner = (np.arange(1, 23) + 0.5) * 3600.0
    at_middles = hourly_profile.curve(spec, inner)
    assert at_middles / at_middles[-1] == pytest.approx(np.array(counts[1:23]) / counts[22])
    # Between two middles the rate is on the line, not a step at the hour's edge.
    left, right = hourly_profile.curve(spec, np.array([5 * 3600.0 - 1e-6, 5 * 3600.0]))
    assert left == pytest.approx(right, rel=1e-6)
    assert peak == pytest.approx(1.0)
    assert hourly_profile.days(spec) == 1
    assert scenarios.cycle_seconds(spec, 86400.0) == scenarios.DAY_SECONDS


def test_each_hour_holds_exactly_its_count_beside_a_flood_and_an_empty_hour(
    tmp_path: Path,
) -> None:
    # An empty hour, a lone hour, a flood's first hour beside the flood (BurstGPT's shape).
    counts = [0, 0, 50, 0, 0, 1328, 21369, 33236, 20000, 0] + [10] * 14
    spec = _write(tmp_path, counts)
    per_hour = _per_hour(spec, len(counts))
    assert per_hour / per_hour.sum() == pytest.approx(np.array(counts) / sum(counts), abs=1e-12)
    assert per_hour[0] == 0.0
    assert per_hour[9] == 0.0
    assert hourly_profile.curve(spec, np.arange(86400.0)).max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "spec",
    [
        f"{AZURE_2024}",
        f"{BURSTGPT}#all@7",
        f"{BURSTGPT}#conversation@7",
    ],
)
def test_the_real_weeks_hours_keep_their_counts(spec: str) -> None:
    path = Path(spec.partition("#")[0])
    if not path.is_file():
        pytest.fail(f"the shared hourly counts are missing: {path}")
    spec = hourly_profile.PREFIX + spec
    counts = np.array(hourly_profile.hours(spec), dtype=np.float64)
    assert len(counts) >= 6 * 24
    per_hour = _per_hour(spec, len(counts))
    assert per_hour / per_hour.sum() == pytest.approx(counts / counts.sum(), abs=1e-12)


def test_synthesized_arrivals_follow_the_hours(tmp_path: Path) -> None:
    counts = [100] * 12 + [400] * 12
    spec = _write(tmp_path, counts)
    trace = scenarios.synthesize(spec, 20.0, 86400.0, seed=5)
    per_hour = np.histogram(trace.arrivals, bins=np.arange(25) * 3600.0)[0]
    expected = 20.0 * 3600 * hourly_profile.curve(spec, (np.arange(24) + 0.5) * 3600)
    assert per_hour[2:10] == pytest.approx(expected[2:10], rel=0.03)
    assert per_hour[14:22] == pytest.approx(expected[14:22], rel=0.03)
    assert scenarios.is_scenario(spec)
    assert scenarios.display_name(spec) == "profile"


def test_a_column_and_a_first_day_choose_the_hours(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    rows = [f"{d},{h},{d * 100 + h},{7 if d == 0 else 0}" for d in range(3) for h in range(24)]
    path.write_text("\n".join(["day,hour,conversation,api", *rows]) + "\n")
    assert hourly_profile.hours(f"{hourly_profile.PREFIX}{path}#api") == (7,) * 24 + (0,) * 48
    assert hourly_profile.hours(f"{hourly_profile.PREFIX}{path}@1")[:2] == (100, 101)
    assert hourly_profile.days(f"{hourly_profile.PREFIX}{path}@1") == 2
    assert scenarios.display_name(f"{hourly_profile.PREFIX}{path}#api@2") == "two-api-from-day-2"
    assert scenarios.display_name(f"{hourly_profile.PREFIX}{path}") == "two"
    with pytest.raises(ValueError, match="every hour from day 1 on is empty"):
        hourly_profile.hours(f"{hourly_profile.PREFIX}{path}#api@1")
    with pytest.raises(ValueError, match="day 3 is past the file's 3 days"):
        hourly_profile.hours(f"{hourly_profile.PREFIX}{path}@3")
    with pytest.raises(ValueError, match="must be a whole number, not 'x'"):
        hourly_profile.hours(f"{hourly_profile.PREFIX}{path}@x")


def test_a_gap_in_the_hours_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text("day,hour,conversation\n0,0,5\n0,1,5\n0,3,5\n")
    with pytest.raises(ValueError, match="row 4 is day 0 hour 3"):
        hourly_profile.counts(path)


def test_a_missing_column_names_the_columns(tmp_path: Path) -> None:
    spec = _write(tmp_path, [1] * 24, header="day,hour,api")
    with pytest.raises(ValueError, match="no column 'conversation' \\(columns: day, hour, api\\)"):
        hourly_profile.days(spec)


def test_times_past_the_profile_are_refused(tmp_path: Path) -> None:
    spec = _write(tmp_path, [1] * 24)
    with pytest.raises(ValueError, match="covers 86400 s"):
        hourly_profile.curve(spec, np.array([0.0, 90000.0]))


def test_the_season_bench_refuses_more_days_than_the_profile_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _write(tmp_path, [1] * 72)
    with pytest.raises(SystemExit):
        bench_season.main(["--days", "4", "--scenario", spec])
    assert "has 3 whole days" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_season.main(["--scenario", "flash"])
    assert "--scenario must be workday or hourly:<path>" in capsys.readouterr().err


def test_a_profile_has_no_onset_hour_in_its_table() -> None:
    rows = [
        {
            "policy": "forescale",
            "seed": 0,
            "slo_attainment": 1.0,
            "gpu_hours": 90.0,
            "days": [
                {"day": d + 1, "attainment": 1.0, "onset_attainment": None, "gpu_hours": 30.0}
                for d in range(3)
            ],
        }
    ]
    text = bench_season.table(rows, 3)
    assert "09-10" not in text
    assert "| forescale | 100.00 % / 30.0 | 100.00 % / 30.0 | 100.00 % / 30.0 |" in text
