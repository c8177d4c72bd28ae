"""The sim-server's ``vllm:cache_config_info``: what the KV runbook reads a cache's size from.

In each mode it is the info gauge of the release the mode imitates (the pin by default,
0.10.1 with ``legacy_names``): labels exactly those the release's wheel gives it (read by
``forescale.vllm_contract.wheel``; a missing wheel fails with the command that fetches it),
and ``num_gpu_blocks`` x ``block_size`` the capacity the replica runs on. The legacy mode
is also held to a real 0.10 scrape, value by value.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from forescale.sim.replica_profiles import LLAMA_3_1_8B_H100, get_profile
from forescale.sim.server_cli import sim_server
from forescale.sim.server_metrics import (
    CACHE_CONFIG_INFO,
    CacheConfigInfo,
    ServerMetrics,
    cache_config_info,
)
from forescale.vllm_contract.fetch import cached_wheel
from forescale.vllm_contract.release import OLDEST_VLLM_VERSION, VLLM_VERSION
from forescale.vllm_contract.wheel import VllmFacts, read_wheel
from tests.unit.metrics.fixture_support import fixture_text

MODES = {False: VLLM_VERSION, True: OLDEST_VLLM_VERSION}
"""``legacy_names`` -> the release the mode imitates."""


def _facts(version: str) -> VllmFacts:
    wheel = cached_wheel(version)
    if wheel is None:
        pytest.fail(f"no vllm {version} wheel cached: run `make vllm-wheels`")
    return read_wheel(wheel)


def _exposed(metrics: ServerMetrics) -> dict[str, str]:
    """The labels of the one ``vllm:cache_config_info`` sample, which must be a gauge at 1."""
    text = metrics.exposition().decode()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == CACHE_CONFIG_INFO]
    assert family.type == "gauge"
    [sample] = family.samples
    assert sample.value == 1.0
    return dict(sample.labels)


@pytest.mark.parametrize("legacy", [False, True], ids=["pinned", "legacy"])
def test_the_info_gauge_is_the_imitated_releases(legacy: bool) -> None:
    """Label names equal the wheel's (CacheConfig's attributes plus ``engine``), and the
    size is the default profile's cache in the release's blocks."""
    info = cache_config_info(legacy_names=legacy)
    assert info.release == MODES[legacy]
    profile = info.whole_blocks(LLAMA_3_1_8B_H100)
    labels = _exposed(
        ServerMetrics("m", kv_cache_tokens=profile.kv_cache_tokens, legacy_names=legacy)
    )
    wheel_labels = _facts(info.release).metrics[CACHE_CONFIG_INFO].labels
    assert wheel_labels is not None
    assert set(labels) == wheel_labels
    assert int(labels["num_gpu_blocks"]) * int(labels["block_size"]) == profile.kv_cache_tokens
    assert labels["engine"] == "0"


def test_the_pinned_release_shows_64_token_blocks_and_measured_memory() -> None:
    """0.34's 64-token blocks do not divide the profile's 430,000 tokens: the replica holds
    the 6,718 whole blocks (429,952 tokens), and the capacity labels agree with each other;
    no memory share was given, which vLLM prints as ``None``."""
    info = cache_config_info(legacy_names=False)
    profile = info.whole_blocks(LLAMA_3_1_8B_H100)
    assert profile.kv_cache_tokens == 429_952
    labels = _exposed(ServerMetrics("m", kv_cache_tokens=429_952))
    assert labels["block_size"] == "64"
    assert labels["num_gpu_blocks"] == "6718"
    assert labels["kv_cache_size_tokens"] == "429952"
    assert labels["effective_attention_block_size"] == "64"
    assert labels["gpu_memory_utilization"] == "None"


def test_the_legacy_mode_is_a_real_0_10_scrape_but_for_the_cache_size() -> None:
    """Every label and value of the fixture's ``vllm:cache_config_info`` (vLLM ~0.10 on a
    real GPU), except ``num_gpu_blocks``, which is each replica's own: there 850 blocks,
    here the profile's 430,000 tokens in 16-token blocks (exactly 26,875)."""
    line = next(ln for ln in fixture_text().splitlines() if ln.startswith(CACHE_CONFIG_INFO))
    real = dict(re.findall(r'(\w+)="([^"]*)"', line))
    assert real["num_gpu_blocks"] == "850"
    info = cache_config_info(legacy_names=True)
    assert info.whole_blocks(LLAMA_3_1_8B_H100) == LLAMA_3_1_8B_H100
    labels = _exposed(ServerMetrics("m", kv_cache_tokens=430_000, legacy_names=True))
    assert labels.pop("num_gpu_blocks") == "26875"
    assert labels == {k: v for k, v in real.items() if k != "num_gpu_blocks"}


def test_engine_fields_must_be_config_fields() -> None:
    """The label names live in ``fields`` alone: a figure the engine sets on a field the
    release's config does not have is refused rather than added as a label."""
    with pytest.raises(ValueError, match=r"0.10.1's CacheConfig has no field \['kv_cache_size"):
        CacheConfigInfo("0.10.1", {"block_size": "16"}, ("kv_cache_size_tokens",))


def test_a_capacity_that_is_not_whole_blocks_is_refused() -> None:
    with pytest.raises(ValueError, match="430000 KV-cache tokens are not whole 64-token blocks"):
        ServerMetrics("m", kv_cache_tokens=430_000)
    with pytest.raises(ValueError, match="60 tokens holds no 64-token block"):
        cache_config_info(legacy_names=False).whole_blocks(
            get_profile("llama-3.1-8b-h100", kv_cache_tokens=60)
        )


def test_the_cli_refuses_a_cache_without_a_whole_block_before_loading() -> None:
    """Like vLLM, which stops when no KV block fits; here before the simulated load."""
    result = CliRunner().invoke(
        sim_server, ["--set", "kv_cache_tokens=60", "--load-seconds", "600"]
    )
    assert result.exit_code == 2
    assert "a KV cache of 60 tokens holds no 64-token block" in result.output
