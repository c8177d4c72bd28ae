"""Conditions: Unknown on first visit, transition time moves only with status."""

from __future__ import annotations

from forescale.assessment.conditions import (
    ConditionUpdate,
    find,
    initial_conditions,
    merge_conditions,
)


def test_first_visit_sets_every_type_unknown() -> None:
    conditions = initial_conditions("2026-01-01T00:00:00Z", 3)
    assert [c["type"] for c in conditions] == ["Ready", "Progressing", "Degraded", "ScalingActive"]
    assert {c["status"] for c in conditions} == {"Unknown"}
    assert {c["observedGeneration"] for c in conditions} == {3}


def test_transition_time_kept_when_status_unchanged() -> None:
    start = merge_conditions(
        [], [ConditionUpdate("Ready", "False", "ModelLoading", "0/1")], "T1", 1
    )
    same = merge_conditions(start, [ConditionUpdate("Ready", "False", "Scaling", "x")], "T2", 2)
    ready = find(same, "Ready")
    assert ready is not None
    assert ready["lastTransitionTime"] == "T1"
    assert ready["reason"] == "Scaling"
    assert ready["observedGeneration"] == 2
    flipped = merge_conditions(same, [ConditionUpdate("Ready", "True", "Available", "")], "T3", 2)
    assert find(flipped, "Ready")["lastTransitionTime"] == "T3"  # type: ignore[index]


def test_merge_keeps_other_types_and_orders_them() -> None:
    start = initial_conditions("T0", 1)
    merged = merge_conditions(
        start, [ConditionUpdate("Degraded", "False", "AsExpected", "")], "T1", 1
    )
    assert [c["type"] for c in merged] == ["Ready", "Progressing", "Degraded", "ScalingActive"]
    assert find(merged, "Ready")["status"] == "Unknown"  # type: ignore[index]
    assert find(merged, "Nope") is None
