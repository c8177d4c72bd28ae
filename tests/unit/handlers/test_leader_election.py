"""The Lease protocol with a fake API and fake clocks: at no instant two leaders."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from forescale.handlers.api_client import ApiError, ApiUnreachableError
from forescale.handlers.leader_election import LeaderElector, LeaseTimings

TIMINGS = LeaseTimings(lease_duration=15, renew_deadline=10, retry_period=2)


class FakeLeases:
    """One Lease with optimistic concurrency (resourceVersion), like the API server."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.lease)

    async def write_lease(self, lease: dict[str, Any], *, create: bool) -> dict[str, Any]:
        if create and self.lease is not None:
            raise ApiError(409, "AlreadyExists", "")
        if not create:
            assert self.lease is not None
            if lease["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "")
        self.version += 1
        self.lease = copy.deepcopy(lease)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pair() -> tuple[FakeLeases, Clock, LeaderElector, LeaderElector]:
    leases, clock = FakeLeases(), Clock()
    a = LeaderElector(leases, "ns", "forescale", "a", TIMINGS, clock=clock)
    b = LeaderElector(leases, "ns", "forescale", "b", TIMINGS, clock=clock)
    return leases, clock, a, b


def test_timings_must_put_the_renew_deadline_inside_the_lease() -> None:
    with pytest.raises(ValueError, match="renew deadline < lease duration"):
        LeaseTimings(lease_duration=10, renew_deadline=10, retry_period=2)


def test_one_acquires_the_other_waits() -> None:
    _, clock, a, b = _pair()
    assert asyncio.run(a.try_acquire_or_renew())
    for _ in range(20):
        clock.now += 2
        assert asyncio.run(a.try_acquire_or_renew())
        assert not asyncio.run(b.try_acquire_or_renew())
        assert a.is_leader() and not b.is_leader()


def test_a_frozen_leader_stops_before_the_standby_starts() -> None:
    """The SIGSTOP finding: both acted for 40 s after the resume under kopf peering.

    The leader freezes (no renewals) while the standby keeps polling; at every instant at
    most one of them may act, and after the resume the old leader stays passive.
    """
    _, clock, a, b = _pair()
    asyncio.run(a.try_acquire_or_renew())
    asyncio.run(b.try_acquire_or_renew())
    took_over_at = None
    for _ in range(200):  # a is frozen: only b runs rounds, every 0.5 s
        clock.now += 0.5
        asyncio.run(b.try_acquire_or_renew())
        assert not (a.is_leader() and b.is_leader()), f"two leaders at t={clock.now}"
        if b.is_leader() and took_over_at is None:
            took_over_at = clock.now
    assert took_over_at is not None and took_over_at >= TIMINGS.lease_duration
    # a resumes: its first round sees b's Lease and it stays a follower.
    assert not asyncio.run(a.try_acquire_or_renew())
    for _ in range(20):
        clock.now += 2
        asyncio.run(b.try_acquire_or_renew())
        asyncio.run(a.try_acquire_or_renew())
        assert b.is_leader() and not a.is_leader()


def test_a_leader_that_cannot_renew_stops_at_the_renew_deadline() -> None:
    leases, clock, a, _ = _pair()
    asyncio.run(a.try_acquire_or_renew())

    async def broken(lease: dict[str, Any], *, create: bool) -> dict[str, Any]:
        raise ApiError(503, "Unavailable", "")

    leases.write_lease = broken  # type: ignore[method-assign]
    clock.now += TIMINGS.renew_deadline - 0.1
    asyncio.run(a.try_acquire_or_renew())
    assert a.is_leader()
    clock.now += 0.2
    asyncio.run(a.try_acquire_or_renew())
    assert not a.is_leader()


def test_each_start_and_stop_of_leading_is_announced_once() -> None:
    """The callbacks: the reconciler starts a pass for everything when this replica starts
    leading, and its per-LLMDeployment series are dropped when it stops (a former leader's
    values would outvote the leader's under the alerts' ``max by``)."""
    leases, clock, a, b = _pair()
    events: list[str] = []
    for elector in (a, b):
        elector.on_started_leading = lambda e=elector.identity: events.append(f"{e} started")
        elector.on_stopped_leading = lambda e=elector.identity: events.append(f"{e} stopped")
    asyncio.run(a.try_acquire_or_renew())
    asyncio.run(b.try_acquire_or_renew())
    write = leases.write_lease

    async def refused_to_a(lease: dict[str, Any], *, create: bool) -> dict[str, Any]:
        if lease["spec"]["holderIdentity"] == "a":
            raise ApiError(503, "Unavailable", "")
        return await write(lease, create=create)

    leases.write_lease = refused_to_a  # type: ignore[method-assign]
    for _ in range(20):
        clock.now += 2
        asyncio.run(a.try_acquire_or_renew())
        asyncio.run(b.try_acquire_or_renew())
    assert events == ["a started", "a stopped", "b started"]


def test_the_deadline_counts_from_the_start_of_a_slow_renewal() -> None:
    """A renewal that took 6 s to answer (a slow API server) proves the Lease was ours when
    it was *sent*: the deadline runs from then. Counting from the answer would give this
    replica 6 s of acting past what the standby's clock allows."""
    leases, clock, a, _ = _pair()
    asyncio.run(a.try_acquire_or_renew())
    write = leases.write_lease

    async def slow(lease: dict[str, Any], *, create: bool) -> dict[str, Any]:
        clock.now += 6
        return await write(lease, create=create)

    leases.write_lease = slow  # type: ignore[method-assign]
    clock.now += 2
    sent = clock.now
    assert asyncio.run(a.try_acquire_or_renew())
    assert clock.now == sent + 6
    clock.now = sent + TIMINGS.renew_deadline - 0.1
    assert a.is_leader()
    clock.now = sent + TIMINGS.renew_deadline + 0.1
    assert not a.is_leader()


def test_a_standby_dates_what_it_read_from_when_the_answer_arrived() -> None:
    """A read that waited 8 s (a stalled API server, an API Priority and Fairness queue)
    returns the renewal the leader made 7 s into that wait. Dated from the round's start,
    that renewal looked 7 s older than it was: with the leader frozen right after it, the
    standby took over at 15 s on its clock while the leader's fence stayed open to 17 s.
    Dated from the answer, the standby waits the whole lease duration after it."""
    leases, clock, a, _ = _pair()

    class WaitingReads:
        """b's way to the API: its next read waits 8 s, the leader renewing meanwhile."""

        wait = False

        async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
            if self.wait:
                self.wait = False
                clock.now += 7
                assert await a.try_acquire_or_renew()  # the leader's last renewal
                clock.now += 1
            return await leases.get_lease(namespace, name)

        async def write_lease(self, lease: dict[str, Any], *, create: bool) -> dict[str, Any]:
            return await leases.write_lease(lease, create=create)

    reads = WaitingReads()
    b = LeaderElector(reads, "ns", "forescale", "b", TIMINGS, clock=clock)
    asyncio.run(a.try_acquire_or_renew())
    asyncio.run(b.try_acquire_or_renew())
    clock.now += 2
    reads.wait = True
    asyncio.run(b.try_acquire_or_renew())
    answered = clock.now
    for _ in range(60):  # the leader is frozen from here on; b polls every 0.5 s
        clock.now += 0.5
        asyncio.run(b.try_acquire_or_renew())
        assert not (a.is_leader() and b.is_leader()), f"two leaders {clock.now - answered} s on"
    assert b.is_leader()


def test_an_acquisition_that_timed_out_but_landed_is_renewed_at_once() -> None:
    """The Lease client gives up after half the renew deadline; a write can land after
    that. The next round finds this replica's own identity in the Lease and renews it,
    instead of waiting out its own record for a lease duration with nobody acting."""
    leases, clock, a, _ = _pair()
    write = leases.write_lease

    async def landed_but_timed_out(lease: dict[str, Any], *, create: bool) -> dict[str, Any]:
        await write(lease, create=create)
        raise ApiUnreachableError("POST .../leases: Read timed out. (read timeout=5.0)")

    leases.write_lease = landed_but_timed_out  # type: ignore[method-assign]
    assert not asyncio.run(a.try_acquire_or_renew())
    leases.write_lease = write  # type: ignore[method-assign]
    clock.now += TIMINGS.retry_period
    assert asyncio.run(a.try_acquire_or_renew())
    assert a.is_leader()


def test_a_clean_release_hands_over_at_once() -> None:
    _, clock, a, b = _pair()
    asyncio.run(a.try_acquire_or_renew())
    asyncio.run(b.try_acquire_or_renew())
    asyncio.run(a.release())
    assert not a.is_leader()
    clock.now += 2
    assert asyncio.run(b.try_acquire_or_renew())


def test_only_one_of_two_candidates_wins_a_free_lease() -> None:
    leases, _, a, b = _pair()
    leases.lease = {
        "metadata": {"name": "forescale", "namespace": "ns", "resourceVersion": "0"},
        "spec": {"holderIdentity": ""},
    }

    async def both() -> list[bool]:
        return list(await asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew()))

    assert sorted(asyncio.run(both())) == [False, True]


def test_an_unexpected_error_is_a_failed_round_not_the_end_of_the_loop() -> None:
    """Found by an apiserver restart (tests/integration/test_operator_apiserver_restart.py):
    urllib3's MaxRetryError, not an OSError, escaped the round and so ended ``run()``, the
    loop of rounds; the replica stayed up and never renewed again. Any error is now a
    failed round, and the next round that reaches the API leads again."""
    leases, clock, a, _ = _pair()
    asyncio.run(a.try_acquire_or_renew())
    get = leases.get_lease

    async def broken(namespace: str, name: str) -> dict[str, Any] | None:
        raise RuntimeError("not an OSError")

    leases.get_lease = broken  # type: ignore[method-assign]
    clock.now += TIMINGS.renew_deadline + 1
    assert asyncio.run(a.try_acquire_or_renew()) is False
    assert not a.is_leader()
    leases.get_lease = get  # type: ignore[method-assign]
    clock.now += TIMINGS.retry_period
    assert asyncio.run(a.try_acquire_or_renew()) is True
