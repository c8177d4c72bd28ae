"""The autoscaler tick: one read for the fleet, passes only where something changes."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.fleet_view import FleetView
from forescale.handlers.ticking import RETRY_BEHIND_SECONDS, Ticker
from forescale.metrics.observation import Observation
from forescale.metrics.reader import PrometheusReader


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class FakeReader:
    """Counts batched reads; every deployment reports one idle, fresh replica."""

    def __init__(self, clock: Clock) -> None:
        self.reads: list[list[str]] = []
        self.clock = clock

    async def read_async(self, deployments: list[str]) -> dict[str, Observation]:
        self.reads.append(list(deployments))
        return {
            key: Observation(
                deployment=key,
                timestamp=self.clock(),
                replicas_reporting=1,
                arrival_rate=0.0,
                waiting=0.0,
            )
            for key in deployments
        }


def _llmd(name: str, policy: str = "predictive", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": name, "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "model": {"name": "m"},
            "scaling": {"policy": policy, "minReplicas": 1, "maxReplicas": 3},
        },
        "status": status,
    }


def _fleet(count: int, policy: str = "predictive") -> tuple[FleetView, FakeReader, Clock]:
    view = FleetView()
    for i in range(count):
        view.llmdeployment_seen(_llmd(f"m{i}", policy))
        view.deployment_seen("ns", f"m{i}", {"spec": {"replicas": 1}})
    clock = Clock()
    return view, FakeReader(clock), clock


def _ticker(view: FleetView, reader: FakeReader, clock: Clock) -> tuple[Ticker, list[str]]:
    passes: list[str] = []
    autoscaler = Autoscaler(cast(PrometheusReader, reader), clock=clock)
    ticker = Ticker(
        view,
        autoscaler,
        lambda ns, name: passes.append(f"{ns}/{name}"),
        interval=5,
        resync_seconds=600,
        clock=clock,
    )
    return ticker, passes


def _write_status_as_a_pass_would(ticker: Ticker, view: FleetView) -> None:
    """What the reconciler writes for the tick's decision, seen back through the watch."""
    for key in view.llmdeployments():
        owner = view.owner(key)
        assert owner is not None
        decision = asyncio.run(ticker.autoscaler.decide(owner, {}, None, []))
        condition = ticker.autoscaler.condition(owner, decision)
        status = {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready", "message": ""},
                {
                    "type": condition.type,
                    "status": condition.status,
                    "reason": condition.reason,
                    "message": condition.message,
                },
            ],
            "autoscaling": ticker.autoscaler.status(
                owner, decision, 1, "2026-01-01T00:00:00Z"
            ).model_dump(by_alias=True, exclude_none=True),
        }
        body = view.body(key)
        assert body is not None
        view.llmdeployment_seen({**body, "status": status})


def test_one_read_serves_the_whole_fleet() -> None:
    view, reader, clock = _fleet(50)
    ticker, _ = _ticker(view, reader, clock)
    report = asyncio.run(ticker.tick())
    assert report.decided == 50
    assert len(reader.reads) == 1
    assert len(reader.reads[0]) == 50


def test_a_quiet_fleet_costs_no_pass_and_no_read_between_intervals() -> None:
    view, reader, clock = _fleet(20)
    ticker, passes = _ticker(view, reader, clock)
    asyncio.run(ticker.tick())
    assert len(passes) == 20  # first decisions: the condition and status are new
    _write_status_as_a_pass_would(ticker, view)
    passes.clear()
    clock.now += 5  # inside the 15 s control interval: nothing is due
    report = asyncio.run(ticker.tick())
    assert (report.decided, passes, len(reader.reads)) == (0, [], 1)
    clock.now += 15  # due again, nothing changed: a read, decisions, no pass
    report = asyncio.run(ticker.tick())
    assert report.decided == 20
    assert len(reader.reads) == 2
    assert passes == []


def test_fixed_policies_are_never_read_or_decided() -> None:
    view, reader, clock = _fleet(5, policy="fixed")
    ticker, passes = _ticker(view, reader, clock)
    report = asyncio.run(ticker.tick())
    assert (report.decided, reader.reads, passes) == (0, [], [])


def test_a_degraded_deployment_is_retried_every_interval() -> None:
    """Watches cannot see a Secret appear: Degraded is retried level-based."""
    view, reader, clock = _fleet(0)
    degraded = {"type": "Degraded", "status": "True", "reason": "MissingSecret", "message": ""}
    view.llmdeployment_seen(_llmd("broken", "fixed", observedGeneration=1, conditions=[degraded]))
    ticker, passes = _ticker(view, reader, clock)
    asyncio.run(ticker.tick())
    assert passes == []  # just seen: its own create event triggered a pass
    clock.now += 5
    asyncio.run(ticker.tick())
    assert passes == ["ns/broken"]


def test_a_status_behind_its_generation_is_retried_after_a_while() -> None:
    view, reader, clock = _fleet(0)
    view.llmdeployment_seen(_llmd("lagging", "fixed"))
    ticker, passes = _ticker(view, reader, clock)
    asyncio.run(ticker.tick())
    clock.now += RETRY_BEHIND_SECONDS - 1
    asyncio.run(ticker.tick())
    assert passes == []
    clock.now += 1
    asyncio.run(ticker.tick())
    assert passes == ["ns/lagging"]


def test_a_pass_applies_the_ticks_decision_once() -> None:
    view, reader, clock = _fleet(1)
    ticker, passes = _ticker(view, reader, clock)
    asyncio.run(ticker.tick())
    assert passes == ["ns/m0"]
    owner = view.owner(("ns", "m0"))
    assert owner is not None
    first = asyncio.run(ticker.autoscaler.decide(owner, {}, None, []))
    again = asyncio.run(ticker.autoscaler.decide(owner, {}, None, []))
    assert first is not None and first.desired is not None
    assert again is not None and again.desired is None  # later passes hold what is there


def test_one_deployments_failure_does_not_stop_the_tick_for_the_others() -> None:
    view, reader, clock = _fleet(3)
    ticker, _ = _ticker(view, reader, clock)
    real = ticker.autoscaler.decide_now

    def failing_for_m0(owner: Any, *args: Any) -> Any:
        if owner.name == "m0":
            raise RuntimeError("a bug in m0's step")
        return real(owner, *args)

    ticker.autoscaler.decide_now = failing_for_m0  # type: ignore[method-assign]
    asyncio.run(ticker.tick())
    decided = {name for (_, name), track in ticker.autoscaler._tracks.items() if track.last}
    assert decided == {"m1", "m2"}
