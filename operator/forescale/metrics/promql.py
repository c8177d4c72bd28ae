"""PromQL for the reader: one query per signal, covering every LLMDeployment at once.

Batching matters: the operator reads every control interval for every LLMDeployment, and
one query per signal (grouped ``by (namespace, llmdeployment)``) costs the same whether
there are 2 or 200 deployments, where per-deployment queries would grow with the fleet.

Series selection. Only series carrying an ``llmdeployment`` label count (that label comes
from scrape relabeling, see docs/metrics.md). When the caller knows the live pods (the
operator does, from Kubernetes), every selector also matches ``pod=~"<live pods>"``, so a
deleted pod's series stop counting at once instead of after Prometheus' staleness handling
(which only helps when Prometheus itself noticed the target vanish). The filter has to be
server-side: after ``sum by (namespace, llmdeployment)`` the pod is gone, and shipping
per-pod series back to filter client-side would multiply the answer by the pod count.

Renamed metrics are read through ``or`` at series level (``new{..} or old{..}``): PromQL
set operators match on labels without the metric name, so each pod contributes its newest
name once, and a fleet mid-upgrade mixes both without double counting. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from forescale.metrics import contract
from forescale.metrics.contract import Signal

GROUP_LABELS: tuple[str, ...] = ("namespace", "llmdeployment")
POD_LABEL = "pod"
DEPLOYMENT_LABEL = "llmdeployment"
PODS = "pods"
"""Key of the query whose rows are one per live pod with its newest sample time."""

_BY = f"by ({', '.join(GROUP_LABELS)})"
_REGEX_SPECIALS = frozenset("\\.+*?()|[]{}^$")


def duration(seconds: float) -> str:
    """A PromQL range duration: whole seconds as ``30s``, otherwise milliseconds."""
    if seconds <= 0:
        raise ValueError(f"a range must be positive, got {seconds}")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def pod_regex(pods: Collection[str]) -> str:
    """An RE2 alternation matching exactly these pod names (fully anchored by PromQL)."""
    if not pods:
        raise ValueError("no pods: a pod filter would match nothing (skip the query instead)")
    return "|".join(
        "".join("\\" + c if c in _REGEX_SPECIALS else c for c in p) for p in sorted(pods)
    )


def selector(metric: str, live_pods: Collection[str] | None) -> str:
    """``metric{llmdeployment!="", pod=~"..."}`` as a PromQL string literal-safe selector."""
    matchers = [f'{DEPLOYMENT_LABEL}!=""']
    if live_pods is not None:
        matchers.append(f"{POD_LABEL}=~{_string(pod_regex(live_pods))}")
    return f"{metric}{{{', '.join(matchers)}}}"


def _string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _each_name(
    signal: Signal, live_pods: Collection[str] | None, wrap: Callable[[str], str], suffix: str = ""
) -> str:
    """``wrap(new) or wrap(old) ...`` over the signal's names, newest first."""
    parts = [wrap(selector(name + suffix, live_pods)) for name in signal.names]
    return " or ".join(parts)


def gauge_sum(signal: Signal, live_pods: Collection[str] | None) -> str:
    """Sum of a gauge over pods and engines."""
    return f"sum {_BY} ({_each_name(signal, live_pods, lambda s: s)})"


def gauge_avg(signal: Signal, live_pods: Collection[str] | None) -> str:
    """Mean of a gauge over pods and engines (for fractions such as KV-cache usage)."""
    return f"avg {_BY} ({_each_name(signal, live_pods, lambda s: s)})"


def rate_sum(signal: Signal, window: str, live_pods: Collection[str] | None) -> str:
    """Per-second increase of a counter over ``window``, summed over pods and engines."""
    return f"sum {_BY} ({_each_name(signal, live_pods, lambda s: f'rate({s}[{window}])')})"


def deriv_sum(signal: Signal, window: str, live_pods: Collection[str] | None) -> str:
    """Least-squares slope of a gauge over ``window``, summed over pods and engines."""
    return f"sum {_BY} ({_each_name(signal, live_pods, lambda s: f'deriv({s}[{window}])')})"


def quantile(q: float, signal: Signal, window: str, live_pods: Collection[str] | None) -> str:
    """The q-quantile of a histogram over ``window``, merged over pods and engines."""
    rates = _each_name(signal, live_pods, lambda s: f"rate({s}[{window}])", "_bucket")
    by_le = f"by ({', '.join((*GROUP_LABELS, contract.BUCKET_LABEL))})"
    return f"histogram_quantile({q}, sum {by_le} ({rates}))"


def arrival_rate(window: str, live_pods: Collection[str] | None) -> str:
    """Arrivals = completions + growth of requests in the system, never below zero.

    vLLM counts requests only when they finish, so arrivals are estimated by conservation:
    what arrived either finished or is still waiting/running. The growth term is ``deriv``
    (a regression over every sample in the window) rather than ``delta`` (two end points)
    because the running gauge jumps by whole requests at every scrape.
    """
    completions = rate_sum(contract.REQUEST_SUCCESS, window, live_pods)
    waiting = deriv_sum(contract.WAITING, window, live_pods)
    running = deriv_sum(contract.RUNNING, window, live_pods)
    return f"clamp_min({completions} + {waiting} + {running}, 0)"


def pods_newest_sample(live_pods: Collection[str] | None) -> str:
    """One row per pod reporting vLLM metrics, valued with its newest sample's timestamp."""
    by_pod = f"by ({', '.join((*GROUP_LABELS, POD_LABEL))})"
    return f"max {by_pod} (timestamp({selector(contract.RUNNING.name, live_pods)}))"


def observation_queries(window_seconds: float, live_pods: Collection[str] | None) -> dict[str, str]:
    """Every query one read needs, keyed by ``Observation`` field name (plus ``PODS``)."""
    w = duration(window_seconds)
    return {
        PODS: pods_newest_sample(live_pods),
        "arrival_rate": arrival_rate(w, live_pods),
        "completion_rate": rate_sum(contract.REQUEST_SUCCESS, w, live_pods),
        "prompt_token_rate": rate_sum(contract.PROMPT_TOKENS, w, live_pods),
        "generation_token_rate": rate_sum(contract.GENERATION_TOKENS, w, live_pods),
        "waiting": gauge_sum(contract.WAITING, live_pods),
        "running": gauge_sum(contract.RUNNING, live_pods),
        "kv_cache_usage": gauge_avg(contract.KV_CACHE_USAGE, live_pods),
        "ttft_p50": quantile(0.5, contract.TTFT, w, live_pods),
        "ttft_p95": quantile(0.95, contract.TTFT, w, live_pods),
        "e2e_p95": quantile(0.95, contract.E2E_LATENCY, w, live_pods),
        "queue_time_p95": quantile(0.95, contract.QUEUE_TIME, w, live_pods),
    }
