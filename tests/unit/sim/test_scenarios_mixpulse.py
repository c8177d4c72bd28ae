"""``mixpulse``: the work per request changes for a while at a flat rate, then changes back."""

from __future__ import annotations

import pytest

from forescale.sim import scenarios


def test_mixpulse_doubles_the_outputs_for_a_while_then_returns_them() -> None:
    """Outputs double from 0.3 to 0.6 of the duration at the same flat rate, and come back:
    the case of a capacity lowered at a heavy mix that must rise again (round 17)."""
    duration = 1800.0
    trace = scenarios.synthesize("mixpulse", 40.0, duration, seed=3)
    at = trace.arrivals / duration
    before, during, after = at < 0.3, (at >= 0.3) & (at < 0.6), at >= 0.6
    outputs = trace.output_tokens
    assert outputs[during].mean() / outputs[before].mean() == pytest.approx(2.0, rel=0.1)
    assert outputs[after].mean() / outputs[before].mean() == pytest.approx(1.0, rel=0.1)
    for part in (before, during, after):
        seconds = (at[part].max() - at[part].min()) * duration
        assert part.sum() / seconds == pytest.approx(20.0, rel=0.1)
