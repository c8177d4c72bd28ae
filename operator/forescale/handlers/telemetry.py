"""The operator's own ``/metrics``: what it decided and whether it could see.

SREs alert on these (manifests/prometheus): an autoscaler that silently stopped reading
metrics is worse than none, so ``forescale_metrics_available`` and the error counters exist
to page someone. Gauges are labelled by LLMDeployment and removed when it is deleted.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

REGISTRY = CollectorRegistry()
_LABELS = ("namespace", "llmdeployment")

DESIRED = Gauge("forescale_desired_replicas", "Replicas asked for", _LABELS, registry=REGISTRY)
READY = Gauge("forescale_ready_replicas", "Replicas Ready", _LABELS, registry=REGISTRY)
MAX = Gauge("forescale_max_replicas", "spec.scaling.maxReplicas", _LABELS, registry=REGISTRY)
ARRIVALS = Gauge(
    "forescale_observed_arrival_rate", "Observed arrivals, req/s", _LABELS, registry=REGISTRY
)
FORECAST = Gauge(
    "forescale_forecast_arrival_rate", "Forecast arrivals at the horizon, req/s", _LABELS,
    registry=REGISTRY,
)  # fmt: skip
CAPACITY = Gauge(
    "forescale_capacity_requests_per_second", "Per-replica capacity, req/s", _LABELS,
    registry=REGISTRY,
)  # fmt: skip
TTFT = Gauge("forescale_ttft_p95_seconds", "Observed TTFT p95", _LABELS, registry=REGISTRY)
AVAILABLE = Gauge(
    "forescale_metrics_available", "1 when the autoscaler has usable metrics", _LABELS,
    registry=REGISTRY,
)  # fmt: skip
DECISIONS = Counter(
    "forescale_scaling_decisions_total", "Scaling decisions", (*_LABELS, "action"),
    registry=REGISTRY,
)  # fmt: skip
READ_ERRORS = Counter(
    "forescale_metrics_read_errors_total", "Failed Prometheus reads", registry=REGISTRY
)
RECONCILE_ERRORS = Counter(
    "forescale_reconcile_errors_total", "Failed reconciliations", registry=REGISTRY
)

_PER_DEPLOYMENT = (DESIRED, READY, MAX, ARRIVALS, FORECAST, CAPACITY, TTFT, AVAILABLE)


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Expose the registry on ``host:port``/metrics (in a daemon thread)."""
    start_http_server(port, addr=host, registry=REGISTRY)


def forget(namespace: str, name: str) -> None:
    """Remove a deleted LLMDeployment's series."""
    for gauge in _PER_DEPLOYMENT:
        try:
            gauge.remove(namespace, name)
        except KeyError:
            continue
