"""The reader's failures are typed: Prometheus down, slow, or answering an error.

Down and restarted uses the real Prometheus; slow and erroneous answers come from a
loopback stand-in, because a real Prometheus cannot be made to misbehave on demand.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from forescale.metrics.errors import PrometheusUnavailableError, QueryFailedError
from forescale.metrics.reader import PrometheusReader
from forescale.sandbox.prometheus_server import ScrapeTarget
from tests.integration.prometheus_support import running_prometheus, serving, wait_for
from tests.unit.metrics.fixture_support import fixture_text

pytestmark = pytest.mark.prometheus

LIVE = {"ns/llm": {"p1"}}


def test_stopped_prometheus_is_unavailable_and_a_restart_recovers(tmp_path: Path) -> None:
    with running_prometheus(tmp_path) as prometheus, serving(fixture_text()) as vllm:
        prometheus.add_target(ScrapeTarget(vllm.address, "ns", "p1", "llm"))
        prometheus.wait_until_scraped()
        with PrometheusReader(prometheus.url, window_seconds=5, staleness_seconds=5) as reader:
            assert reader.read(LIVE)["ns/llm"].replicas_reporting == 1
            prometheus.stop()
            with pytest.raises(PrometheusUnavailableError, match="cannot connect"):
                reader.read(LIVE)
            with pytest.raises(PrometheusUnavailableError):
                asyncio.run(reader.read_async(LIVE))
            prometheus.start()
            wait_for(lambda: reader.read(LIVE)["ns/llm"].fresh, 15, "fresh data after restart")
            assert asyncio.run(reader.read_async(LIVE))["ns/llm"].replicas_reporting == 1


def test_a_slow_prometheus_times_out_within_the_budget() -> None:
    with (
        serving("{}", delay_seconds=3) as slow,
        PrometheusReader(slow.url, timeout_seconds=0.5) as reader,
    ):
        started = time.monotonic()
        with pytest.raises(PrometheusUnavailableError, match=r"no answer within 0\.5s"):
            reader.read()
        with pytest.raises(PrometheusUnavailableError, match=r"0\.5s"):
            asyncio.run(reader.read_async())
        assert time.monotonic() - started < 2.9  # neither waited for the slow answer


def test_a_rejected_query_is_a_query_failure() -> None:
    answer = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"})
    with (
        serving(answer, status=400) as bad,
        PrometheusReader(bad.url) as reader,
        pytest.raises(QueryFailedError) as caught,
    ):
        reader.read()
    assert "count by (namespace, llmdeployment, pod)" in caught.value.query


def test_a_server_error_is_unavailability() -> None:
    with (
        serving("overloaded", status=503) as down,
        PrometheusReader(down.url) as reader,
        pytest.raises(PrometheusUnavailableError, match="503"),
    ):
        reader.read()


def test_an_answer_that_is_not_a_query_result_is_a_query_failure() -> None:
    with (
        serving("<html>proxy login</html>") as proxy,
        PrometheusReader(proxy.url) as reader,
        pytest.raises(QueryFailedError, match="not a Prometheus query answer"),
    ):
        reader.read()
