"""The operator's own ``/metrics``: what it decided and whether it could see.

SREs alert on these (manifests/prometheus): an autoscaler that silently stopped reading
metrics is worse than none, so ``forescale_metrics_available`` and the error counters exist
to page someone. Gauges are labelled by LLMDeployment and removed when it is deleted.

Only the replica that acts exports per-LLMDeployment series. A replica that stops leading
drops them (:func:`forget_all`), and until it has (the elector notices at its next round),
the scrape leaves them out (:func:`export_while`). The rules aggregate both replicas with
``max by (namespace, llmdeployment)``, so a former leader's last values would otherwise
outvote the leader's: a Degraded that had cleared would keep paging, a leader without
metrics (``forescale_metrics_available`` 0) would hide behind the old 1, and a desired
count from before the hand-over would raise ReplicasNotReady against a settled fleet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from forescale.metrics.observation import Observation
from forescale.policy import Action, Decision

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
POLICY_FAILURES = Counter(
    "forescale_policy_failures_total",
    "Decisions the policy failed to make (it raised; the count was held)", _LABELS,
    registry=REGISTRY,
)  # fmt: skip
READ_ERRORS = Counter(
    "forescale_metrics_read_errors_total", "Failed Prometheus reads", registry=REGISTRY
)
RECONCILE_ERRORS = Counter(
    "forescale_reconcile_errors_total", "Failed reconciliations", registry=REGISTRY
)

SLO_TTFT = Gauge(
    "forescale_slo_ttft_p95_seconds", "spec.scaling.slo TTFT p95 target", _LABELS,
    registry=REGISTRY,
)  # fmt: skip
CONDITION = Gauge(
    "forescale_llmdeployment_condition",
    "1 when the condition of this type (with this reason) is True, else 0",
    (*_LABELS, "type", "reason"),
    registry=REGISTRY,
)

_PER_DEPLOYMENT = (
    DESIRED, READY, MAX, ARRIVALS, FORECAST, CAPACITY, TTFT, AVAILABLE, SLO_TTFT,
)  # fmt: skip
_condition_reasons: dict[tuple[str, str, str], str] = {}


class _WhileActing(Collector):
    """``REGISTRY`` as Prometheus scrapes it: the samples labelled by LLMDeployment only
    while ``is_acting()``; the process's own series (errors, watches) always."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self.is_acting: Callable[[], bool] = lambda: False

    def collect(self) -> Iterator[Metric]:
        acting = self.is_acting()
        for metric in self._registry.collect():
            if not acting:
                metric.samples = [s for s in metric.samples if "llmdeployment" not in s.labels]
            yield metric


LEADER = Gauge(
    "forescale_leader",
    "1 while this replica acts: it holds the Lease (or runs without leader election)",
    ("lease",),
    registry=REGISTRY,
)
"""Read at each scrape from the fence itself, labelled by the Lease (``namespace/name``;
empty without leader election), so each shard has its own. ForescaleNoLeader fires when
replicas are up and none acts (a Lease they cannot renew: RBAC, a throttled priority
level, an API server away), which ForescaleOperatorDown cannot see; kube-controller-manager's
``leader_election_master_status`` is the same idea. No series until the operator's start-up
wires the fence."""

_SCRAPED_VIEW = _WhileActing(REGISTRY)
SCRAPED = CollectorRegistry()
"""What ``/metrics`` serves: ``REGISTRY`` through the acting gate."""
SCRAPED.register(_SCRAPED_VIEW)


def export_while(is_acting: Callable[[], bool], lease: str = "") -> None:
    """Export per-LLMDeployment series only while ``is_acting()`` (the leader's fence), and
    ``forescale_leader{lease}`` as its value. Until the operator's start-up wires the
    fence, nothing claims to act."""
    _SCRAPED_VIEW.is_acting = is_acting
    LEADER.labels(lease).set_function(lambda: 1.0 if is_acting() else 0.0)


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Expose the registry on ``host:port``/metrics (in a daemon thread)."""
    start_http_server(port, addr=host, registry=SCRAPED)


def record_pass(
    namespace: str,
    name: str,
    *,
    desired: int,
    ready: int,
    max_replicas: int,
    slo_ttft_seconds: float,
    conditions: list[dict[str, Any]],
) -> None:
    """What one reconciliation saw and applied: replica counts, the SLO, the conditions.

    ``desired`` is the replica count applied (in ``recommend`` mode, what is there), so
    desired minus ready is the replicas still loading, whatever the mode.
    """
    DESIRED.labels(namespace, name).set(desired)
    READY.labels(namespace, name).set(ready)
    MAX.labels(namespace, name).set(max_replicas)
    SLO_TTFT.labels(namespace, name).set(slo_ttft_seconds)
    for cond in conditions:
        kind, reason = str(cond.get("type", "")), str(cond.get("reason", ""))
        previous = _condition_reasons.get((namespace, name, kind))
        if previous is not None and previous != reason:
            _remove(CONDITION, namespace, name, kind, previous)
        _condition_reasons[(namespace, name, kind)] = reason
        CONDITION.labels(namespace, name, kind, reason).set(cond.get("status") == "True")


def record_decision(
    namespace: str, name: str, decision: Decision, observation: Observation | None
) -> None:
    """A fresh autoscaler decision: what it read, forecast and assumed per replica."""
    DECISIONS.labels(namespace, name, str(decision.action)).inc()
    usable = observation is not None and observation.usable
    AVAILABLE.labels(namespace, name).set(1 if usable else 0)
    if observation is not None and observation.arrival_rate is not None:
        ARRIVALS.labels(namespace, name).set(observation.arrival_rate)
    if observation is not None and observation.ttft_p95 is not None:
        TTFT.labels(namespace, name).set(observation.ttft_p95)
    if decision.forecast_requests_per_second is not None:
        FORECAST.labels(namespace, name).set(decision.forecast_requests_per_second)
    if decision.capacity_requests_per_second is not None:
        CAPACITY.labels(namespace, name).set(decision.capacity_requests_per_second)


def awaiting_metrics(namespace: str, name: str) -> None:
    """No replica has reported yet (the first model load): neither 1 nor 0, so the
    "no usable metrics" alert does not page during an expected wait."""
    _remove(AVAILABLE, namespace, name)


def deciding(namespace: str, name: str) -> None:
    """The autoscaler is about to decide for this deployment: its policy-failure counter is
    exported at 0 from now on, as the Prometheus instrumentation guide asks of labelled
    series known in advance. A counter born at 1 gives ``increase()`` no earlier sample, so
    the first failure would not count towards LLMDeploymentPolicyFailed (whose promtool test
    starts the series at 0, as the operator now does)."""
    POLICY_FAILURES.labels(namespace, name)


def policy_failed(namespace: str, name: str) -> None:
    """The policy raised for this deployment (a bug): its count is held, someone must know."""
    POLICY_FAILURES.labels(namespace, name).inc()


def forget_autoscaling(namespace: str, name: str) -> None:
    """Drop the autoscaler's series (the policy became ``fixed``: nothing to page about)."""
    for series in (ARRIVALS, FORECAST, CAPACITY, TTFT, AVAILABLE, POLICY_FAILURES):
        _remove(series, namespace, name)


def forget_all() -> None:
    """This replica stopped acting: drop every per-LLMDeployment series, so that neither
    its last values nor a deployment deleted meanwhile come back when it leads again (the
    pass :meth:`Reconciler.trigger_all` starts then sets them afresh)."""
    for series in (*_PER_DEPLOYMENT, DECISIONS, POLICY_FAILURES, CONDITION):
        series.clear()
    _condition_reasons.clear()


def forget(namespace: str, name: str) -> None:
    """Remove a deleted LLMDeployment's series."""
    for gauge in _PER_DEPLOYMENT:
        _remove(gauge, namespace, name)
    for action in Action:
        _remove(DECISIONS, namespace, name, str(action))
    _remove(POLICY_FAILURES, namespace, name)
    for key in [k for k in _condition_reasons if k[:2] == (namespace, name)]:
        _remove(CONDITION, namespace, name, key[2], _condition_reasons.pop(key))


def _remove(gauge: Gauge | Counter, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
