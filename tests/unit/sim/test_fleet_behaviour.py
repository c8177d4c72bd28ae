"""The fleet simulator: cold starts, pending supply, draining scale-down and GPU accounting."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from forescale.sim.fleet import ColdStart, FleetConfig, simulate
from forescale.sim.replica_profiles import get_profile
from forescale.sim.scaler import ScalerInput, ScalerOutput
from forescale.sim.traces import Trace

PROFILE = get_profile("llama-3.1-8b-h100")


@dataclass
class Scripted:
    """Asks for ``plan[t]`` replicas from the last scheduled time <= now; records its views."""

    plan: dict[float, int]
    name: str = "scripted"
    interval_seconds: float = 15.0
    seen: list[ScalerInput] = field(default_factory=list)

    def decide(self, view: ScalerInput) -> ScalerOutput:
        self.seen.append(view)
        due = [t for t in self.plan if t <= view.now]
        return ScalerOutput(self.plan[max(due)] if due else view.counts.desired)


def poisson(rate: float, seconds: float, seed: int = 0) -> Trace:
    rng = np.random.default_rng(seed)
    count = rng.poisson(rate * seconds)
    arrivals = np.sort(rng.uniform(0, seconds, count))
    return Trace("p", arrivals, np.full(count, 300, np.int64), np.full(count, 100, np.int64))


def config(initial: int, cold: float = 60.0) -> FleetConfig:
    return FleetConfig(PROFILE, ColdStart(cold, 0.0), initial_replicas=initial, seed=0)


def test_gpu_hours_integrate_existing_pods_over_the_trace() -> None:
    trace = poisson(2.0, 600.0)
    result = simulate(trace, Scripted({0.0: 3}), config(3))
    assert result.gpu_seconds == pytest.approx(3 * trace.duration, rel=1e-6)
    assert result.scale_events == 0
    assert result.dropped == 0


def test_new_pods_load_for_the_cold_start_and_count_as_pending() -> None:
    scaler = Scripted({0.0: 4})
    result = simulate(poisson(2.0, 300.0), scaler, config(1, cold=60.0))
    timeline = result.timeline
    loading = timeline.time < 55
    assert np.all(timeline.ready[loading] == 1)
    assert np.all(timeline.existing[loading & (timeline.time > 0)] == 4)
    assert np.all(timeline.ready[timeline.time >= 75] == 4)
    # After the first decision (which sees the initial pod only), 3 pods load.
    pending = [v.counts.pending for v in scaler.seen[1:] if v.now < 55]
    assert pending and set(pending) == {3}
    ready_views = [v for v in scaler.seen if v.now >= 75]
    assert all(v.counts.pending == 0 and v.counts.ready == 4 for v in ready_views)
    # The pods' start-up times are reported once, when they become Ready.
    startups = [s for v in scaler.seen for s in v.counts.startup_seconds]
    assert startups == pytest.approx([60.0] * 3)


def test_scale_down_drains_in_flight_requests() -> None:
    """Removing busy replicas mid-trace loses no request: they finish what they hold."""
    trace = poisson(40.0, 300.0)
    result = simulate(trace, Scripted({0.0: 4, 150.0: 2}), config(4))
    assert result.dropped == 0
    assert not np.isnan(result.ttft).any()
    assert result.timeline.existing[-1] == 2
    assert result.gpu_seconds < 4 * trace.duration


def test_same_seed_same_run() -> None:
    trace = poisson(30.0, 300.0)
    a = simulate(trace, Scripted({0.0: 2, 100.0: 5}), config(2))
    b = simulate(trace, Scripted({0.0: 2, 100.0: 5}), config(2))
    assert np.array_equal(a.ttft, b.ttft, equal_nan=True)
    assert a.gpu_seconds == b.gpu_seconds
