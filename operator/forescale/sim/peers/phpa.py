"""Predictive Horizontal Pod Autoscaler: Holt-Winters over HPA replica counts, max with HPA."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from forescale.policy.forecasting import ForecasterState, SmoothingParameters, predict, update
from forescale.sim.peers.hpa import HpaBehavior, HpaController, pods_metric_replicas
from forescale.sim.scaler import ScalerInput, ScalerOutput


@dataclass
class PhpaScaler:
    """Predictive Horizontal Pod Autoscaler (jthomperoo/predictive-horizontal-pod-autoscaler).

    Sources: the project's README and docs/user-guide/models.md. Each sync period the HPA
    calculation gives a replica count, which is stored; a Holt-Winters model over the stored
    counts predicts the next one, and with ``decisionType: maximum`` the larger of the
    prediction and the HPA count is taken, then HPA behavior (stabilization, rate) applies.
    Model parameters are the project's documented Holt-Winters example: alpha = beta =
    gamma = 0.9, additive trend and season, ``seasonalPeriods: 6``, ``storedSeasons: 4`` (a
    prediction needs 24 stored values). The project fits with statsmodels; here the same
    additive recursions (``policy.forecasting``) are run over the stored values with a
    first-season initialisation and no damping.

    ``model="linear"`` is the project's Linear model (``type: Linear``, ``linear.lookAhead``
    and ``linear.historySize``): a least-squares line through the last ``history_size``
    stored (time, replicas) pairs, read ``look_ahead_seconds`` ahead. The benchmark runs it
    with the look-ahead an SRE would set for slow-starting pods, one cold start plus a sync
    period: the Holt-Winters example's 6-sync "season" (90 s) is no season an LLM load has.
    """

    min_replicas: int
    max_replicas: int
    target_inflight_per_pod: float
    seasonal_periods: int = 6
    stored_seasons: int = 4
    name: str = "phpa"
    interval_seconds: float = 15.0
    model: Literal["holt-winters", "linear"] = "holt-winters"
    look_ahead_seconds: float = 195.0
    history_size: int = 12
    behavior: HpaBehavior = field(default_factory=HpaBehavior)
    stored: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    controller: HpaController = field(init=False)

    def __post_init__(self) -> None:
        self.controller = HpaController(self.min_replicas, self.max_replicas, self.behavior)

    def _linear(self, now: float) -> int | None:
        if len(self.stored) < 2:
            return None
        t = np.array(self.times[-self.history_size :])
        y = np.array(self.stored[-self.history_size :], dtype=np.float64)
        slope, intercept = np.polyfit(t - now, y, 1)
        return math.ceil(float(intercept + slope * self.look_ahead_seconds) - 1e-9)

    def decide(self, view: ScalerInput) -> ScalerOutput:
        current = view.counts.desired
        reporting = {p.name for p in view.pods if not p.terminating}
        missing = max(0, view.counts.ready + view.counts.pending - len(reporting))
        calculated = pods_metric_replicas(
            view.pods, missing, current, self.target_inflight_per_pod, self.behavior.tolerance
        )
        if self.model == "linear":
            self.stored = [*self.stored, calculated][-self.history_size :]
            self.times = [*self.times, view.now][-self.history_size :]
            predicted = self._linear(view.now)
            proposed = calculated if predicted is None else max(calculated, predicted)
            return ScalerOutput(self.controller.normalize(current, proposed, view.now))
        capacity = self.seasonal_periods * self.stored_seasons
        self.stored = [*self.stored, calculated][-capacity:]
        proposed = calculated
        if len(self.stored) == capacity:
            params = SmoothingParameters(
                alpha=0.9, beta=0.9, gamma=0.9, phi=1.0, season_length=self.seasonal_periods
            )
            state = ForecasterState()
            for value in self.stored:
                state = update(state, params, float(value))
            proposed = max(calculated, math.ceil(predict(state, params, 1)))
        return ScalerOutput(self.controller.normalize(current, proposed, view.now))
