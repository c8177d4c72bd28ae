"""Only the replica that acts exports per-LLMDeployment series.

Both operator replicas are scraped and the rules take ``max by (namespace, llmdeployment)``
over them, so a former leader's last values would outvote the leader's: a Degraded that had
cleared would keep paging, a leader with no usable metrics would hide behind the old
``forescale_metrics_available`` 1. The scrape leaves them out while the replica does not
act, and a replica that stops acting drops them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from forescale.handlers import telemetry

NAMESPACE = "acting-series"
LEASE = "forescale-system/forescale"


@pytest.fixture
def acting() -> Iterator[list[bool]]:
    """Whether this replica acts (the elector's fence), as a switch the test flips."""
    state = [True]
    telemetry.export_while(lambda: state[0], LEASE)
    try:
        yield state
    finally:
        telemetry.export_while(lambda: False, LEASE)


def _record(name: str) -> None:
    telemetry.record_pass(
        NAMESPACE,
        name,
        desired=3,
        ready=3,
        max_replicas=8,
        slo_ttft_seconds=1.0,
        conditions=[{"type": "Degraded", "status": "True", "reason": "CrashLooping"}],
    )
    telemetry.deciding(NAMESPACE, name)


def _scraped() -> str:
    return generate_latest(telemetry.SCRAPED).decode()


def test_the_scrape_holds_deployment_series_only_while_acting(acting: list[bool]) -> None:
    _record("chat")
    scraped = _scraped()
    assert f'forescale_desired_replicas{{llmdeployment="chat",namespace="{NAMESPACE}"}} 3.0' in (
        scraped
    )
    assert 'reason="CrashLooping"' in scraped
    assert f'\nforescale_leader{{lease="{LEASE}"}} 1.0\n' in scraped
    acting[0] = False
    passive = _scraped()
    assert "llmdeployment=" not in passive, passive
    assert f'\nforescale_leader{{lease="{LEASE}"}} 0.0\n' in passive  # ForescaleNoLeader
    assert "forescale_reconcile_errors_total" in passive  # the process's own series stay
    assert "# TYPE forescale_desired_replicas gauge" in passive  # declared, with no sample
    acting[0] = True
    assert f'llmdeployment="chat",namespace="{NAMESPACE}"' in _scraped()


def test_a_replica_that_stops_acting_drops_them_for_good(acting: list[bool]) -> None:
    _record("chat")
    _record("code")
    telemetry.forget_all()
    # Leading again, nothing of before comes back (a deployment deleted meanwhile
    # included); the first pass sets what is there now.
    assert "llmdeployment=" not in _scraped()
    _record("code")
    scraped = _scraped()
    assert 'llmdeployment="code"' in scraped and 'llmdeployment="chat"' not in scraped
    # A condition series comes back under its new reason only, not beside the old one.
    telemetry.record_pass(
        NAMESPACE, "code", desired=3, ready=3, max_replicas=8, slo_ttft_seconds=1.0,
        conditions=[{"type": "Degraded", "status": "False", "reason": "AsExpected"}],
    )  # fmt: skip
    reasons = {
        sample.labels["reason"]
        for metric in telemetry.REGISTRY.collect()
        for sample in metric.samples
        if sample.name == "forescale_llmdeployment_condition"
        and sample.labels["llmdeployment"] == "code"
    }
    assert reasons == {"AsExpected"}
