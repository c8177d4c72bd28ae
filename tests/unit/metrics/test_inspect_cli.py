"""``forescale inspect-metrics`` on a saved scrape: table, JSON and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from forescale.cli import main
from tests.unit.metrics.fixture_support import MODEL, VLLM_SCRAPE


def test_table_shows_each_signal_and_the_fallback_used() -> None:
    result = CliRunner().invoke(main, ["inspect-metrics", "--file", str(VLLM_SCRAPE)])
    assert result.exit_code == 0, result.output
    assert f"model {MODEL} (1 engine)" in result.output
    assert "requests            stop=6 length=0 abort=0" in result.output
    assert "inter_token_latency read from older name vllm:time_per_output_token_seconds" in (
        result.output
    )
    ttft_row = next(line for line in result.output.splitlines() if line.strip().startswith("ttft"))
    assert ttft_row.split()[1:] == ["6", "0.0350", "0.0570", "0.0594"]


def test_json_output_carries_quantiles_and_missing() -> None:
    result = CliRunner().invoke(main, ["inspect-metrics", "--file", str(VLLM_SCRAPE), "--json"])
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.output)
    assert model["model"] == MODEL
    assert model["generation_tokens"] == 1739.0
    assert model["latency"]["e2e_latency"]["p95"] == pytest.approx(14.25)
    assert model["missing"] == []


def test_malformed_scrape_fails_naming_the_line(tmp_path: Path) -> None:
    scrape = tmp_path / "bad.txt"
    scrape.write_text('vllm:num_requests_running{model_name="m"} 1\nvllm:oops{ 2\n')
    result = CliRunner().invoke(main, ["inspect-metrics", "--file", str(scrape)])
    assert result.exit_code == 1
    assert "line 2:" in result.output
    assert "vllm:oops{ 2" in result.output


def test_a_scrape_without_vllm_series_is_an_error(tmp_path: Path) -> None:
    scrape = tmp_path / "other.txt"
    scrape.write_text("process_open_fds 44\n")
    result = CliRunner().invoke(main, ["inspect-metrics", "--file", str(scrape)])
    assert result.exit_code == 1
    assert "no vllm: series" in result.output


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--url", "http://127.0.0.1:1/metrics", "--file", str(VLLM_SCRAPE)],
        ["--url", "file:///etc/passwd"],
    ],
)
def test_source_must_be_one_file_or_one_http_url(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["inspect-metrics", *args])
    assert result.exit_code == 2, result.output
