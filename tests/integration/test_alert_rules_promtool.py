"""The alert rules through the real promtool: syntax, unit tests, and that the tests bite.

promtool ships with Debian's prometheus package (`make system-deps`); without it these
tests FAIL with that reason, they never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tools import system_tool
from tests.unit.manifests.manifest_support import (
    DASHBOARD,
    PROMETHEUS_RULE_FILE,
    PROMTOOL_TESTS,
    RULES_FILE,
    runbook_queries,
)

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module")
def promtool() -> str:
    return system_tool("promtool", "prometheus")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_rules_file_passes_promtool_check(promtool: str) -> None:
    result = _run(promtool, "check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    count = len([r for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]])
    assert f"SUCCESS: {count} rules found" in result.stdout


def test_prometheus_rule_spec_passes_promtool_check(promtool: str, tmp_path: Path) -> None:
    """What prometheus-operator hands Prometheus: the PrometheusRule's groups, as a file."""
    spec = yaml.safe_load(PROMETHEUS_RULE_FILE.read_text())["spec"]
    extracted = tmp_path / "from-prometheusrule.yaml"
    extracted.write_text(yaml.safe_dump(spec))
    result = _run(promtool, "check", "rules", str(extracted))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass(promtool: str) -> None:
    files = sorted(str(p) for p in PROMTOOL_TESTS.glob("*.yaml"))
    assert files
    result = _run(promtool, "test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


MUTATIONS = [
    ("> 0.95", "> 0.99", "LLMDeploymentKVCacheSaturated", "threshold"),
    (">= max by", "> max by", "LLMDeploymentAtMaxReplicas", "ceiling"),
    ("(forescale_ready_replicas)\n      > 0", "(forescale_ready_replicas)\n      > 2",
     "LLMDeploymentReplicasNotReady", "gap"),
    # The target is exported in seconds: reading it as milliseconds never fires.
    ("(forescale_slo_ttft_p95_seconds)", "(forescale_slo_ttft_p95_seconds) * 1000",
     "LLMDeploymentSLOBurn", "target-unit"),
    # Joined on the name alone, same-named deployments in two namespaces collide.
    ("> on (namespace, llmdeployment)\n      (\n        max by (namespace, llmdeployment) ("
     "forescale_slo_ttft_p95_seconds)\n        or\n        max by (namespace, llmdeployment) ("
     "last_over_time",
     "> on (llmdeployment)\n      (\n        max by (llmdeployment) ("
     "forescale_slo_ttft_p95_seconds)\n        or\n        max by (llmdeployment) ("
     "last_over_time",
     "LLMDeploymentSLOBurn", "join-without-namespace"),
    # Without the last known target, an operator outage silences the SLO page.
    ("\n        or\n        max by (namespace, llmdeployment) (last_over_time("
     "forescale_slo_ttft_p95_seconds[1h]))", "", "LLMDeploymentSLOBurn", "no-last-target"),
    # Without max by, two operator replicas exporting a target make the join fail.
    ("max by (namespace, llmdeployment) (forescale_slo_ttft_p95_seconds)",
     "forescale_slo_ttft_p95_seconds", "LLMDeploymentSLOBurn", "target-per-operator-pod"),
    ('type="Degraded"', 'type="Ready"', "LLMDeploymentDegraded", "condition-type"),
    (") == 1", ") >= 0", "LLMDeploymentDegraded", "condition-false"),
    ("max by (namespace, llmdeployment, reason)", "max by (namespace, llmdeployment, reason, pod)",
     "LLMDeploymentDegraded", "per-operator-pod"),
    ("absent(up{job=\"forescale-operator\"} == 1)", "absent(up{job=\"forescale-operator\"})",
     "ForescaleOperatorDown", "healthy-replica"),
    # Fleet-wide only, a shard whose replicas all died pages no one while another is up.
    ("unless on (lease)", "and on (lease)", "ForescaleOperatorDown", "shard-gone"),
    # Matched on labels, the only operator's outage pages twice (fleet-wide and its Lease).
    ("or on ()", "or", "ForescaleOperatorDown", "one-page"),
    # Per replica instead of per Lease, the standby (0) pages while the leader leads.
    ("max by (lease) (forescale_leader{job=\"forescale-operator\"}) == 0",
     "max by (pod) (forescale_leader{job=\"forescale-operator\"}) == 0",
     "ForescaleNoLeader", "per-replica"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "alert"),
    [m[:3] for m in MUTATIONS],
    ids=[f"{m[2]}-{m[3]}" for m in MUTATIONS],
)
def test_unit_tests_catch_a_broken_rule(
    promtool: str, tmp_path: Path, old: str, new: str, alert: str
) -> None:
    """Break one alert in a copy of the rules: the promtool tests must notice."""
    text = RULES_FILE.read_text()
    assert text.count(old) == 1, f"mutation anchor {old!r} must be unique"
    (tmp_path / "rules.yaml").write_text(text.replace(old, new))
    tests = tmp_path / "tests"
    shutil.copytree(PROMTOOL_TESTS, tests)
    result = _run(promtool, "test", "rules", *sorted(str(p) for p in tests.glob("*.yaml")))
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"breaking {alert} went unnoticed:\n{output}"
    # A wrong result names the alert ("alertname: X"), a failed evaluation the rule ("rule: X,").
    named = f"alertname: {alert}" in output or f"rule: {alert}," in output
    assert named, f"the failure names the broken alert:\n{output}"


def _as_recording_rules(queries: list[str]) -> str:
    """Dashboard queries as recording rules, so promtool parses each one."""
    rules = []
    for i, query in enumerate(queries):
        expr = query.replace("$__rate_interval", "5m")
        expr = re.sub(r"\$\{?\w+\}?", ".*", expr)
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    return yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]]
    queries += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(_as_recording_rules(queries))
    result = _run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_a_broken_dashboard_query_would_be_caught(promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(_as_recording_rules(["sum by (namespace (vllm:num_requests_running)"]))
    assert _run(promtool, "check", "rules", str(path)).returncode != 0


def test_every_runbook_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """What an SRE pastes from a runbook parses (NS and NAME are placeholders in strings)."""
    queries = [q for page in runbook_queries().values() for q in page]
    path = tmp_path / "runbook-queries.yaml"
    path.write_text(_as_recording_rules(queries))
    result = _run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout
