"""Deriving per-model figures from one vLLM scrape (``forescale inspect-metrics``).

One scrape has no time axis, so counters are totals since the engine started and latency
quantiles are over every request the engine has served: this is a tool to check that an
endpoint speaks the contract (and which generation of names it uses), not a load monitor.
Figures are per ``model_name``, summed over ``engine`` (data-parallel engines), except
KV-cache usage which is averaged (it is a fraction per engine). A signal none of whose
contract names is present is ``None`` and listed in ``missing``. Pure.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from dataclasses import dataclass, field

from forescale.metrics import contract
from forescale.metrics.contract import Signal
from forescale.metrics.errors import ExpositionError
from forescale.metrics.exposition import Exposition, Sample
from forescale.metrics.histogram import histogram_quantile

QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Latency:
    """Quantiles (seconds) of one latency histogram; None when it has no observations."""

    count: float | None
    """Observations (the ``+Inf`` bucket); None when the histogram has no ``+Inf`` bucket."""
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class ModelMetrics:
    """What one scrape says about one model."""

    model: str
    engines: int
    running: float | None
    waiting: float | None
    kv_cache_usage: float | None
    requests_by_reason: dict[str, float] | None
    prompt_tokens: float | None
    generation_tokens: float | None
    preemptions: float | None
    latency: dict[str, Latency | None]
    """Keyed by histogram signal key: ttft, e2e_latency, inter_token_latency, queue_time."""
    sources: dict[str, str] = field(default_factory=dict)
    """Signal key -> the metric name it was read from (shows which fallbacks were used)."""

    @property
    def missing(self) -> tuple[str, ...]:
        """Signal keys none of whose contract names appeared for this model."""
        return tuple(s.key for s in contract.ALL_SIGNALS if s.key not in self.sources)


def inspect_exposition(exposition: Exposition) -> dict[str, ModelMetrics]:
    """Per ``model_name``: the contract's signals, aggregated over engines."""
    per_model: dict[str, list[Sample]] = defaultdict(list)
    for sample in exposition.samples:
        model = sample.label(contract.MODEL_LABEL)
        if model is not None and sample.name.startswith("vllm:"):
            per_model[model].append(sample)
    return {model: _model_metrics(model, samples) for model, samples in sorted(per_model.items())}


def _model_metrics(model: str, samples: list[Sample]) -> ModelMetrics:
    by_name: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_name[sample.name].append(sample)
    sources: dict[str, str] = {}

    def pick(signal: Signal, suffix: str = "") -> list[Sample]:
        for name in signal.names:
            if by_name.get(name + suffix):
                sources[signal.key] = name
                return by_name[name + suffix]
        return []

    def total(signal: Signal) -> float | None:
        found = pick(signal)
        return sum(s.value for s in found) if found else None

    kv = pick(contract.KV_CACHE_USAGE)
    success = pick(contract.REQUEST_SUCCESS)
    by_reason: dict[str, float] = defaultdict(float)
    for sample in success:
        by_reason[sample.label(contract.FINISHED_REASON_LABEL) or ""] += sample.value
    return ModelMetrics(
        model=model,
        engines=len({s.label(contract.ENGINE_LABEL) for s in samples}),
        running=total(contract.RUNNING),
        waiting=total(contract.WAITING),
        kv_cache_usage=sum(s.value for s in kv) / len(kv) if kv else None,
        requests_by_reason=dict(by_reason) if success else None,
        prompt_tokens=total(contract.PROMPT_TOKENS),
        generation_tokens=total(contract.GENERATION_TOKENS),
        preemptions=total(contract.PREEMPTIONS),
        latency={h.key: _latency(pick(h, "_bucket")) for h in contract.HISTOGRAMS},
        sources=sources,
    )


def _latency(buckets: list[Sample]) -> Latency | None:
    if not buckets:
        return None
    merged: dict[float, float] = defaultdict(float)
    for sample in buckets:
        merged[_bound(sample)] += sample.value
    count = merged.get(math.inf)
    p50, p95, p99 = (_defined(histogram_quantile(q, merged.items())) for q in QUANTILES)
    return Latency(count=count, p50=p50, p95=p95, p99=p99)


def _bound(sample: Sample) -> float:
    raw = sample.label(contract.BUCKET_LABEL)
    bound = math.nan
    if raw is not None:
        with contextlib.suppress(ValueError):
            bound = float(raw)
    if math.isnan(bound):
        raise ExpositionError(
            sample.line_number, f"{sample.name}{{le={raw!r}}}", "bucket without a numeric 'le'"
        )
    return bound


def _defined(value: float) -> float | None:
    return value if math.isfinite(value) else None
