"""The runbooks' and the dashboard's vLLM queries against a real Prometheus scraping real
sim-server replicas.

promtool proves each runbook query parses (``test_alert_rules_promtool.py``) and the
contract check that each name and label is vLLM's; neither shows a query selects anything
once Prometheus has scraped a replica. Here every query that reads only ``vllm:`` series
runs, with NS and NAME filled in, against two LLMDeployments of one replica each: one
sim-server as the pinned vLLM, one as 0.10.1 (``--legacy-metric-names``), after some load
so that rates exist. The KV runbook's cache-size query must also give the size the replica
really has: the largest request it admits. Each Grafana panel on ``vllm:`` series, its
variables set as Grafana sets them, must draw one line per deployment, and the variables'
``label_values`` must list both.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from forescale.sandbox.prometheus_server import PrometheusServer, ScrapeTarget
from forescale.vllm_contract.query_labels import expressions
from tests.conftest import REPO
from tests.integration.prometheus_support import (
    SCRAPE_INTERVAL_SECONDS,
    SimReplica,
    complete,
    running_prometheus,
    sim_replica,
)
from tests.unit.manifests.manifest_support import DASHBOARD, metric_names_in, runbook_queries

pytestmark = pytest.mark.prometheus

NAMESPACE = "runbooks"
KV_CACHE_TOKENS = 4130
"""Whole blocks of neither release's size: the pinned vLLM holds 64 blocks of 64 tokens
(4,096), 0.10.1 258 blocks of 16 (4,128), so each replica's size is its own release's."""
DEPLOYMENTS = {"pinned": False, "legacy": True}
"""LLMDeployment name -> the sim-server's ``--legacy-metric-names``."""
EXPECTED = {"pinned": ("64", "None"), "legacy": ("16", "0.9")}
"""LLMDeployment -> the (block_size, gpu_memory_utilization) its vLLM release shows."""
KV_RUNBOOK = REPO / "docs" / "runbooks" / "LLMDeploymentKVCacheSaturated.md"
REQUESTS_PER_REPLICA = 24


@dataclass(frozen=True)
class Fleet:
    prometheus: PrometheusServer
    replicas: dict[str, SimReplica]
    """LLMDeployment name -> its one replica (pod ``<name>-0``)."""


def _fill_in(query: str, name: str) -> str:
    """The query for one LLMDeployment: its namespace and name for NS and NAME."""
    return query.replace('"NS"', f'"{NAMESPACE}"').replace('"NAME"', f'"{name}"')


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Both replicas scraped, idle samples first, then load, then a few scrapes more."""
    work = tmp_path_factory.mktemp("runbook-queries")
    with contextlib.ExitStack() as stack:
        prometheus = stack.enter_context(running_prometheus(work / "prometheus"))
        replicas = {
            name: stack.enter_context(
                sim_replica(
                    work,
                    f"{name}-0",
                    legacy_names=legacy,
                    profile_overrides=(f"kv_cache_tokens={KV_CACHE_TOKENS}",),
                )
            )
            for name, legacy in DEPLOYMENTS.items()
        }
        prometheus.set_targets(
            ScrapeTarget(replica.address, NAMESPACE, replica.name, name)
            for name, replica in replicas.items()
        )
        prometheus.wait_until_scraped()
        time.sleep(2 * SCRAPE_INTERVAL_SECONDS)  # counters seen at rest before they move
        calls = [r for r in replicas.values() for _ in range(REQUESTS_PER_REPLICA)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda r: complete(r, 60, 16)[0], calls))
        assert statuses == [200] * len(calls)
        time.sleep(3 * SCRAPE_INTERVAL_SECONDS)  # the load's counts scraped twice at least
        yield Fleet(prometheus, replicas)


def _cache_size_query() -> str:
    """The KV runbook's query for a replica's cache size, as the runbook gives it."""
    [query] = [q for q in expressions(KV_RUNBOOK) if "vllm:cache_config_info{" in q and "by (" in q]
    return query


@pytest.mark.parametrize("name", list(DEPLOYMENTS))
def test_the_runbook_cache_size_is_what_the_replica_holds(fleet: Fleet, name: str) -> None:
    """num_gpu_blocks x block_size of the runbook's query is the largest request the
    replica admits: one token more is refused for exceeding the KV cache."""
    query = _fill_in(_cache_size_query(), name)
    result = fleet.prometheus.query(query)
    assert len(result) == 1, f"one series per replica expected from {query}: {result}"
    labels = result[0]["metric"]
    assert labels["pod"] == f"{name}-0"
    assert (labels["block_size"], labels["gpu_memory_utilization"]) == EXPECTED[name]
    capacity = int(labels["num_gpu_blocks"]) * int(labels["block_size"])
    assert 0 < KV_CACHE_TOKENS - capacity < int(labels["block_size"])
    replica = fleet.replicas[name]
    assert complete(replica, capacity - 1, 1) == (200, "")
    refused = (400, f"{capacity} prompt + 1 output tokens exceed the KV cache")
    assert complete(replica, capacity, 1) == refused, (
        f"{name}-0 admits more than the {capacity} tokens its cache_config_info shows"
    )


def test_every_runbook_query_on_vllm_series_selects_something(fleet: Fleet) -> None:
    """Each query reading only ``vllm:`` series returns at least one series with a number
    (no NaN: the load made every rate and ratio defined) for each LLMDeployment. None is
    expected empty: the older names a runbook mentions (``vllm:gpu_cache_usage_perc``) are
    named bare, without NS and NAME, and the 0.10.1 replica exports them."""
    vllm_only = [
        (page, query)
        for page, queries in runbook_queries().items()
        for query in queries
        if (names := metric_names_in(query)) and all(n.startswith("vllm:") for n in names)
    ]
    assert len(vllm_only) >= 15, vllm_only
    empty: list[str] = []
    for page, query in vllm_only:
        filled = {_fill_in(query, name) for name in DEPLOYMENTS}
        for promql in sorted(filled):
            result = fleet.prometheus.query(promql)
            values = [float(series["value"][1]) for series in result]
            if not values or any(math.isnan(v) for v in values):
                empty.append(f"{page}: {promql} -> {values}")
    assert empty == []


RATE_INTERVAL = "1m"
"""What Grafana puts for ``$__rate_interval`` at this scrape interval, and more."""


def _dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) of every dashboard panel target."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def _for_deployment(query: str, name: str) -> str:
    """A dashboard query with its variables set to one LLMDeployment, as Grafana sends it."""
    return (
        query.replace("$namespace", NAMESPACE)
        .replace("$llmdeployment", name)
        .replace("$__rate_interval", RATE_INTERVAL)
    )


def test_every_dashboard_panel_on_vllm_series_shows_each_deployment(fleet: Fleet) -> None:
    """Each panel query reading only ``vllm:`` series draws a line for a deployment on the
    pinned vLLM and for one on 0.10.1 (its older names): promtool only proves they parse.
    The operator's own series are the telemetry tests' concern."""
    vllm_only = [
        (title, query)
        for title, query in _dashboard_queries()
        if (names := metric_names_in(query)) and all(n.startswith("vllm:") for n in names)
    ]
    assert len(vllm_only) >= 10, vllm_only
    blank: list[str] = []
    for title, query in vllm_only:
        for name in DEPLOYMENTS:
            promql = _for_deployment(query, name)
            values = [float(s["value"][1]) for s in fleet.prometheus.query(promql)]
            if len(values) != 1 or math.isnan(values[0]):
                blank.append(f"{title} [{name}]: {promql} -> {values}")
    assert blank == []


def _label_values(prometheus: PrometheusServer, variable: str) -> set[str]:
    """Grafana's ``label_values(selector, label)``: Prometheus' label values API."""
    selector, label = re.fullmatch(r"label_values\((.*), (\w+)\)", variable).groups()  # type: ignore[union-attr]
    query = urllib.parse.urlencode({"match[]": selector.replace("$namespace", NAMESPACE)})
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/label/{label}/values?{query}") as answer:
        return set(json.load(answer)["data"])


def test_the_dashboard_variables_list_the_namespace_and_both_deployments(fleet: Fleet) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {
        v["name"]: v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"
    }
    assert _label_values(fleet.prometheus, variables["namespace"]) == {NAMESPACE}
    assert _label_values(fleet.prometheus, variables["llmdeployment"]) == set(DEPLOYMENTS)
