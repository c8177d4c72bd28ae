"""Kubernetes-style conditions: a list keyed by type, transition times kept when unchanged.

``lastTransitionTime`` must only move when ``status`` changes, otherwise alerts keyed on
"condition False for 10 minutes" never fire; these helpers are the one place that rule lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forescale.api.status import CONDITION_TYPES, ConditionStatus


@dataclass(frozen=True)
class ConditionUpdate:
    """What a condition should say now (its transition time is derived)."""

    type: str
    status: ConditionStatus
    reason: str
    message: str


def initial_conditions(now: str, generation: int | None) -> list[dict[str, Any]]:
    """Every condition type as Unknown: what a first visit reports before judging."""
    return [
        {
            "type": kind,
            "status": "Unknown",
            "reason": "Reconciling",
            "message": "forescale has not assessed this LLMDeployment yet",
            "lastTransitionTime": now,
            "observedGeneration": generation,
        }
        for kind in CONDITION_TYPES
    ]


def merge_conditions(
    current: list[dict[str, Any]],
    updates: list[ConditionUpdate],
    now: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Apply ``updates`` to ``current``, keeping transition times where status is unchanged."""
    by_type = {c["type"]: dict(c) for c in current}
    for update in updates:
        previous = by_type.get(update.type)
        changed = previous is None or previous.get("status") != update.status
        by_type[update.type] = {
            "type": update.type,
            "status": update.status,
            "reason": update.reason,
            "message": update.message,
            "lastTransitionTime": now if changed else previous["lastTransitionTime"],  # type: ignore[index]
            "observedGeneration": generation,
        }
    order = {kind: i for i, kind in enumerate(CONDITION_TYPES)}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], len(order)), c["type"]))


def find(conditions: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The condition of ``kind``, if present."""
    return next((c for c in conditions if c.get("type") == kind), None)
