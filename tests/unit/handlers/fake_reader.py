"""A Prometheus reader stand-in for the autoscaler's unit tests, on a settable clock.

One LLMDeployment (``KEY``) reports one replica at ``rate`` req/s with ``waiting`` requests
queued and a TTFT p95 of ``ttft_p95`` seconds; ``rate = None`` is Prometheus down. The
reader's real queries are covered by tests/integration.
"""

from __future__ import annotations

from forescale.metrics.errors import PrometheusUnavailableError
from forescale.metrics.observation import Observation

KEY = "ml/llm"
T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class FakeReader:
    window_seconds = 60.0

    def __init__(self, clock: Clock | None = None) -> None:
        self.rate: float | None = 5.0
        self.waiting = 0.0
        self.ttft_p95 = 0.2
        self.clock = clock or Clock()

    async def read_async(self, deployments: list[str]) -> dict[str, Observation]:
        if self.rate is None:
            raise PrometheusUnavailableError("connection refused")
        obs = Observation(
            deployment=KEY,
            timestamp=self.clock.now,
            replicas_reporting=1,
            arrival_rate=self.rate,
            completion_rate=self.rate,
            waiting=self.waiting,
            running=self.rate,
            ttft_p95=self.ttft_p95,
            generation_token_rate=self.rate * 100,
        )
        return {KEY: obs}
