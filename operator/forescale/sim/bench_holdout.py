"""Held-out windows: issue 10's targets on stretches of the real traces no round tuned on.

Why. The recorded sweep replays each Azure trace whole, and every round of the policy was
diagnosed on those runs (docs/benchmarks.md, "what was tuned on what"). Issue 10 warns that
traces we have not seen judge the same targets. Windows of the same traces are the nearest
unseen input we have: each starts somewhere else (at a peak, mid-burst, in a lull), lasts
20-30 minutes instead of an hour, and is rescaled to its own peak need, so the warm-up,
the evidence rule and the envelope meet a different history than the one they were fitted
on. They are not new traffic (the same two services, the same hour), so they check how the
policy's figures depend on where a deployment's life begins and how long it is watched, not
on other traffic shapes.

``make bench-holdout`` runs ``forescale bench`` (the full sweep, 5 seeds, the recorded
sweep's configuration) once per window and then this module, which reads each run's
``frontier.json`` and writes one markdown table: forescale at its default knob, its cheapest
point at the target, the cheapest peer at the target, and the peer points beating every
forescale point (target 1's test), per window and trace. Pure functions except ``main``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forescale.sim import bench_frontier
from forescale.sim.bench_spec import FORESCALE_KNOB


@dataclass(frozen=True)
class HoldoutRow:
    window: str
    trace: str
    summary: dict[str, Any]
    """``bench_frontier.summary`` of the trace's frontier entry."""


def window_label(directory: str) -> str:
    """The window a run's directory is named after (``15m-45m`` -> ``15m:45m``)."""
    name = Path(directory).name
    start, sep, end = name.partition("-")
    return f"{start}:{end}" if sep else name


def rows(window: str, frontier: Mapping[str, Any], default_knob: float) -> list[HoldoutRow]:
    """One row per trace of one run's ``frontier.json``."""
    return [
        HoldoutRow(window, trace, bench_frontier.summary(entry, default_knob))
        for trace, entry in frontier.items()
    ]


def _figures(point: Mapping[str, Any]) -> str:
    return f"{point['slo_attainment'] * 100:.2f} % / {point['gpu_hours']:.2f}"


def _point(point: Mapping[str, Any] | None, name: str = "") -> str:
    """``[name ]@ knob: attainment / GPU-hours`` ("-" for no point)."""
    if point is None:
        return "-"
    where = f"{name} @" if name else "@"
    return f"{where} {point['knob_value']:g}: {_figures(point)}"


def markdown(table: Sequence[HoldoutRow], heading: str = "window") -> str:
    """The table ``make bench-holdout`` writes (attainment / GPU-hours, means over seeds);
    ``heading`` names the first column (``make bench-unseen``: one run, "run")."""
    lines = [
        f"| {heading} | trace | forescale default | x oracle | forescale cheapest at target"
        " | cheapest peer at target | peer points beating every forescale point |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table:
        s = row.summary
        peer = s["cheapest_peer_at_slo"]
        beating = s["beating_every_forescale_point"]
        ratio, oracle = s["forescale_default_over_oracle"], s["oracle"]
        over = "-" if ratio is None else f"{ratio:.2f}x"
        if oracle and oracle["slo_attainment"] < s["attainment_target"]:
            # No hindsight plan within max replicas met the target: not a yardstick.
            over += f" (oracle {oracle['slo_attainment'] * 100:.2f} %)"
        default = s["forescale_default"]
        cells = [
            row.window,
            row.trace,
            "-" if default is None else _figures(default),
            over,
            _point(s["forescale_cheapest_at_slo"]),
            _point(peer, peer["policy"]) if peer else "none reaches it",
            "; ".join(_point(p, p["policy"]) for p in beating) or "none",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forescale.sim.bench_holdout",
        description="Summarise `forescale bench` runs on held-out windows into one table.",
    )
    parser.add_argument("runs", nargs="+", help="output directories of `forescale bench`")
    parser.add_argument("--out", type=Path, help="write the table here (default: stdout)")
    parser.add_argument(
        "--heading", default="window", help="the first column's heading (default: window)"
    )
    args = parser.parse_args(argv)
    table: list[HoldoutRow] = []
    for directory in args.runs:
        path = Path(directory) / "frontier.json"
        if not path.is_file():
            print(f"{path}: no frontier.json (did that window's bench run fail?)", file=sys.stderr)
            return 1
        frontier = json.loads(path.read_text())
        table += rows(window_label(directory), frontier, FORESCALE_KNOB.default)
    text = markdown(table, args.heading)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
