"""What the autoscaler knows about one LLMDeployment's load at one moment.

This is the contract between whoever *measures* (the Prometheus reader in production, the
fleet simulator's Prometheus-like view in the benchmark) and whoever *decides* (the pure
policies). It is plain data with no I/O so that both sides can import it.

A signal that could not be read is ``None`` and its name is listed in ``missing``: a metric
that was renamed, not yet scraped, or belongs to a replica still loading must never read as
zero load, because zero load is exactly what would make an autoscaler scale down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

#: Names of the optional numeric signals, in a stable order (used for reporting).
SIGNALS: tuple[str, ...] = (
    "arrival_rate",
    "completion_rate",
    "prompt_token_rate",
    "generation_token_rate",
    "waiting",
    "running",
    "kv_cache_usage",
    "ttft_p50",
    "ttft_p95",
    "e2e_p95",
    "queue_time_p95",
)


class InvalidSignalError(ValueError):
    """A signal was NaN, infinite or negative: a broken exporter, not a load level."""


@dataclass(frozen=True, slots=True)
class Observation:
    """Load and latency of one LLMDeployment, aggregated over its live replicas.

    Slotted: the autoscaler keeps a history of these per LLMDeployment (a thousand
    deployments hold tens of thousands), and a slotted instance is a fraction of the size.

    Rates are per second over the reader's rate window; quantiles are in seconds; gauges
    are summed over replicas (``kv_cache_usage`` is the mean, 0..1).
    """

    deployment: str
    """``namespace/name`` of the LLMDeployment."""
    timestamp: float
    """Evaluation time, Unix seconds (the time the query was evaluated at, not read at)."""
    replicas_reporting: int = 0
    """Distinct live pods with at least one vLLM series in this evaluation."""
    fresh: bool = True
    """False when the newest sample is older than the staleness limit."""
    arrival_rate: float | None = None
    completion_rate: float | None = None
    prompt_token_rate: float | None = None
    generation_token_rate: float | None = None
    waiting: float | None = None
    running: float | None = None
    kv_cache_usage: float | None = None
    ttft_p50: float | None = None
    ttft_p95: float | None = None
    e2e_p95: float | None = None
    queue_time_p95: float | None = None
    notes: tuple[str, ...] = field(default=())
    """Human-readable remarks from the reader (e.g. which fallback metric name was used)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name not in SIGNALS:
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidSignalError(
                    f"{self.deployment}: {f.name}={value!r} is not a finite, non-negative number"
                )

    @property
    def missing(self) -> tuple[str, ...]:
        """Names of the signals that could not be read."""
        return tuple(name for name in SIGNALS if getattr(self, name) is None)

    @property
    def usable(self) -> bool:
        """True when demand can be judged: fresh, someone reporting, arrivals and queue known."""
        return (
            self.fresh
            and self.replicas_reporting > 0
            and self.arrival_rate is not None
            and self.waiting is not None
        )
