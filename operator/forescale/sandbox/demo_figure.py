"""The demo's run as one PNG: load, replicas, TTFT against the SLO, and each scaling decision.

``make demo`` prints a timeline; this draws the same rows so the run can be judged at a
glance: offered load (what the router received) against the rate the operator observed,
Ready against desired replicas, TTFT p95 against the SLO, and a vertical mark at each
change of the desired count, labelled with the operator's decision (the message of the
ScaledUp/ScaledDown Event it wrote). matplotlib runs headless (Agg) and is imported only
when the figure is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

#: Longest decision text written beside a mark.
LABEL_CHARS = 60


def decision_marks(rows: Sequence[Mapping[str, Any]]) -> list[tuple[float, int, int, str]]:
    """(time, from, to, decision) at each change of the desired count (pure)."""
    marks = []
    for before, after in pairwise(rows):
        if after["desired"] != before["desired"]:
            marks.append(
                (
                    float(after["t"]),
                    int(before["desired"]),
                    int(after["desired"]),
                    after["decision"],
                )
            )
    return marks


def plot_demo(rows: Sequence[Mapping[str, Any]], slo_ms: float, path: Path) -> None:
    """Write the figure of a demo run (rows: ``TimelineRow`` as dicts) to ``path``."""
    import matplotlib  # noqa: PLC0415 (only the demo's last step needs matplotlib)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    t = [float(r["t"]) for r in rows]
    figure, (load, replicas, ttft) = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    load.plot(t, [r["offered_rps"] for r in rows], color="black", label="offered (router)")
    observed = [float("nan") if r["observed_rps"] is None else r["observed_rps"] for r in rows]
    load.plot(t, observed, color="tab:blue", linestyle="--", label="observed by the operator")
    load.set_ylabel("requests/s")
    load.legend(loc="upper left", fontsize=8)
    replicas.step(t, [r["ready"] for r in rows], where="post", color="tab:green", label="ready")
    replicas.step(
        t, [r["desired"] for r in rows], where="post", color="tab:orange", linestyle="--",
        label="desired",
    )  # fmt: skip
    replicas.set_ylabel("replicas")
    replicas.legend(loc="upper left", fontsize=8)
    p95 = [float("nan") if r["ttft_p95_ms"] is None else r["ttft_p95_ms"] for r in rows]
    ttft.plot(t, p95, color="tab:purple", label="TTFT p95 (Prometheus)")
    ttft.axhline(slo_ms, color="red", linestyle=":", label=f"SLO {slo_ms:g} ms")
    ttft.set_ylabel("ms")
    ttft.set_xlabel("seconds since the load started")
    ttft.legend(loc="upper left", fontsize=8)
    top = max([r["desired"] for r in rows] + [1])
    for when, old, new, decision in decision_marks(rows):
        for axes in (load, replicas, ttft):
            axes.axvline(when, color="grey", linewidth=0.7, alpha=0.6)
        text = decision if len(decision) <= LABEL_CHARS else decision[: LABEL_CHARS - 3] + "..."
        replicas.annotate(
            f"{old}->{new}: {text}", (when, top), fontsize=6, rotation=90, va="top",
            ha="right", color="dimgrey",
        )  # fmt: skip
    load.set_title("forescale demo: load, replicas and TTFT (grey lines: scaling decisions)")
    for axes in (load, replicas, ttft):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
