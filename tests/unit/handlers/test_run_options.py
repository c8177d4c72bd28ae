"""`forescale run` refuses, before anything starts, what would leave it serving nothing."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import kopf
import pytest
from click.testing import CliRunner

from forescale.handlers import configuring
from forescale.handlers.cli import run, shard_lease_problem
from forescale.metrics import promql


def test_a_shard_lease_carries_the_shard_name() -> None:
    assert shard_lease_problem("a", "forescale-system/forescale-a") is None
    assert shard_lease_problem("team-a", "ops/team-a-leader") is None
    assert shard_lease_problem("", "forescale-system/forescale") is None  # unsharded
    assert shard_lease_problem("a", None) is None  # no leader election


def test_a_shard_on_the_shared_lease_is_refused_with_the_fix() -> None:
    """The manager Deployment copied with only ``--shard`` changed: two shards would elect
    one leader between them and the other's LLMDeployments would go unserved."""
    problem = shard_lease_problem("b", "forescale-system/forescale")
    assert problem is not None
    assert "--leader-elect forescale-system/forescale-b" in problem
    assert shard_lease_problem("ab", "forescale-system/forescale-b") is not None


def test_the_cli_stops_before_it_starts() -> None:
    result = CliRunner().invoke(
        run,
        ["--all-namespaces", "--shard", "b", "--leader-elect", "forescale-system/forescale"],
    )
    assert result.exit_code == 2, result.output
    assert "shards sharing a Lease elect one leader" in result.output


def test_namespaces_and_all_namespaces_together_are_refused_by_name() -> None:
    """kopf refused the pair only once running, with a TypeError traceback."""
    result = CliRunner().invoke(run, ["--namespace", "a", "--all-namespaces"])
    assert result.exit_code == 2, result.output
    assert "--namespace NS (repeatable) or --all-namespaces, not both" in result.output


def test_bad_operator_settings_stop_the_start_with_the_reason() -> None:
    """docs/operations.md: an invalid FORESCALE_MONITOR_LABELS stops the operator at start
    (before, kopf's startup logged it and retried every minute, serving nothing)."""
    result = CliRunner().invoke(
        run, ["--all-namespaces"], env={"FORESCALE_MONITOR_LABELS": "bad key!=x"}
    )
    assert result.exit_code == 2, result.output
    assert "FORESCALE_MONITOR_LABELS" in result.output and "bad key!=x" in result.output


def test_a_bad_setting_read_at_startup_ends_the_process_with_the_reason(
    tmp_path: Path,
) -> None:
    """kopf retries a failed startup activity every minute, an operator up and serving
    nothing; a setting that cannot be read ends the process instead (no cluster needed:
    the startup activity runs before any watch)."""
    env = {
        **os.environ,
        "FORESCALE_RECONCILE_SECONDS": "five",
        "KUBECONFIG": str(tmp_path / "none"),
    }
    result = subprocess.run(
        [
            sys.executable, "-m", "forescale", "run", "--all-namespaces", "--metrics-port", "0",
            "--liveness-endpoint", "http://127.0.0.1:0/healthz",
        ],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "FORESCALE_RECONCILE_SECONDS must be a number of seconds above 0, got 'five'" in (
        result.stdout + result.stderr
    )


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("FORESCALE_RECONCILE_SECONDS", "0"),  # a tick without pause: the loop spins
        ("FORESCALE_RECONCILE_SECONDS", "nan"),
        ("FORESCALE_RESYNC_SECONDS", "0"),  # every tick divided by zero and failed
        ("FORESCALE_RESYNC_SECONDS", "-600"),
        ("FORESCALE_RATE_WINDOW_SECONDS", "0"),  # every Prometheus read refused
        ("FORESCALE_RATE_WINDOW_SECONDS", "inf"),
    ],
)
def test_a_duration_that_is_a_number_but_not_a_usable_one_stops_the_start(
    env: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/operations.md: a setting the operator cannot use stops it at start with the
    reason. These parse as numbers, so before they were checked the operator started and
    served nothing: a 0 s tick spun the event loop, a 0 s resync raised ZeroDivisionError in
    every tick, a 0 s rate window failed every read (held as MetricsUnavailable forever)."""

    def started(**_: object) -> None:
        raise AssertionError(f"kopf started with {env}={value}")

    monkeypatch.setattr(kopf, "run", started)
    result = CliRunner().invoke(run, ["--all-namespaces", "--metrics-port", "0"], env={env: value})
    assert result.exit_code == 2, result.output
    assert f"{env} must be a number of seconds above 0, got '{value}'" in result.output


def test_the_startup_activity_refuses_an_unusable_duration_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the command's check (kopf run on the handlers), the startup activity still
    ends the operator: a PermanentError, not kopf's retry every minute."""
    monkeypatch.setenv(configuring.RESYNC_ENV, "0")
    with pytest.raises(kopf.PermanentError, match="FORESCALE_RESYNC_SECONDS must be a number"):
        asyncio.run(configuring.configure(settings=kopf.OperatorSettings(), memo=kopf.Memo()))


def test_a_namespace_shard_reads_only_its_namespaces_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/operations.md, sharding by namespace: the namespaces ``forescale run`` serves
    reach the reader, and every query it sends selects only them."""
    monkeypatch.setenv(configuring.NAMESPACES_ENV, "team-a-prod,team-a-dev")
    reader = configuring.prometheus_reader("http://127.0.0.1:9", 60.0)
    assert reader is not None
    try:
        queries = promql.observation_queries(reader.window_seconds, reader.namespaces)
    finally:
        reader.close()
    assert queries
    for query in queries.values():
        assert re.search(r'namespace=~"(team-a-prod\|team-a-dev|team-a-dev\|team-a-prod)"', query)
    monkeypatch.setenv(configuring.NAMESPACES_ENV, "")  # --all-namespaces
    everywhere = configuring.prometheus_reader("http://127.0.0.1:9", 60.0)
    assert everywhere is not None and everywhere.namespaces is None
    everywhere.close()
    assert configuring.prometheus_reader(None, 60.0) is None
