"""A deleted pod stops counting without the operator naming its live pods.

The reader sends no pod list (its queries must not grow with the fleet), so a pod that is
gone has to leave through Prometheus itself: when its target leaves service discovery,
Prometheus writes staleness markers and its series leave instant queries. Here the target
file loses one of two replicas, as the sandbox's file_sd (and a PodMonitor's discovery in
a cluster) does when a pod is deleted.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from forescale.metrics.reader import PrometheusReader
from forescale.sandbox.prometheus_server import ScrapeTarget
from tests.integration.prometheus_support import running_prometheus, serving, wait_for
from tests.unit.metrics.fixture_support import fixture_text

pytestmark = pytest.mark.prometheus

DEPLOYMENTS = ["ns/llm", "other/llm"]


def test_a_pod_removed_from_discovery_leaves_the_census(tmp_path: Path) -> None:
    with (
        running_prometheus(tmp_path) as prometheus,
        serving(fixture_text()) as a,
        serving(fixture_text()) as b,
        serving(fixture_text()) as c,
    ):
        prometheus.set_targets(
            [
                ScrapeTarget(a.address, "ns", "llm-a", "llm"),
                ScrapeTarget(b.address, "ns", "llm-b", "llm"),
                ScrapeTarget(c.address, "other", "llm-a", "llm"),
            ]
        )
        prometheus.wait_until_scraped()
        with PrometheusReader(prometheus.url, window_seconds=5, staleness_seconds=5) as reader:
            wait_for(
                lambda: reader.read(DEPLOYMENTS)["ns/llm"].replicas_reporting == 2,
                15,
                "both replicas of ns/llm scraped",
            )
            prometheus.set_targets(
                [
                    ScrapeTarget(a.address, "ns", "llm-a", "llm"),
                    ScrapeTarget(c.address, "other", "llm-a", "llm"),
                ]
            )
            removed = time.monotonic()
            wait_for(
                lambda: reader.read(DEPLOYMENTS)["ns/llm"].replicas_reporting == 1,
                30,
                "the removed replica to go stale",
            )
            print(f"removed target left the census after {time.monotonic() - removed:.1f}s")
            after = reader.read(DEPLOYMENTS)
            assert after["ns/llm"].fresh
            assert after["other/llm"].replicas_reporting == 1  # same pod name, other namespace
