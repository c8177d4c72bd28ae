"""What a policy returns: the replica count, why, and the state to remember.

The reason is written for ``kubectl describe`` (Kubernetes Event style: a verb, the
numbers that drove it), because an autoscaler whose decisions cannot be explained is
switched off by the first SRE who is paged by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from forescale.policy.state import PolicyState


class Action(StrEnum):
    SCALE_UP = "ScaleUp"
    SCALE_DOWN = "ScaleDown"
    HOLD = "Hold"


@dataclass(frozen=True)
class Decision:
    desired_replicas: int
    action: Action
    reason: str
    state: PolicyState
    horizon_seconds: float
    """Cold start (learned) plus one control interval: how far ahead the forecast looks."""
    forecast_requests_per_second: float | None = None
    """The demand the fleet was sized for (upper bound over the horizon); None on hold."""
    required_replicas: int | None = None
    """Replicas the demand needs before step limits and stabilization; None on hold."""
    capacity_requests_per_second: float | None = None
    """Per-replica saturated capacity used for this decision."""
    capacity_tokens_per_second: float | None = None
    """Per-replica output tokens/s at today's context, as this decision used it."""
