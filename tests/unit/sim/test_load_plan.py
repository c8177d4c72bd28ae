"""Load plans: rate curves, Poisson arrivals, trace replay."""

from __future__ import annotations

import pytest

from forescale.sim.load_plan import parse_curve, plan_from_curve, plan_from_trace


def test_curves_give_the_documented_rates() -> None:
    step = parse_curve("step:from=2,to=10,at=30")
    assert (step.rate(29.9), step.rate(30.0)) == (2.0, 10.0)
    ramp = parse_curve("ramp:from=0,to=10,start=10,end=20")
    assert (ramp.rate(5), ramp.rate(15), ramp.rate(25)) == (0.0, 5.0, 10.0)
    spike = parse_curve("spike:base=1,peak=50,at=5,duration=2")
    assert (spike.rate(4.9), spike.rate(6.9), spike.rate(7.0)) == (1.0, 50.0, 1.0)


@pytest.mark.parametrize(
    "text", ["wave:rate=1", "step:from=1,to=2", "constant:rate=x", "ramp:from=1,to=2,start=5,end=5"]
)
def test_malformed_curves_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_curve(text)


def test_poisson_arrivals_follow_the_curve_and_the_bounds() -> None:
    curve = parse_curve("step:from=10,to=40,at=50")
    plan = plan_from_curve(
        curve, duration=100, max_requests=10_000, prompt_tokens=5, output_tokens=6, seed=1
    )
    before = sum(1 for p in plan if p.at < 50)
    assert 400 < before < 600
    assert 1700 < len(plan) - before < 2300
    assert plan == plan_from_curve(
        curve, duration=100, max_requests=10_000, prompt_tokens=5, output_tokens=6, seed=1
    )
    capped = plan_from_curve(curve, duration=100, max_requests=7, prompt_tokens=5, output_tokens=6)
    assert len(capped) == 7


def test_azure_trace_rows_replay_relative_and_compressed() -> None:
    lines = [
        "TIMESTAMP,ContextTokens,GeneratedTokens",
        "2023-11-16 18:17:03.9799600,4808,10",
        "2023-11-16 18:17:05.9799600,3180,8",
        "2023-11-16 18:17:09.9799600,110,27",
    ]
    plan = plan_from_trace(lines, time_scale=2.0, duration=2.5, max_requests=10)
    assert [(round(p.at, 6), p.prompt_tokens, p.output_tokens) for p in plan] == [
        (0.0, 4808, 10),
        (1.0, 3180, 8),
    ]
    with pytest.raises(ValueError, match="Tokens"):
        plan_from_trace(["t,a,b", "1,2,3"], time_column="t", duration=9, max_requests=9)
