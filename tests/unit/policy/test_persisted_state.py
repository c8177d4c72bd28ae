"""The state the operator persists in ``status.autoscaling.policyState`` and reads back.

After a restart the policy goes on from that text, so two things must hold: a state written
by the operator (rounded to four decimals) decides as well as the one in memory did, and a
text the operator did not write as such (edited by hand with ``kubectl edit --subresource
status``, or by a tool that writes JSON's non-standard ``NaN``/``Infinity``), or one that
holds a negative rate, count or duration, is refused as a whole, never half-read and never a
crash. A refused state starts fresh (the handler's tests); a number that is finite, of the
right sign, but absurd is the handler's ``PolicyStateReset`` to catch
(``tests/unit/handlers/test_autoscaler_accounting.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from forescale.api.status import AutoscalingStatus
from forescale.handlers.autoscaling import _encode_state, read_state
from forescale.policy import PolicyState, ReplicaCounts, ScalingParameters, decide
from forescale.policy.season import SeasonState, observe

from .support import observation, run
from .test_decision_properties import replay, specs, steps


def _persisted(state: PolicyState) -> dict[str, Any]:
    return {"status": {"autoscaling": {"policyState": _encode_state(state)}}}


def _learned() -> PolicyState:
    """A state with every part learned: forecaster past its warm-up, closed envelope
    windows, capacity, tokens per request, cold starts, recommendations."""
    rates = [
        20.0 + 15.0 * math.sin(step / 6) + (40.0 if step % 23 == 0 else 0.0) for step in range(80)
    ]
    decisions = run(
        rates,
        ScalingParameters(capacity_requests_per_second=10.0, capacity_tokens_per_second=900.0),
        startups={3: (170.0, 190.0), 40: (185.0,)},
    )
    state = decisions[-1].state
    assert state.envelope.windows > 0 and state.tokens_per_request is not None
    # These rates stay above the floor: the envelope below it is given the same history.
    return replace(state, floor_envelope=state.envelope)


def _numbers(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The path of every number in a persisted state."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, (*path, index))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: object) -> None:
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@pytest.mark.parametrize("spelling", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_number_anywhere_in_the_persisted_state_refuses_it(spelling: str) -> None:
    """Finding: ``saturated_ready: Infinity`` raised OverflowError out of the restore (not the
    ValueError it catches), and a NaN level or capacity was read back and decided on."""
    text = _encode_state(_learned())
    paths = list(_numbers(json.loads(text)))
    assert len(paths) > 50  # the walk reaches the histogram, the windows, the histories
    for path in paths:
        data = json.loads(text)
        _set(data, path, "__SPELLING__")
        edited = json.dumps(data).replace('"__SPELLING__"', spelling)
        restored = read_state({"status": {"autoscaling": {"policyState": edited}}})[0]
        assert restored is None, f"{'/'.join(map(str, path))} = {spelling} was read back"


#: Numbers a state may hold below zero: times (coordinates, not amounts), the forecaster's
#: level, trend and seasonal offsets (a falling trend takes the level below zero), the
#: format version and the season's cycle index.
_SIGNED = {
    ("version",),
    ("last_observation_at",),
    ("first_observation_at",),
    ("envelope", "updated_at"),
    ("floor_envelope", "updated_at"),
    ("forecaster", "level"),
    ("forecaster", "trend"),
    ("forecaster", "season"),
    ("forecaster", "warmup"),
    ("season", "cycle"),
}
#: Rows whose first entry is a time.
_TIMED_ROWS = {
    ("arrival_history",),
    ("noise_history",),
    ("recommendations",),
    ("scale_ups",),
    ("scale_downs",),
    ("envelope", "open"),
    ("floor_envelope", "open"),
}


def _signed(path: tuple[str | int, ...]) -> bool:
    names = tuple(key for key in path if isinstance(key, str))
    return names in _SIGNED or (names in _TIMED_ROWS and path[-1] == 0)


def test_a_negative_amount_anywhere_in_the_persisted_state_refuses_it() -> None:
    """Finding: a hand-edited ``capacity_requests_per_second: -5`` was read back, the policy
    fell back to the spec's seed (8 replicas where the learned capacity ran 3), and a negative
    ``queue_holders`` or ``saturated_requests_per_second`` switched the backlog term off, all
    without a word. Every rate, count, capacity, weight and duration is at least zero; a
    state holding a negative one is refused whole, as a non-finite number is."""
    text = _encode_state(_learned())
    amounts = [path for path in _numbers(json.loads(text)) if not _signed(path)]
    assert {path[0] for path in amounts} >= {
        "capacity_requests_per_second",
        "envelope",
        "floor_envelope",
        "season",
        "arrival_history",
        "queue_holders",
        "startup_seconds",
        "recommendations",
    }
    for path in amounts:
        data = json.loads(text)
        _set(data, path, -1)
        restored = read_state({"status": {"autoscaling": {"policyState": json.dumps(data)}}})[0]
        assert restored is None, f"{'/'.join(map(str, path))} = -1 was read back"


def test_the_state_as_persisted_decides_like_the_state_in_memory() -> None:
    """Rounding to four decimals (the persisted form) changes no decision of a learned
    state: a restart mid-run scales as the run without it would have."""
    state = _learned()
    restored = read_state(_persisted(state))[0]
    assert restored is not None
    params = ScalingParameters(capacity_requests_per_second=10.0, capacity_tokens_per_second=900.0)
    replicas = 4
    for step, rate in enumerate([25.0, 31.0, 90.0, 60.0, 12.0, 12.0, 11.0]):
        now = (80 + step) * 15.0
        counts = ReplicaCounts(replicas, replicas)
        kept = decide([observation(now, rate, replicas)], state, params, counts, now)
        again = decide([observation(now, rate, replicas)], restored, params, counts, now)
        assert again.desired_replicas == kept.desired_replicas, (step, kept.reason, again.reason)
        state, restored, replicas = kept.state, again.state, kept.desired_replicas


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs, steps)
def test_a_state_restored_at_every_step_decides_within_bounds(
    raw: dict[str, Any], readings: list[dict[str, Any]]
) -> None:
    """An operator restarted at every decision (the state always read back from its
    persisted, rounded text): no exception, a count within bounds, a state that restores."""

    def restarted(state: PolicyState) -> PolicyState:
        restored = read_state(_persisted(state))[0]
        assert restored is not None, "a state the operator wrote does not restore"
        return restored

    replay(raw, readings, carry=restarted)


def test_a_learned_state_with_a_full_weeks_season_fits_the_status_field() -> None:
    """``status.autoscaling.policyState`` holds at most 65,536 characters (the CRD's
    maxLength): every part learned, and a weekly cycle's 288 slots observed in each of its
    three cycles, stay well within it."""
    season = SeasonState()
    for step in range(3 * 288):
        season = observe(season, step * 2100.0, 100.0 + step % 7 * 13.1, 604800.0, 15.0)
    assert all(v is not None for row in season.means for v in row)
    text = _encode_state(replace(_learned(), season=season))
    limit = AutoscalingStatus.model_fields["policy_state"].metadata
    assert len(text) < 65536 / 2, len(text)
    assert any(getattr(m, "max_length", None) == 65536 for m in limit)
    assert read_state({"status": {"autoscaling": {"policyState": text}}})[0] is not None
