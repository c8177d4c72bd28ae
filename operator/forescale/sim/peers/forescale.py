"""forescale's own policy behind the simulator's Scaler interface: the operator's exact code."""

from __future__ import annotations

from dataclasses import dataclass, field

from forescale.metrics.observation import Observation
from forescale.policy.deciding import decide
from forescale.policy.parameters import ScalingParameters
from forescale.policy.state import PolicyState
from forescale.sim.scaler import ScalerInput, ScalerOutput

#: Observations kept for the forescale policy (it reads the newest; history is for context).
HISTORY = 8


@dataclass
class ForescaleScaler:
    """forescale's own policy, exactly the code the operator runs."""

    params: ScalingParameters
    name: str = "forescale"
    state: PolicyState = field(default_factory=PolicyState)
    history: list[Observation] = field(default_factory=list)

    @property
    def interval_seconds(self) -> float:
        return self.params.control_interval_seconds

    def decide(self, view: ScalerInput) -> ScalerOutput:
        if view.observation is not None:
            self.history = [*self.history, view.observation][-HISTORY:]
        decision = decide(self.history, self.state, self.params, view.counts, view.now)
        self.state = decision.state
        return ScalerOutput(decision.desired_replicas, decision.forecast_requests_per_second)
