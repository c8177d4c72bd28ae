"""The envelope below the floor: where the forecast runs under ``minReplicas``' capacity.

The shared envelope is carried by the busy minutes. Applied to the floor it held
``minReplicas`` + 1 all night on BurstGPT's conversation log; the windows that open below
the floor learn their own peaks over their own forecast instead (``deciding._envelope_for``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from forescale.policy import Decision, PolicyState, ScalingParameters, deciding
from forescale.policy.envelope import EnvelopeState

from .support import run
from .test_envelope import CAPACITY, FLASH_PARAMS, flash_rates, replay

PARAMS = ScalingParameters(min_replicas=1, max_replicas=100, capacity_requests_per_second=10.0)


def day_then_night(seed: int = 0) -> list[float]:
    """Per 15 s: two busy hours (60 req/s with bursts to 1.5x every ten minutes), then two
    quiet hours at 2-5 req/s."""
    rng = np.random.default_rng(seed)
    day = [90.0 if step % 40 < 4 else 60.0 for step in range(480)]
    night = list(rng.uniform(2.0, 5.0, 480))
    return day + [float(r) for r in night]


def test_a_quiet_night_after_a_busy_day_runs_min_replicas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The day teaches a 1.5x envelope. At night the forecast is under one replica's
    capacity; planned against the floor with the day's envelope the fleet holds a second
    replica all night (the mechanism off), planned with the night's own envelope it runs
    ``minReplicas``."""
    rates = day_then_night()
    night = run(rates, PARAMS, replicas=6)[-120:]  # the last half hour
    assert {d.desired_replicas for d in night} == {1}, night[-1].reason
    assert "learned below minReplicas' capacity" in night[-1].reason
    assert night[-1].state.floor_envelope.windows >= 100

    shared = run_without_floor_envelope(rates, monkeypatch)[-120:]
    assert {d.desired_replicas for d in shared} == {2}, shared[-1].reason


def run_without_floor_envelope(
    rates: list[float], monkeypatch: pytest.MonkeyPatch
) -> list[Decision]:
    """The same run with the floor's envelope never chosen (the mechanism off)."""
    original = deciding._envelope_for

    def shared_only(state: PolicyState, *rest: Any) -> Any:
        return original(replace(state, floor_envelope=EnvelopeState()), *rest)

    monkeypatch.setattr(deciding, "_envelope_for", shared_only)
    return run(rates, PARAMS, replicas=6)


def test_the_floor_envelope_serves_only_once_it_rests_on_evidence() -> None:
    """Until 100 windows below the floor have closed (for 0.99), the plan there is the
    shared envelope's over the floor."""
    decisions = run(day_then_night(), PARAMS, replicas=6)
    night = decisions[480:]
    before = [d for d in night if d.state.floor_envelope.windows < 100]
    assert before, "the night began with the floor envelope already trusted"
    assert not any("below minReplicas' capacity" in d.reason for d in before)


@pytest.mark.parametrize("idle", [0.0, 0.5])
def test_a_flash_crowd_from_idle_is_provisioned_for_the_next_time(idle: float) -> None:
    """An idle deployment (no requests at all, or one every two seconds) hit twice by a
    crowd of 400 req/s, 40 minutes apart: between them the forecast runs below the floor
    long enough for the floor's envelope to rest on evidence, and it learned the first
    crowd at its full size against the idle forecast (at least one request per rate
    window, so silence is a finite base): it does not lower the plan for the second one,
    which is served from its first second."""
    first, second = 1800, 4200
    rates = flash_rates(4800, [first, second], base=idle, peak=400.0)
    params = replace(FLASH_PARAMS, min_replicas=1)
    learned = replay(rates, params)
    onset = second // 15
    assert learned[first // 15][0] * CAPACITY < 400.0  # the first one was not foreseen
    ready, planned = learned[onset]
    assert ready * CAPACITY >= 400.0, learned[onset - 20 : onset + 1]
    assert planned >= 400.0


def test_the_floor_envelope_is_persisted_and_an_older_state_loads_without_it() -> None:
    decisions = run(day_then_night(), PARAMS, replicas=6)
    state = decisions[-1].state
    restored = PolicyState.from_dict(state.to_dict())
    assert restored.floor_envelope == state.floor_envelope
    older = state.to_dict()
    del older["floor_envelope"]
    assert PolicyState.from_dict(older).floor_envelope == PolicyState().floor_envelope
