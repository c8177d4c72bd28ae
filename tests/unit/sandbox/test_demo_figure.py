"""The demo's figure: where the scaling decisions are marked, and that the PNG is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forescale.sandbox.demo_figure import decision_marks, plot_demo


def row(t: float, desired: int, decision: str = "", ttft: int | None = 40) -> dict[str, Any]:
    return {
        "t": t,
        "phase": "steady",
        "offered_rps": 1.0,
        "observed_rps": None if t < 10 else 1.0,
        "ready": min(desired, 2),
        "desired": desired,
        "ttft_p95_ms": ttft,
        "waiting": 0,
        "decision": decision,
    }


ROWS = [
    row(0, 1),
    row(5, 1),
    row(10, 4, "Scaled up from 1 to 4: forecast 20.0 req/s", ttft=None),
    row(15, 4, "Scaled up from 1 to 4: forecast 20.0 req/s", ttft=2500),
    row(20, 2, "Scaled down from 4 to 2: demand 5.0 req/s"),
]


def test_a_mark_at_each_change_of_the_desired_count() -> None:
    assert decision_marks(ROWS) == [
        (10.0, 1, 4, "Scaled up from 1 to 4: forecast 20.0 req/s"),
        (20.0, 4, 2, "Scaled down from 4 to 2: demand 5.0 req/s"),
    ]
    assert decision_marks(ROWS[:2]) == []


def test_the_png_is_written(tmp_path: Path) -> None:
    path = tmp_path / "demo.png"
    plot_demo(ROWS, 2000, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
