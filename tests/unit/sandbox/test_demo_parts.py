"""The demo's pure parts: the traffic it sends, how it counts, what it prints."""

from __future__ import annotations

from typing import Any

import yaml

from forescale.sandbox.alertmanager_server import routed_alert_lines
from forescale.sandbox.demo import (
    DemoSettings,
    DemoSummary,
    DemoTarget,
    TimelineRow,
    alert_lines,
    event_lines,
    summarize_requests,
)
from forescale.sim.load_plan import parse_curve, plan_from_curve
from tests.conftest import SAMPLES


def test_load_curve_is_steady_spike_steady() -> None:
    settings = DemoSettings(duration_seconds=200, spike_factor=5, base_rate=1)
    curve = parse_curve(settings.load_curve())
    assert curve.rate(10) == 1
    assert curve.rate(settings.spike_at + 1) == 5
    assert curve.rate(settings.spike_at + settings.spike_seconds + 1) == 1
    assert [settings.phase(t) for t in (0, 61, 131)] == ["steady", "spike", "after"]


def test_max_requests_bounds_without_cutting_the_plan() -> None:
    settings = DemoSettings()
    plan = plan_from_curve(
        parse_curve(settings.load_curve()),
        duration=settings.duration_seconds,
        max_requests=10**6,
        prompt_tokens=1,
        output_tokens=1,
        seed=settings.seed,
    )
    assert len(plan) < settings.max_requests() < 5 * len(plan)


def test_default_demo_is_bounded_to_minutes() -> None:
    settings = DemoSettings()
    assert settings.duration_seconds <= 300
    assert 4 <= settings.spike_factor <= 5


def test_target_from_the_demo_sample() -> None:
    manifest = yaml.safe_load((SAMPLES / "llmdeployment-demo.yaml").read_text())
    target = DemoTarget.from_manifest(manifest)
    assert target.name == "llama-demo"
    assert target.model == "llama-demo"
    assert target.ttft_slo_seconds == 1.0
    assert 20 <= target.load_seconds <= 30
    assert manifest["spec"]["scaling"]["policy"] == "predictive"


def test_summary_counts_failures_as_outside_the_slo() -> None:
    records: list[dict[str, Any]] = [
        {"status": "ok", "ttft": 0.1},
        {"status": "ok", "ttft": 0.5},
        {"status": "ok", "ttft": 3.0},
        {"status": "http_503", "ttft": None},
    ]
    summary = summarize_requests(records, slo_seconds=1.0)
    assert (summary.requests, summary.ok, summary.within_slo) == (4, 3, 2)
    assert summary.within_slo_share == 0.5
    assert summary.ttft_p50_ms == 500
    assert summary.ttft_slo_ms == 1000
    assert summary.lines()[1].startswith("within TTFT SLO:   50.0%")


def test_event_lines_are_ordered_and_only_of_llmdeployments() -> None:
    events: list[dict[str, Any]] = [
        {
            "involvedObject": {"kind": "LLMDeployment"},
            "lastTimestamp": "2026-01-01T12:00:09Z",
            "type": "Normal",
            "reason": "ScaledUp",
            "message": "Scaled up from 1 to 3: forecast 5.0 req/s",
            "count": 2,
        },
        {
            "involvedObject": {"kind": "LLMDeployment"},
            "lastTimestamp": "2026-01-01T12:00:01Z",
            "type": "Normal",
            "reason": "Ready",
            "message": "1/1 replicas Ready",
        },
        {"involvedObject": {"kind": "Pod"}, "reason": "Scheduled", "message": "x"},
    ]
    assert event_lines(events) == [
        "12:00:01 Normal Ready: 1/1 replicas Ready",
        "12:00:09 Normal ScaledUp: Scaled up from 1 to 3: forecast 5.0 req/s (x2)",
    ]


def test_timeline_row_line_keeps_columns_and_truncates_reasons() -> None:
    row = TimelineRow(12.0, "spike", 5.04, None, 2, 4, None, None, "x" * 200)
    line = row.line()
    assert line.startswith("   12s  spike     5.0      -   2/4")
    assert line.endswith("...") and len(line) < 160


def test_alert_lines_name_each_alert_once_with_its_states() -> None:
    series = [
        {"metric": {"alertname": "LLMDeploymentSLOBurn", "alertstate": "pending"}},
        {"metric": {"alertname": "LLMDeploymentSLOBurn", "alertstate": "firing"}},
        {"metric": {"alertname": "LLMDeploymentAtMaxReplicas", "alertstate": "pending"}},
    ]
    assert alert_lines(series) == [
        "LLMDeploymentAtMaxReplicas: pending",
        "LLMDeploymentSLOBurn: firing, pending",
    ]
    summary = DemoSummary(alerts=alert_lines(series))
    assert summary.lines()[-5:-2] == [
        "alerts (manifests/prometheus/rules.yaml on the sandbox Prometheus):",
        "  LLMDeploymentAtMaxReplicas: pending",
        "  LLMDeploymentSLOBurn: firing, pending",
    ]
    assert DemoSummary().lines()[-3:] == [
        "  (none pending or firing)",
        "sent to Alertmanager (manifests/prometheus/alertmanager.yaml):",
        "  (none fired)",
    ]


def test_routed_alerts_name_their_receiver_and_state() -> None:
    alerts = [
        {
            "labels": {"alertname": "ForescaleOperatorDown", "severity": "critical"},
            "receivers": [{"name": "forescale-page"}],
            "status": {"state": "active"},
        },
        {
            "labels": {"alertname": "LLMDeploymentReplicasNotReady", "llmdeployment": "a"},
            "receivers": [{"name": "forescale-ticket"}],
            "status": {"state": "suppressed"},
        },
    ]
    summary = DemoSummary(routed=routed_alert_lines(alerts))
    assert summary.lines()[-2:] == [
        "  ForescaleOperatorDown -> forescale-page (active) severity=critical",
        "  LLMDeploymentReplicasNotReady -> forescale-ticket (suppressed) llmdeployment=a",
    ]
