"""SLO-attainment vs GPU-hours frontiers from results rows: pure functions, no I/O.

A policy's curve is its knob values' points, each the mean over seeds (with the standard
deviation as spread). Its cheapest point at the attainment target is what an SRE would pick;
a peer point that is at least as good as *every* point of forescale's curve on both axes
(and better on one) means forescale loses on that trace whatever its knob.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]

ORACLE = "oracle"
FORESCALE = "forescale"


def label(row: Row) -> str:
    """``policy`` for a main variant, ``policy:variant`` otherwise."""
    return f"{row['policy']}:{row['variant']}" if row.get("variant") else str(row["policy"])


def _sd(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def points(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """One point per knob value: mean attainment and GPU-hours over seeds, and their spread."""
    by_value: dict[float, list[Row]] = {}
    for row in rows:
        by_value.setdefault(float(row["knob_value"]), []).append(row)
    out = []
    for value in sorted(by_value):
        group = by_value[value]
        slo = [float(r["slo_attainment"]) for r in group]
        gpu = [float(r["gpu_hours"]) for r in group]
        point: dict[str, Any] = {
            "knob_value": value,
            "slo_attainment": statistics.fmean(slo),
            "gpu_hours": statistics.fmean(gpu),
            "spread": {"slo_attainment": _sd(slo), "gpu_hours": _sd(gpu)},
            "seeds": len(group),
        }
        crowd = [
            float(r["second_crowd_attainment"])
            for r in group
            if r.get("second_crowd_attainment") is not None
        ]
        if crowd:
            point["second_crowd_attainment"] = statistics.fmean(crowd)
        out.append(point)
    return out


def _brief(point: Mapping[str, Any]) -> dict[str, Any]:
    return {k: point[k] for k in ("knob_value", "slo_attainment", "gpu_hours")}


def cheapest_at(curve: Sequence[Mapping[str, Any]], target: float) -> dict[str, Any] | None:
    feasible = [p for p in curve if p["slo_attainment"] >= target]
    if not feasible:
        return None
    return _brief(min(feasible, key=lambda p: (p["gpu_hours"], -p["slo_attainment"])))


def best_attainment(curve: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    if not curve:
        return None
    return _brief(max(curve, key=lambda p: (p["slo_attainment"], -p["gpu_hours"])))


def dominates(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """``a`` is at least as good as ``b`` on attainment and GPU-hours, and better on one."""
    slo_a, slo_b = float(a["slo_attainment"]), float(b["slo_attainment"])
    gpu_a, gpu_b = float(a["gpu_hours"]), float(b["gpu_hours"])
    return slo_a >= slo_b and gpu_a <= gpu_b and (slo_a > slo_b or gpu_a < gpu_b)


def beating_every_point(
    policies: Mapping[str, Mapping[str, Any]], ours: str = FORESCALE
) -> list[dict[str, Any]]:
    """Points of other policies that dominate every point of ``ours``'s curve."""
    mine = policies.get(ours, {}).get("points", [])
    if not mine:
        return []
    out = []
    for name, entry in policies.items():
        if name.split(":")[0] == ours:
            continue
        for point in entry["points"]:
            if all(dominates(point, p) for p in mine):
                out.append({"policy": name, **_brief(point)})
    return out


def beating_the_oracle(
    policies: Mapping[str, Mapping[str, Any]], oracle: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Policy points (means over seeds) at or above the oracle's attainment for fewer
    GPU-hours: each one means the oracle is not a lower bound on that trace."""
    if oracle is None:
        return []
    out = []
    for name, entry in policies.items():
        for point in entry["points"]:
            if float(point["slo_attainment"]) >= float(oracle["slo_attainment"]) and float(
                point["gpu_hours"]
            ) < float(oracle["gpu_hours"]):
                out.append({"policy": name, **_brief(point)})
    return out


def frontier(
    rows: Sequence[Row], fluid_bounds: Mapping[str, float], target: float = 0.99
) -> dict[str, Any]:
    """frontier.json: per trace the oracle, the fluid bound and each policy's curve."""
    traces = list(dict.fromkeys(str(r["trace"]) for r in rows))
    out: dict[str, Any] = {}
    for trace in traces:
        mine = [r for r in rows if r["trace"] == trace]
        labels = list(dict.fromkeys(label(r) for r in mine))
        oracle_rows = [r for r in mine if r["policy"] == ORACLE]
        oracle = None
        if oracle_rows:
            oracle = {
                "slo_attainment": statistics.fmean(float(r["slo_attainment"]) for r in oracle_rows),
                "gpu_hours": statistics.fmean(float(r["gpu_hours"]) for r in oracle_rows),
            }
        policies: dict[str, Any] = {}
        for name in labels:
            if name == ORACLE:
                continue
            group = [r for r in mine if label(r) == name]
            curve = points(group)
            policies[name] = {
                "knob": group[0]["knob"],
                "points": curve,
                "cheapest_at_slo": cheapest_at(curve, target),
                "best_attainment": best_attainment(curve),
            }
        out[trace] = {
            "oracle": oracle,
            "fluid_bound_gpu_hours": fluid_bounds.get(trace),
            "attainment_target": target,
            "policies": policies,
            "beating_every_forescale_point": beating_every_point(policies),
            "beating_the_oracle": beating_the_oracle(policies, oracle),
        }
    return out


def summary(entry: Mapping[str, Any], default_knob: float, ours: str = FORESCALE) -> dict[str, Any]:
    """The figures a reader needs first, for one trace of ``frontier``'s output.

    forescale at its default knob and its cheapest point at the target, the cheapest peer
    point at the target (any other policy or variant), forescale's default over the
    oracle's GPU-hours, the peer points beating every forescale point, the policy points
    beating the oracle, and (flash2) the second crowd's attainment at forescale's default.
    """
    policies = entry["policies"]
    mine = policies.get(ours, {})
    default = next(
        (p for p in mine.get("points", []) if math.isclose(p["knob_value"], default_knob)), None
    )
    target = float(entry.get("attainment_target", 0.99))
    peers = [
        {"policy": name, **_brief(p)}
        for name, policy in policies.items()
        if name.split(":")[0] != ours
        for p in policy["points"]
        if p["slo_attainment"] >= target
    ]
    oracle = entry.get("oracle")
    ratio = None
    if default is not None and oracle and oracle["gpu_hours"] > 0:
        ratio = default["gpu_hours"] / oracle["gpu_hours"]
    return {
        "attainment_target": target,
        "oracle": oracle,
        "fluid_bound_gpu_hours": entry.get("fluid_bound_gpu_hours"),
        "forescale_default": _brief(default) if default else None,
        "forescale_cheapest_at_slo": mine.get("cheapest_at_slo"),
        "forescale_best_attainment": mine.get("best_attainment"),
        "cheapest_peer_at_slo": min(peers, key=lambda p: p["gpu_hours"]) if peers else None,
        "forescale_default_over_oracle": ratio,
        "beating_every_forescale_point": entry.get("beating_every_forescale_point", []),
        "beating_the_oracle": entry.get("beating_the_oracle", []),
        "second_crowd_attainment": default.get("second_crowd_attainment") if default else None,
    }


def oracle_violations(rows: Sequence[Row]) -> list[Row]:
    """Runs that spend fewer GPU-hours than the oracle of the same trace and seed while
    reaching at least its attainment: each one means the oracle is no lower bound."""
    oracle = {(r["trace"], r["seed"]): r for r in rows if r["policy"] == ORACLE}
    out = []
    for row in rows:
        ref = oracle.get((row["trace"], row["seed"]))
        if ref is None or row is ref or row["policy"] == ORACLE:
            continue
        if float(row["gpu_hours"]) < float(ref["gpu_hours"]) and float(
            row["slo_attainment"]
        ) >= float(ref["slo_attainment"]):
            out.append(row)
    return out
