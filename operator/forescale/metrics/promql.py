"""PromQL for the reader: a fixed set of queries covering every LLMDeployment at once.

Constant cost. The operator reads every control interval for every LLMDeployment; one
query per signal, grouped ``by (namespace, llmdeployment)``, costs the same number of
queries whether there are 2 or 2,000 deployments, and the text of each query does not
grow either: series are selected by the labels the PodMonitor puts on every series
(``namespace`` and ``llmdeployment``, see ``resources/pod_monitor.py``), never by a list of
pod names. The only optional matcher is a set of namespaces for an operator sharded by
namespace, which grows with the shard's namespaces, not with its pods.

Dead pods. Without a pod filter, a pod stops counting through Prometheus' staleness
handling: when a pod is deleted its target leaves service discovery, and when its process
dies its scrape fails; either way Prometheus writes staleness markers and the series leave
instant queries at once (rates keep the increases the pod really made inside the window,
which is what a rate over that window should say). The pod census is therefore computed
server-side too: one query returns, per deployment, the number of pods reporting and the
newest sample time, so even that answer is one row per deployment, not per pod.

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
NAMESPACE_LABEL = "namespace"
CENSUS = "census"
"""Key of the query whose rows are, per deployment, the pod count and newest sample time."""
CENSUS_LABEL = "forescale_census"
"""Label that tells the census query's two kinds of rows apart."""
CENSUS_PODS = "pods"
CENSUS_NEWEST = "newest"

_BY = f"by ({', '.join(GROUP_LABELS)})"
_REGEX_SPECIALS = frozenset("\\.+*?()|[]{}^$")


def duration(seconds: float) -> str:
    """A PromQL range duration: whole seconds as ``30s``, otherwise milliseconds."""
    if seconds <= 0:
        raise ValueError(f"a range must be positive, got {seconds}")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def namespace_regex(namespaces: Collection[str]) -> str:
    """An RE2 alternation matching exactly these namespaces (fully anchored by PromQL)."""
    if not namespaces:
        raise ValueError("no namespaces: a scope must name at least one (or be None)")
    return "|".join(
        "".join("\\" + c if c in _REGEX_SPECIALS else c for c in ns) for ns in sorted(namespaces)
    )


def selector(metric: str, namespaces: Collection[str] | None = None) -> str:
    """``metric{llmdeployment!=""}``, optionally limited to a shard's namespaces."""
    matchers = [f'{DEPLOYMENT_LABEL}!=""']
    if namespaces is not None:
        matchers.append(f"{NAMESPACE_LABEL}=~{_string(namespace_regex(namespaces))}")
    return f"{metric}{{{', '.join(matchers)}}}"


def _string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _each_name(
    signal: Signal, namespaces: Collection[str] | None, wrap: Callable[[str], str], suffix: str = ""
) -> str:
    """``wrap(new) or wrap(old) ...`` over the signal's names, newest first."""
    parts = [wrap(selector(name + suffix, namespaces)) for name in signal.names]
    return " or ".join(parts)


def gauge_sum(signal: Signal, namespaces: Collection[str] | None) -> str:
    """Sum of a gauge over pods and engines."""
    return f"sum {_BY} ({_each_name(signal, namespaces, lambda s: s)})"


def gauge_avg(signal: Signal, namespaces: Collection[str] | None) -> str:
    """Mean of a gauge over pods and engines (for fractions such as KV-cache usage)."""
    return f"avg {_BY} ({_each_name(signal, namespaces, lambda s: s)})"


def rate_sum(signal: Signal, window: str, namespaces: Collection[str] | None) -> str:
    """Per-second increase of a counter over ``window``, summed over pods and engines."""
    return f"sum {_BY} ({_each_name(signal, namespaces, lambda s: f'rate({s}[{window}])')})"


def quantile(q: float, signal: Signal, window: str, namespaces: Collection[str] | None) -> str:
    """The q-quantile of a histogram over ``window``, merged over pods and engines."""
    rates = _each_name(signal, namespaces, lambda s: f"rate({s}[{window}])", "_bucket")
    by_le = f"by ({', '.join((*GROUP_LABELS, contract.BUCKET_LABEL))})"
    return f"histogram_quantile({q}, sum {by_le} ({rates}))"


#: Points per rate window at which the in-system total is evaluated for its slope (at least
#: one second apart): every scrape of the sandbox's 1 s scrape over the demo's 15 s window,
#: the PodMonitor's 15 s scrape several times over the default 60 s window.
GROWTH_POINTS_PER_WINDOW = 15


def growth_step_seconds(window_seconds: float) -> float:
    """The subquery step of the growth term: ``window / GROWTH_POINTS_PER_WINDOW``, at
    least 1 s."""
    return max(1.0, window_seconds / GROWTH_POINTS_PER_WINDOW)


def arrival_rate(window_seconds: float, namespaces: Collection[str] | None) -> str:
    """Arrivals = completions + growth of requests in the system, never below zero.

    vLLM counts requests only when they finish, so arrivals are estimated by conservation:
    what arrived either finished or is still waiting/running. The growth term is the slope
    (``deriv``, a regression over the window rather than two end points: the running gauge
    jumps by whole requests at every scrape) of the deployment's *total* in the system,
    summed over pods first and then differentiated through a subquery. Differentiated per
    pod and summed after, a scale-up's end read wrong both ways: the new pod's slope spans
    only the few samples it has, the old pod's the whole window, and the new pod's first
    scrape already holds requests no slope of its own sees. `make demo` read 7.8 and 9.2
    req/s at 5 and 4.6 offered, each right after replicas became Ready, and a spike's fast
    path scaled 5 -> 8 on the first; a paced 4 req/s moved to a new replica read 2.0-3.8
    (tests/integration/test_prometheus_reader_new_replica.py). The total is continuous
    where traffic moves between pods, and a new pod's first requests are a rise of it.
    """
    window = duration(window_seconds)
    step = duration(growth_step_seconds(window_seconds))
    completions = rate_sum(contract.REQUEST_SUCCESS, window, namespaces)
    in_system = (
        f"{gauge_sum(contract.WAITING, namespaces)} + {gauge_sum(contract.RUNNING, namespaces)}"
    )
    return f"clamp_min({completions} + deriv(({in_system})[{window}:{step}]), 0)"


def census(namespaces: Collection[str] | None) -> str:
    """Per deployment: pods reporting vLLM metrics, and the newest sample's timestamp.

    Two aggregations in one query, told apart by a ``forescale_census`` label; both are one
    row per deployment, so the answer does not grow with the pod count either.
    """
    series = selector(contract.RUNNING.name, namespaces)
    by_pod = f"by ({', '.join((*GROUP_LABELS, POD_LABEL))})"
    pods = f"count {_BY} (count {by_pod} ({series}))"
    newest = f"max {_BY} (timestamp({series}))"
    return (
        f'label_replace({pods}, "{CENSUS_LABEL}", "{CENSUS_PODS}", "", "") or '
        f'label_replace({newest}, "{CENSUS_LABEL}", "{CENSUS_NEWEST}", "", "")'
    )


def observation_queries(
    window_seconds: float, namespaces: Collection[str] | None = None
) -> dict[str, str]:
    """Every query one read needs, keyed by ``Observation`` field name (plus ``CENSUS``)."""
    w = duration(window_seconds)
    return {
        CENSUS: census(namespaces),
        "arrival_rate": arrival_rate(window_seconds, namespaces),
        "completion_rate": rate_sum(contract.REQUEST_SUCCESS, w, namespaces),
        "prompt_token_rate": rate_sum(contract.PROMPT_TOKENS, w, namespaces),
        "generation_token_rate": rate_sum(contract.GENERATION_TOKENS, w, namespaces),
        "waiting": gauge_sum(contract.WAITING, namespaces),
        "running": gauge_sum(contract.RUNNING, namespaces),
        "kv_cache_usage": gauge_avg(contract.KV_CACHE_USAGE, namespaces),
        "ttft_p50": quantile(0.5, contract.TTFT, w, namespaces),
        "ttft_p95": quantile(0.95, contract.TTFT, w, namespaces),
        "e2e_p95": quantile(0.95, contract.E2E_LATENCY, w, namespaces),
        "queue_time_p95": quantile(0.95, contract.QUEUE_TIME, w, namespaces),
    }
