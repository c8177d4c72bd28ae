"""The autoscaler step with a fake Prometheus reader: honest counts, no false alarms, a
state that survives a restart. Each test names the issue-12 finding it pins down."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from forescale.api.spec import LLMDeploymentSpec
from forescale.handlers import autoscaling, telemetry
from forescale.handlers.autoscaling import Autoscaler
from forescale.policy import ReplicaCounts
from forescale.resources.owner import Owner
from tests.unit.handlers.fake_reader import KEY, Clock, FakeReader

OWNER = Owner("llm", "ml", "uid", LLMDeploymentSpec.model_validate({"model": {"name": "m"}}))


def _pod(name: str, *, ready: bool = False, unschedulable: bool = False) -> dict[str, Any]:
    conditions = []
    if ready:
        conditions.append(
            {"type": "Ready", "status": "True", "lastTransitionTime": "2023-11-14T22:15:00Z"}
        )
    if unschedulable:
        conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable"})
    phase = "Running" if ready else "Pending"
    return {
        "metadata": {"name": name, "creationTimestamp": "2023-11-14T22:12:00Z"},
        "status": {"phase": phase, "conditions": conditions},
    }


DEPLOYMENT = {"spec": {"replicas": 2}}


def _series_of(llmd: str, names: set[str]) -> set[str]:
    """Which of ``names`` the operator's registry exports for this LLMDeployment."""
    return {
        sample.name
        for metric in telemetry.REGISTRY.collect()
        for sample in metric.samples
        if sample.labels.get("llmdeployment") == llmd and sample.name in names
    }


def tick(
    scaler: Autoscaler,
    body: dict[str, Any],
    deployment: dict[str, Any],
    pods: list[dict[str, Any]],
) -> autoscaling.AutoscalerDecision:
    """What the autoscaler tick does for one deployment: one read, one decision."""
    asyncio.run(scaler.refresh([KEY]))
    return scaler.decide_now(OWNER, body, deployment, pods)


def _warmed() -> tuple[Clock, Autoscaler, list[dict[str, Any]]]:
    """An autoscaler after three ticks of two Ready replicas (it has decided, with metrics)."""
    clock = Clock()
    scaler = Autoscaler(FakeReader(clock), clock=clock)  # type: ignore[arg-type]
    pods = [_pod("a", ready=True), _pod("b", ready=True)]
    for _ in range(3):
        clock.now += 15
        tick(scaler, {}, DEPLOYMENT, pods)
    return clock, scaler, pods


def test_an_unschedulable_pod_is_neither_capacity_nor_loading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding: a Pending pod (no GPU) counted as loading and held scale-down for 90 s+."""
    seen: list[ReplicaCounts] = []
    real = autoscaling.decide

    def spy(*args: Any) -> Any:
        seen.append(args[3])
        return real(*args)

    monkeypatch.setattr(autoscaling, "decide", spy)
    scaler = Autoscaler(FakeReader(), clock=Clock())  # type: ignore[arg-type]
    pods = [_pod("a", ready=True), _pod("b", unschedulable=True)]
    tick(scaler, {}, DEPLOYMENT, pods)
    assert (seen[0].ready, seen[0].pending) == (1, 0)


def test_a_zero_right_after_a_gap_is_not_trusted_until_the_window_refills() -> None:
    """Finding: right after a Prometheus restart, 0.00 req/s was taken as a valid reading."""
    clock = Clock()
    reader = FakeReader(clock)
    scaler = Autoscaler(reader, clock=clock)  # type: ignore[arg-type]
    pods = [_pod("a", ready=True), _pod("b", ready=True)]
    step = OWNER.spec.scaling.interval_seconds

    def decide() -> Any:
        clock.now += step
        return tick(scaler, {}, DEPLOYMENT, pods)

    assert decide().hold_reason is None or "gap" not in (decide().hold_reason or "")
    reader.rate = None  # Prometheus down
    assert "Prometheus unavailable" in (decide().hold_reason or "")
    reader.rate = 0.0  # back, with a half-empty rate window
    held = decide()
    assert held.starved and "not trusted" in (held.hold_reason or "")
    assert scaler.condition(OWNER, held).reason == "MetricsUnavailable"
    clock.now += reader.window_seconds
    trusted = decide()
    assert "not trusted" not in (trusted.hold_reason or "")
    assert not trusted.starved


def test_no_metrics_while_the_first_replica_loads_is_not_an_alarm() -> None:
    """Finding: make demo opened with Warning MetricsUnavailable while the model loaded."""
    clock = Clock()
    reader = FakeReader(clock)
    reader.rate = None
    scaler = Autoscaler(reader, clock=clock)  # type: ignore[arg-type]
    decision = tick(scaler, {}, {"spec": {"replicas": 1}}, [_pod("a")])
    condition = scaler.condition(OWNER, decision)
    assert (condition.status, condition.reason) == ("False", "AwaitingMetrics")
    # ... and the "no usable metrics" alert's series is absent, not 0.
    assert _series_of("llm", {"forescale_metrics_available"}) == set()


def test_policy_state_is_persisted_in_status_and_restored_after_a_restart() -> None:
    """Finding: after kill -9 the forecaster restarted at "1 of 8 samples"."""
    clock = Clock()
    reader = FakeReader(clock)
    first = Autoscaler(reader, clock=clock)  # type: ignore[arg-type]
    pods = [_pod("a", ready=True), _pod("b", ready=True)]
    for _ in range(5):
        clock.now += 15
        decision = tick(first, {}, DEPLOYMENT, pods)
    status = first.status(OWNER, decision, 2, "now").model_dump(by_alias=True, exclude_none=True)
    text = status["policyState"]
    assert json.loads(text)["version"] == autoscaling.PolicyState().to_dict()["version"]
    before = first._tracks[("ml", "llm")].state

    restarted = Autoscaler(reader, clock=clock)  # type: ignore[arg-type]
    body = {"status": {"autoscaling": status}}
    clock.now += 15
    tick(restarted, body, DEPLOYMENT, pods)
    after = restarted._tracks[("ml", "llm")].state
    assert after.forecaster.samples == before.forecaster.samples + 1
    assert after.startup_seconds == before.startup_seconds  # pods not learned twice


@pytest.mark.parametrize("text", ['{"version": 999}', "not json", '["a list"]'])
def test_an_unreadable_persisted_state_starts_fresh(text: str) -> None:
    clock = Clock()
    scaler = Autoscaler(FakeReader(clock), clock=clock)  # type: ignore[arg-type]
    body = {"status": {"autoscaling": {"policyState": text}}}
    decision = tick(scaler, body, DEPLOYMENT, [_pod("a", ready=True)])
    assert decision is not None
    # The Warning (PolicyStateReset) says what was dropped and why, once.
    assert decision.state_reset is not None
    assert decision.state_reset.startswith("Discarded the persisted policy state: ")
    fresh = Autoscaler(FakeReader(Clock()), clock=Clock())  # type: ignore[arg-type]
    unpersisted = tick(fresh, {}, DEPLOYMENT, [_pod("a", ready=True)])
    assert unpersisted is not None and unpersisted.state_reset is None
    # Exactly what an autoscaler without any persisted state holds after the same reading.
    assert scaler._tracks[("ml", "llm")].state == fresh._tracks[("ml", "llm")].state
    clock.now += 15
    again = tick(scaler, body, DEPLOYMENT, [_pod("a", ready=True)])
    assert again is not None and again.state_reset is None


def test_a_policy_that_raises_holds_the_count_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding: a 0 s scale-down window made the policy raise; the exception stopped the
    tick for every deployment behind it and left this one's status silent."""
    clock = Clock()
    scaler = Autoscaler(FakeReader(clock), clock=clock)  # type: ignore[arg-type]
    pods = [_pod("a", ready=True), _pod("b", ready=True)]
    tick(scaler, {}, DEPLOYMENT, pods)
    state = scaler._tracks[("ml", "llm")].state
    labels = {"namespace": "ml", "llmdeployment": "llm"}
    # Exported before any failure, so increase() counts the first one (the registry is
    # the process's, so other tests may have counted for ml/llm before).
    before = telemetry.REGISTRY.get_sample_value("forescale_policy_failures_total", labels)
    assert before is not None
    real = autoscaling.decide

    def broken(*args: Any) -> Any:
        raise ValueError("max() arg is an empty sequence")

    monkeypatch.setattr(autoscaling, "decide", broken)
    clock.now += 15
    with caplog.at_level("ERROR", logger="forescale.autoscaler"):
        held = tick(scaler, {}, DEPLOYMENT, pods)
    assert held.desired == 2  # the Deployment's count, not 0 or min
    assert scaler._tracks[("ml", "llm")].state == state  # nothing learned from a failure
    condition = scaler.condition(OWNER, held)
    assert (condition.status, condition.reason) == ("False", "PolicyFailed")
    assert "ValueError: max() arg is an empty sequence" in condition.message
    assert "holding 2 replicas" in condition.message
    assert any("policy failed for ml/llm" in r.getMessage() for r in caplog.records)
    failures = telemetry.REGISTRY.get_sample_value("forescale_policy_failures_total", labels)
    assert failures == before + 1  # what LLMDeploymentPolicyFailed reads

    monkeypatch.setattr(autoscaling, "decide", real)
    clock.now += 15
    again = tick(scaler, {}, DEPLOYMENT, pods)
    assert again.policy_error is None
    assert scaler.condition(OWNER, again).reason != "PolicyFailed"


def _status_with(
    scaler: Autoscaler, decision: autoscaling.AutoscalerDecision, **forecaster: float
) -> dict[str, Any]:
    """The scaler's persisted status with forecaster fields edited (finite, so it restores)."""
    status = scaler.status(OWNER, decision, 2, "now").model_dump(by_alias=True, exclude_none=True)
    data = json.loads(status["policyState"])
    data["forecaster"].update(forecaster)
    return {"status": {"autoscaling": {**status, "policyState": json.dumps(data)}}}


def test_a_learned_state_the_policy_keeps_raising_on_is_dropped_after_a_rate_window() -> None:
    """Finding (fuzzing the persisted state): a forecaster level of 1e308, finite and so read
    back, made every decision raise OverflowError; the hold kept that state, so the count
    was held for good, with no scale-up for the next spike."""
    clock = Clock()
    reader = FakeReader(clock)
    pods = [_pod("a", ready=True), _pod("b", ready=True)]
    before = Autoscaler(reader, clock=clock)  # type: ignore[arg-type]
    for _ in range(10):
        clock.now += 15
        decision = tick(before, {}, DEPLOYMENT, pods)
    body = _status_with(before, decision, level=1e308)

    scaler = Autoscaler(reader, clock=clock)  # type: ignore[arg-type]
    failures = []
    for _ in range(4):  # 0, 15, 30, 45 s into the failure: a hold keeps the state
        clock.now += 15
        failures.append(tick(scaler, body, DEPLOYMENT, pods))
    assert all(f.policy_error and "OverflowError" in f.policy_error for f in failures)
    assert all(f.state_reset is None and f.desired == 2 for f in failures)
    assert scaler._tracks[("ml", "llm")].state.forecaster.level == 1e308

    clock.now += 15  # one rate window (60 s) of failures: the state is the cause
    reset = tick(scaler, body, DEPLOYMENT, pods)
    assert reset.policy_error is None
    assert reset.state_reset is not None and "OverflowError" in reset.state_reset
    assert "60 s" in reset.state_reset
    assert scaler.condition(OWNER, reset).reason != "PolicyFailed"
    fresh = scaler._tracks[("ml", "llm")].state
    assert fresh.forecaster.level < 1e3  # learned again from the 5 req/s the reader reports
    clock.now += 15
    assert tick(scaler, body, DEPLOYMENT, pods).policy_error is None


def test_a_policy_that_raises_on_a_fresh_state_too_keeps_holding_the_learned_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When a fresh state raises as well, the bug is the policy's: the learned state is
    kept for the fixed version, and the hold goes on."""
    clock, scaler, pods = _warmed()
    learned = scaler._tracks[("ml", "llm")].state

    def broken(*args: Any) -> Any:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(autoscaling, "decide", broken)
    for _ in range(12):  # three rate windows
        clock.now += 15
        held = tick(scaler, {}, DEPLOYMENT, pods)
        assert held.policy_error is not None and held.state_reset is None
    assert scaler._tracks[("ml", "llm")].state == learned


def test_a_reader_that_fails_with_a_bug_holds_every_deployment_and_says_why() -> None:
    """Finding: the read raised ValueError on a NaN pod census (not a PrometheusError), out
    of the tick: no deployment was decided and none said why, tick after tick."""
    clock = Clock()
    reader = FakeReader(clock)
    scaler = Autoscaler(reader, clock=clock)  # type: ignore[arg-type]
    pods = [_pod("a", ready=True), _pod("b", ready=True)]
    clock.now += 15
    tick(scaler, {}, DEPLOYMENT, pods)

    async def broken(deployments: list[str]) -> dict[str, Any]:
        raise ValueError("cannot convert float NaN to integer")

    reader.read_async = broken  # type: ignore[method-assign]
    clock.now += 15
    held = tick(scaler, {}, DEPLOYMENT, pods)
    assert held.desired == 2 and held.starved
    assert "reading Prometheus failed: ValueError" in (held.hold_reason or "")
    assert scaler.condition(OWNER, held).reason == "MetricsUnavailable"


AUTOSCALING_SERIES = {
    "forescale_metrics_available",
    "forescale_observed_arrival_rate",
    "forescale_forecast_arrival_rate",
    "forescale_policy_failures_total",
}


def test_a_deployment_turned_fixed_drops_its_autoscaling_series() -> None:
    """docs/operations.md: ``forescale_metrics_available`` and the rate series are removed
    under ``policy: fixed`` (a 0 there would page for a deployment nobody autoscales)."""
    _, scaler, pods = _warmed()
    exported = _series_of("llm", AUTOSCALING_SERIES)
    assert {"forescale_metrics_available", "forescale_policy_failures_total"} <= exported
    fixed = Owner(
        "llm",
        "ml",
        "uid",
        LLMDeploymentSpec.model_validate(
            {"model": {"name": "m"}, "scaling": {"policy": "fixed"}, "replicas": 2}
        ),
    )
    assert asyncio.run(scaler.decide(fixed, {}, DEPLOYMENT, pods)) is None
    assert _series_of("llm", AUTOSCALING_SERIES) == set()
