"""NVIDIA Dynamo's planner in throughput mode (aggregated serving), re-implemented from its source.

Source read: ai-dynamo/dynamo ``components/src/dynamo/planner/`` (``core/throughput_scaling.py``,
``core/load/predictors.py``, ``config/defaults.py``). What it does, and what is kept here:

* Every ``throughput_adjustment_interval`` (default 180 s) it reads the number of requests of
  the last interval from the frontend's metrics, feeds it to a load predictor and predicts
  the next interval's count. The default predictor is auto-ARIMA (pmdarima); the documented
  alternative is a Kalman filter on a local linear trend (state: level and trend, transition
  ``[[1, 1], [0, 1]]``, defaults ``q_level`` 1.0, ``q_trend`` 0.1, ``r`` 10.0, initial
  covariance x1000, leading zero intervals skipped; its one-step prediction is used from the
  first point on, as ``KalmanPredictor.predict_next`` does).
  The benchmark runs the Kalman predictor: it is deterministic, cheap, and needs no fitting
  library, and the project describes it as the better match for bursty load.
* Aggregated mode: replicas = ``max(ceil(predicted rps / engine rps), min_endpoint)``, where
  engine rps is the best request rate one engine sustains within the TTFT (and ITL) SLA, from
  the pre-deployment profiling. Here that is one replica's measured within-SLO rate times the
  swept ``margin`` (the share of it the planner is told an engine sustains).
* No scale-down limits of its own: the planner sets the replica count it computed. The
  benchmark's main variant wraps it in the uniform scale-down (``limits.ScaleDownLimiter``).

Between adjustments the planner holds its last decision; ticks every 15 s only so that a
wrapping scale-down limiter can step down at its own pace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from forescale.sim.scaler import ScalerInput, ScalerOutput

#: Dynamo's documented defaults (``config/defaults.py``).
ADJUSTMENT_INTERVAL_SECONDS = 180.0
KALMAN_Q_LEVEL = 1.0
KALMAN_Q_TREND = 0.1
KALMAN_R = 10.0


@dataclass
class LocalTrendKalman:
    """One-step-ahead Kalman filter of a level and a trend (Dynamo's ``KalmanPredictor``)."""

    q_level: float = KALMAN_Q_LEVEL
    q_trend: float = KALMAN_Q_TREND
    r: float = KALMAN_R
    x: np.ndarray = field(default_factory=lambda: np.zeros(2))
    p: np.ndarray = field(default_factory=lambda: np.eye(2) * 1000.0)
    points: int = 0
    seen_nonzero: bool = False
    last: float = 0.0

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            value = 0.0
        if value == 0 and not self.seen_nonzero:
            return  # the idle period before traffic is skipped
        self.seen_nonzero = self.seen_nonzero or value != 0
        self.last = value
        self.points += 1
        if self.points == 1:
            self.x = np.array([value, 0.0])
            return
        f = np.array([[1.0, 1.0], [0.0, 1.0]])
        q = np.diag([self.q_level, self.q_trend])
        x = f @ self.x
        p = f @ self.p @ f.T + q
        innovation = value - x[0]
        s = p[0, 0] + self.r
        gain = p[:, 0] / s
        self.x = x + gain * innovation
        self.p = p - np.outer(gain, p[0, :])

    def predict_next(self) -> float:
        if self.points == 0:
            return self.last
        level, trend = self.x
        return max(0.0, float(level + trend))


@dataclass
class DynamoPlanner:
    """Dynamo's throughput-mode planner for one aggregated deployment."""

    min_replicas: int
    max_replicas: int
    requests_per_second_at_slo: float
    """Engine rps at the TTFT SLA (from profiling), after the benchmark's margin."""
    adjustment_interval_seconds: float = ADJUSTMENT_INTERVAL_SECONDS
    name: str = "dynamo"
    interval_seconds: float = 15.0
    predictor: LocalTrendKalman = field(default_factory=LocalTrendKalman)
    rates: list[float] = field(default_factory=list)
    next_adjustment: float | None = None
    decided: int | None = None
    planned: float | None = None

    def decide(self, view: ScalerInput) -> ScalerOutput:
        now = view.now
        obs = view.observation
        if obs is not None and obs.arrival_rate is not None:
            self.rates.append(obs.arrival_rate)
        if self.next_adjustment is None:
            self.next_adjustment = now + self.adjustment_interval_seconds
        if now >= self.next_adjustment and self.rates:
            interval = self.adjustment_interval_seconds
            self.predictor.add(sum(self.rates) / len(self.rates) * interval)
            self.rates = []
            self.next_adjustment = now + interval
            self.planned = self.predictor.predict_next() / interval
            wanted = math.ceil(self.planned / self.requests_per_second_at_slo)
            self.decided = min(max(wanted, self.min_replicas), self.max_replicas)
        desired = view.counts.desired if self.decided is None else self.decided
        return ScalerOutput(desired, self.planned)
