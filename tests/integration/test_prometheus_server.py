"""The sandbox's real Prometheus: loopback only, file_sd targets, PodMonitor labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forescale.metrics.reader import PrometheusReader
from forescale.sandbox.processes import ComponentError
from forescale.sandbox.prometheus_server import PrometheusServer, ScrapeTarget
from tests.integration.prometheus_support import running_prometheus, serving, wait_for
from tests.unit.metrics.fixture_support import fixture_text

pytestmark = pytest.mark.prometheus


def test_scrapes_targets_with_the_podmonitor_labels(tmp_path: Path) -> None:
    with running_prometheus(tmp_path) as prometheus, serving(fixture_text()) as vllm:
        assert prometheus.url.startswith("http://127.0.0.1:")
        prometheus.add_target(ScrapeTarget(vllm.address, "team-a", "llm-0", "llm"))
        prometheus.wait_until_scraped()
        with PrometheusReader(prometheus.url, window_seconds=5, staleness_seconds=5) as reader:
            observation = reader.read()["team-a/llm"]
    assert observation.replicas_reporting == 1
    assert observation.fresh
    # The fixture's KV-cache usage, read under the current name (both are exposed).
    assert observation.kv_cache_usage == pytest.approx(0.0011764705882353343)
    assert observation.running == 0.0


def test_targets_file_is_plain_file_sd_json_rewritten_atomically(tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path)
    server.set_targets(
        [
            ScrapeTarget("127.0.0.1:1", "ns", "p1", "llm"),
            ScrapeTarget("127.0.0.1:2", "ns", "p2", "x"),
        ]
    )
    server.remove_target("ns", "p1")
    assert json.loads(server.targets_file.read_text()) == [
        {
            "targets": ["127.0.0.1:2"],
            "labels": {"namespace": "ns", "pod": "p2", "llmdeployment": "x"},
        }
    ]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_removed_target_stops_counting(tmp_path: Path) -> None:
    with (
        running_prometheus(tmp_path) as prometheus,
        serving(fixture_text()) as one,
        serving(fixture_text()) as two,
    ):
        prometheus.set_targets(
            [
                ScrapeTarget(one.address, "ns", "p1", "llm"),
                ScrapeTarget(two.address, "ns", "p2", "llm"),
            ]
        )
        prometheus.wait_until_scraped()
        with PrometheusReader(prometheus.url, window_seconds=5, staleness_seconds=5) as reader:
            assert reader.read()["ns/llm"].replicas_reporting == 2
            prometheus.remove_target("ns", "p1")
            # No live-pod list: only Prometheus' staleness markers remove p1's series.
            wait_for(lambda: reader.read()["ns/llm"].replicas_reporting == 1, 30, "p1 stale")


def test_non_loopback_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="not a loopback"):
        ScrapeTarget("10.244.0.7:8000", "ns", "p", "llm")


def test_a_missing_binary_names_the_install_command(tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path, binary=tmp_path / "no-prometheus")
    with pytest.raises(
        ComponentError, match=r"install the Debian prometheus package \(make install\)"
    ):
        server.start()
