"""The alert rules: one source, complete annotations, a runbook each, real metric names.

promtool itself (check and unit tests) runs in tests/integration/test_alert_rules_promtool.py.
"""

from __future__ import annotations

import importlib.util
import math
import re
from typing import Any

import pytest

from tests.unit.manifests.manifest_support import (
    MANIFESTS,
    PROMETHEUS_RULE_FILE,
    PROMTOOL_TESTS,
    REPO,
    RULES_FILE,
    RUNBOOKS,
    known_metric_names,
    load,
    load_all,
    metric_names_in,
)

SEVERITIES = {"critical", "warning", "info"}
RUNBOOK_SECTIONS = ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation")


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in load(RULES_FILE)["groups"] for rule in group["rules"]]


ALERTS = _alerts()
ALERT_IDS = [rule["alert"] for rule in ALERTS]


def test_prometheus_rule_carries_exactly_the_rules_file() -> None:
    (rule,) = load_all(PROMETHEUS_RULE_FILE)
    assert rule["kind"] == "PrometheusRule"
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == load(RULES_FILE)["groups"], (
        "prometheus_rule.yaml differs from rules.yaml: run python manifests/prometheus/sync_rule.py"
    )


def test_prometheus_rule_is_byte_identical_to_its_generator_output() -> None:
    spec = importlib.util.spec_from_file_location(
        "sync_rule", MANIFESTS / "prometheus" / "sync_rule.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert PROMETHEUS_RULE_FILE.read_text() == module.render()


def test_the_expected_alerts_exist_once_each() -> None:
    assert len(ALERT_IDS) == len(set(ALERT_IDS))
    assert {
        "LLMDeploymentSLOBurn",
        "LLMDeploymentAtMaxReplicas",
        "LLMDeploymentScalingHeld",
        "LLMDeploymentPolicyFailed",
        "LLMDeploymentDegraded",
        "LLMDeploymentReplicasNotReady",
        "LLMDeploymentKVCacheSaturated",
        "ForescaleOperatorDown",
    } <= set(ALERT_IDS)


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_alert_has_severity_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    description = annotations["description"]
    if rule["expr"].lstrip().startswith("absent("):
        # absent() yields one label-less sample: the description names what is missing.
        assert 'job="forescale-operator"' in description
    else:
        assert "$labels" in description or "$value" in description, description
    assert re.fullmatch(r"https://\S+/docs/runbooks/" + name + r"\.md", annotations["runbook_url"])
    assert re.fullmatch(r"\d+[smh]", rule["for"]), "every alert waits before firing"


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_runbook_exists_with_every_section(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    path = RUNBOOKS / f"{name}.md"
    assert path.is_file(), f"missing runbook {path}"
    text = path.read_text()
    assert text.startswith(f"# {name}\n")
    positions = [text.find(section) for section in RUNBOOK_SECTIONS]
    assert all(p >= 0 for p in positions), f"{path} lacks one of {RUNBOOK_SECTIONS}"
    assert positions == sorted(positions), "sections out of order"
    assert "```" in text, "the diagnosis gives commands to run"
    assert f"[{name}]({name}.md)" in (RUNBOOKS / "README.md").read_text()


def test_no_runbook_without_an_alert() -> None:
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert pages == set(ALERT_IDS)


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_alert_reads_only_metrics_that_exist(rule: dict[str, Any]) -> None:
    names = metric_names_in(rule["expr"])
    assert names, rule["expr"]
    unknown = names - known_metric_names()
    assert not unknown, f"{rule['alert']} reads metrics nobody exports: {sorted(unknown)}"


def _promtool_cases() -> list[dict[str, Any]]:
    cases = []
    for path in PROMTOOL_TESTS.glob("*.yaml"):
        suite = load(path)
        assert suite["rule_files"] == ["../rules.yaml"]
        for test in suite["tests"]:
            cases += test.get("alert_rule_test", [])
    return cases


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_alert_has_promtool_unit_tests_that_see_it_fire_and_stay_silent(
    rule: dict[str, Any],
) -> None:
    cases = [c for c in _promtool_cases() if c["alertname"] == rule["alert"]]
    assert any(c["exp_alerts"] for c in cases), f"no promtool test shows {rule['alert']} firing"
    assert any(not c["exp_alerts"] for c in cases), f"no promtool test keeps {rule['alert']} silent"


def test_promtool_tests_name_only_existing_alerts() -> None:
    named = {case["alertname"] for case in _promtool_cases()}
    assert named <= set(ALERT_IDS), f"tests for removed alerts: {sorted(named - set(ALERT_IDS))}"


def test_llmdeployment_alerts_keep_the_deployment_labels() -> None:
    per_deployment = [rule for rule in ALERTS if rule["alert"].startswith("LLMDeployment")]
    assert per_deployment, "no LLMDeployment alerts found"
    for rule in per_deployment:
        assert "{{ $labels.llmdeployment }}" in rule["annotations"]["summary"]
        assert "{{ $labels.namespace }}" in rule["annotations"]["summary"]


def _documented_alerts(page: str) -> dict[str, list[str]]:
    """The cells after the alert's name in each row of a page's alert table."""
    rows = {}
    for line in (REPO / page).read_text().splitlines():
        found = re.match(r"\| \[(\w+)\]\([^)]*\.md\) \|(.*)\|$", line)
        if found:
            rows[found.group(1)] = [cell.strip() for cell in found.group(2).split("|")]
    return rows


def _minutes(duration: str) -> int:
    value, unit = int(duration[:-1]), duration[-1]
    return {"s": value // 60, "m": value, "h": value * 60}[unit]


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_the_docs_give_each_alert_its_severity_and_wait(rule: dict[str, Any]) -> None:
    """What an on-call engineer reads before the page comes: the severity and the wait in
    docs/operations.md's alert table and the runbook index, and the wait in the runbook's
    Meaning, are the rule's own (``labels.severity`` and ``for``)."""
    name, minutes = rule["alert"], _minutes(rule["for"])
    severity, fires_when, _ = _documented_alerts("docs/operations.md")[name]
    assert severity == rule["labels"]["severity"], "docs/operations.md, Alerts"
    assert re.search(rf"\bfor {minutes} m\b", fires_when), f"operations.md: {fires_when!r}"
    assert _documented_alerts("docs/runbooks/README.md")[name] == [rule["labels"]["severity"]]
    runbook = (RUNBOOKS / f"{name}.md").read_text()
    meaning = runbook.split("## Meaning", 1)[1].split("## ", 1)[0]
    waits = {int(n) for n in re.findall(r"\bfor (\d+) minutes", meaning, re.IGNORECASE)}
    assert waits == {minutes}, f"{name}.md, Meaning"


def test_every_alert_has_a_row_in_the_docs_tables() -> None:
    for page in ("docs/operations.md", "docs/runbooks/README.md"):
        assert set(_documented_alerts(page)) == set(ALERT_IDS), page


_WORDS = {"one": 1.0, "two": 2.0, "three": 3.0}


_COMPARISON = re.compile(r"([<>]=?|[=!]=)\s*(-?\d+(?:\.\d+)?)(?![\w.])")
"""A comparison with a constant: (operator, constant)."""


def _rule_figures(expr: str) -> tuple[set[float], set[int]]:
    """What a rule compares against (the constants after a comparison operator, and the
    quantile a histogram_quantile takes) and the range windows it reads, in minutes."""
    numbers = {float(n) for _, n in _COMPARISON.findall(expr)}
    numbers |= {float(q) for q in re.findall(r"histogram_quantile\(\s*([\d.]+)", expr)}
    windows = {_minutes(f"{n}{unit}") for n, unit in re.findall(r"\[(\d+)([smh])\]", expr)}
    return numbers, windows


def _prose_figures(text: str) -> tuple[set[float], set[int]]:
    """The thresholds and windows a sentence about an alert states: "above 95 %", "more
    than 1 request", "TTFT p95", "(5 m mean)", "over 5 minutes"."""
    numbers = {float(n) / 100 for n in re.findall(r"(\d+(?:\.\d+)?) ?%", text)}
    numbers |= {float(n) / 100 for n in re.findall(r"\bp(\d{2})\b", text)}
    numbers |= {float(n) / 100 for n in re.findall(r"\b(\d{2})th percentile", text)}
    for n in re.findall(r"\bmore than (\d+(?:\.\d+)?|one|two|three)\b", text):
        numbers.add(_WORDS.get(n) or float(n))
    windows = {int(n) for n in re.findall(r"\((\d+) m\b", text)}
    windows |= {int(n) for n in re.findall(r"\bover (?:the last )?(\d+) minutes", text)}
    return numbers, windows


def _stated_figures(rule: dict[str, Any]) -> list[tuple[str, set[float], set[int]]]:
    name = rule["alert"]
    runbook = (RUNBOOKS / f"{name}.md").read_text()
    meaning = runbook.split("## Meaning", 1)[1].split("## ", 1)[0]
    table = _documented_alerts("docs/operations.md")[name][1]
    annotations = f"{rule['annotations']['summary']} {rule['annotations']['description']}"
    annotations = re.sub(r"\{\{.*?\}\}", "", annotations)  # "{{ $value | humanizePercentage }}"
    return [
        (f"{name}.md, Meaning", *_prose_figures(" ".join(meaning.split()))),
        ("docs/operations.md, Alerts", *_prose_figures(table)),
        (f"{name}, annotations", *_prose_figures(" ".join(annotations.split()))),
    ]


def _misstated(rule: dict[str, Any]) -> list[str]:
    numbers, windows = _rule_figures(rule["expr"])
    wrong = []
    stated = _stated_figures(rule)
    for where, stated_numbers, stated_windows in stated:
        wrong += [
            f"{where}: threshold {n:g} (rule: {sorted(numbers)})"
            for n in stated_numbers
            if not any(math.isclose(n, m) for m in numbers)
        ]
        wrong += [
            f"{where}: window {w} m (rule: {sorted(windows)})" for w in stated_windows - windows
        ]
    bounds = {float(n) for op, n in _COMPARISON.findall(rule["expr"]) if op[0] in "<>"}
    table = stated[1][1]  # the operations.md table's thresholds
    wrong += [
        f"docs/operations.md, Alerts: threshold {n:g} of the rule not stated"
        for n in sorted(bounds - {0.0})
        if not any(math.isclose(n, t) for t in table)
    ]
    return wrong


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_the_docs_state_each_alerts_thresholds_and_windows_as_the_rule_has_them(
    rule: dict[str, Any],
) -> None:
    """The number an on-call engineer reads ("mean KV-cache usage above 95 %", "more than 1
    request queued (5 m mean)", "TTFT p95 (5 m)") is the one in the rule's expression: in
    the runbook's Meaning, the operations.md table and the alert's own annotations. A
    threshold tuned in rules.yaml and not in the prose would page on a number nobody wrote
    down."""
    assert _misstated(rule) == []


def test_a_threshold_changed_in_the_rule_alone_is_caught() -> None:
    (saturated,) = [r for r in ALERTS if r["alert"] == "LLMDeploymentKVCacheSaturated"]
    tuned = {**saturated, "expr": saturated["expr"].replace("> 0.95", "> 0.9")}
    assert "> 0.9\n" in tuned["expr"] or tuned["expr"].rstrip().endswith("> 0.9")
    assert any("threshold 0.95" in wrong for wrong in _misstated(tuned))
    assert any("threshold 0.9 of the rule not stated" in wrong for wrong in _misstated(tuned))
    (queued,) = [r for r in ALERTS if r["alert"] == "LLMDeploymentAtMaxReplicas"]
    rewindowed = {**queued, "expr": queued["expr"].replace("[5m]", "[10m]")}
    assert any("window 5 m" in wrong for wrong in _misstated(rewindowed))
