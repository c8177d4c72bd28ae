"""The PodDisruptionBudget that keeps node drains from taking out several replicas at once.

A vLLM replica takes minutes to come back (model load), so voluntary disruptions go one
replica at a time: ``maxUnavailable: 1`` still lets a single-replica deployment be drained,
where ``minAvailable`` would block the drain forever.
"""

from __future__ import annotations

from typing import Any

from forescale.resources.labels import selector_labels
from forescale.resources.owner import Owner


def build_disruption_budget(owner: Owner) -> dict[str, Any]:
    """A PDB allowing one voluntary disruption at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": owner.metadata(),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(owner.name)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
