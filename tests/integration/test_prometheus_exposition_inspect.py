"""``forescale inspect-metrics --url`` against a real sim-server process on loopback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.prometheus_support import forescale_argv, free_port, sim_replica

pytestmark = pytest.mark.prometheus


def test_inspects_a_live_replica_speaking_both_metric_generations(tmp_path: Path) -> None:
    with sim_replica(tmp_path, "inspect-0", model="org/model-x", legacy_names=True) as replica:
        result = subprocess.run(
            forescale_argv("inspect-metrics", "--url", f"{replica.url}/metrics", "--json"),
            capture_output=True,
            text=True,
            timeout=60,
            env={"PYTHONPATH": str(REPO / "operator"), "PATH": "/usr/bin:/bin"},
            check=False,
        )
    assert result.returncode == 0, result.stderr
    [model] = json.loads(result.stdout)
    assert model["model"] == "org/model-x"
    assert model["running"] == 0.0
    assert model["missing"] == []
    # Both KV-cache and inter-token names are exposed: the current ones win.
    assert model["sources"]["kv_cache_usage"] == "vllm:kv_cache_usage_perc"
    assert model["sources"]["inter_token_latency"] == "vllm:inter_token_latency_seconds"
    assert model["requests_by_reason"] == {"stop": 0.0, "length": 0.0, "abort": 0.0}


def test_an_unreachable_url_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    result = subprocess.run(
        forescale_argv("inspect-metrics", "--url", url, "--timeout", "2"),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO / "operator"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 1
    assert f"cannot read {url}" in result.stderr
