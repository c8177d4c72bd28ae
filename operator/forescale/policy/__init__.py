"""Pure scaling policies: observations, state and spec in; a replica count with its reason out.

Nothing here does I/O or reads a clock (``now`` is an argument), so the operator, the
virtual-time simulator and the benchmark run the very same decisions.
"""

from forescale.policy.deciding import decide, hold
from forescale.policy.decision import Action, Decision
from forescale.policy.parameters import PolicyKind, ReplicaCounts, ScalingParameters
from forescale.policy.state import PolicyState

__all__ = [
    "Action",
    "Decision",
    "PolicyKind",
    "PolicyState",
    "ReplicaCounts",
    "ScalingParameters",
    "decide",
    "hold",
]
