"""One acting replica at a time, through a ``coordination.k8s.io/v1`` Lease.

kopf's peering pauses a replica when it *notices* a higher-priority peer, so a leader that
was frozen (SIGSTOP, a node hiccup) keeps acting after it resumes until it reads the
peering object again, while the standby already took over: two writers. This module uses
the protocol client-go's leader election uses, with the two clocks arranged so that
there is no overlap:

- the holder renews every ``retry_period``; it *stops acting* (``is_leader()`` turns
  false, and the client's write fence refuses every write) once ``renew_deadline`` has
  passed since the start of its last successful renewal, measured on its own monotonic
  clock, which keeps running while the process is stopped;
- a candidate takes the Lease only after it has seen the same holder record unchanged for
  ``lease_duration`` on its own clock, counted from when the answer that first showed it
  *arrived*, and only with an optimistic-concurrency write (``resourceVersion``), so two
  candidates cannot both win.

Because ``renew_deadline < lease_duration`` and the candidate's observation starts after
the holder's last renewal was sent, the old holder has stopped before the new one starts
(given clocks that run at about the same rate; the margin absorbs drift). Both stamps
err on the safe side of a slow request: the holder's at the round's start (earlier), the
candidate's at the answer (later).

Lease requests go through a client of their own (:func:`lease_client`): one thread
and one connection that no reconciliation pass can occupy, and a request timeout of half
the renew deadline (at least 1 s), client-go's ``NewFromKubeconfig`` rule, so one hung
request leaves time for another before the deadline.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import kubernetes

from forescale.handlers.api_client import ApiError, ClusterClient

logger = logging.getLogger("forescale.leader")


class LeaseClient(Protocol):
    """What leader election needs from the API client."""

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def write_lease(self, lease: dict[str, Any], *, create: bool) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LeaseTimings:
    """Seconds; ``renew_deadline`` must be shorter than ``lease_duration``."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration, "
                f"got {self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


def lease_client(
    timings: LeaseTimings, configuration: kubernetes.client.Configuration | None = None
) -> ClusterClient:
    """A client for the Lease alone, as client-go's ``NewFromKubeconfig`` makes one.

    Through the operator's shared client, a renewal waited in line behind reconciliation
    passes: under a throttle every worker thread sat out a ``Retry-After`` (up to 30 s
    each) and the renewal, queued behind them, missed the renew deadline, though the
    shipped FlowSchema gave the Lease seats of its own. A request that hangs (a dead
    pooled connection) held a round for the full 30 s request timeout. Here one thread
    and one connection serve only the Lease, and a request gives up after half the
    renew deadline (at least 1 s), leaving time for one more before the deadline; the
    elector's next round is the retry, also of a request whose connection was closed
    under it (the shared client sends such a GET again, which could hold a round for a
    second timeout).
    """
    return ClusterClient(
        configuration,
        threads=1,
        request_timeout=max(1.0, timings.renew_deadline / 2),
        read_retries=0,
        thread_name="forescale-lease",
    )


def _micro_time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquires and renews the Lease; ``is_leader()`` is the fence every write checks."""

    def __init__(  # noqa: PLR0917 - the Lease's coordinates and its clock
        self,
        client: LeaseClient,
        namespace: str,
        name: str,
        identity: str,
        timings: LeaseTimings | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self.namespace, self.name, self.identity = namespace, name, identity
        self.timings = timings or LeaseTimings()
        self._clock = clock
        self._renewed_at: float | None = None
        """Monotonic time the last successful renewal was *sent* (conservative)."""
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self._was_leader = False

    def is_leader(self) -> bool:
        """True only within ``renew_deadline`` of the start of the last successful renewal."""
        return (
            self._renewed_at is not None
            and self._clock() - self._renewed_at < self.timings.renew_deadline
        )

    @property
    def _where(self) -> tuple[str, str]:
        return self.namespace, self.name

    async def run(self) -> None:
        """Try to acquire or renew every ``retry_period`` until cancelled."""
        while True:
            await self.try_acquire_or_renew()
            await asyncio.sleep(self.timings.retry_period)

    async def try_acquire_or_renew(self) -> bool:
        """One round of the protocol; returns whether this replica holds the Lease now."""
        started = self._clock()
        try:
            held = await self._round()
        except (ApiError, OSError, TimeoutError) as err:
            logger.warning("leader election: %s", err)
            held = False
        except Exception:
            # No error may end the renewal loop: one that died would leave a replica alive,
            # healthy to its probes and never acting again, with nothing to say so. An
            # unexpected error is a failed round; the fence closes at the renew deadline.
            logger.exception("leader election: unexpected error, counted as a failed round")
            held = False
        if held:
            self._renewed_at = started
        leader = self.is_leader()
        if leader and not self._was_leader:
            logger.info(
                "%s became the leader (Lease %s/%s)", self.identity, self.namespace, self.name
            )
            if self.on_started_leading is not None:
                self.on_started_leading()
        elif self._was_leader and not leader:
            logger.warning("%s is no longer the leader: it stops acting", self.identity)
            if self.on_stopped_leading is not None:
                self.on_stopped_leading()
        self._was_leader = leader
        return leader

    async def _round(self) -> bool:
        lease = await self._client.get_lease(self.namespace, self.name)
        duration = round(self.timings.lease_duration)
        if lease is None:
            await self._client.write_lease(self._record(None, acquire=True), create=True)
            return True
        # The record is as of some instant between the round's start and now: a change
        # is stamped with the time the answer *arrived* (as client-go's
        # ``setObservedRecord`` does). Stamped with the round's start, a read that waited
        # (a stalled API server, a queue) would date a renewal made while it waited to
        # before it was made, and the holder's lease would run out early on this clock.
        seen = self._clock()
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, seen
        if holder == self.identity:
            # Ours (identities are unique per process), also when the write that took it
            # timed out here but landed: renewing now is safe, waiting out our own
            # record would leave the Lease with no acting holder for a lease duration.
            await self._client.write_lease(self._record(lease, acquire=False), create=False)
            return True
        expired = not holder or seen - self._observed_at >= max(
            self.timings.lease_duration, float(spec.get("leaseDurationSeconds") or duration)
        )
        if not expired:
            return False
        await self._client.write_lease(self._record(lease, acquire=True), create=False)
        return True

    def _record(self, lease: dict[str, Any] | None, *, acquire: bool) -> dict[str, Any]:
        now = _micro_time()
        spec = dict((lease or {}).get("spec") or {})
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = round(self.timings.lease_duration)
        spec["renewTime"] = now
        if acquire:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
                1 if lease is not None else 0
            )
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if lease is not None:
            metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }

    async def release(self) -> None:
        """On a clean stop: give the Lease up so a standby takes over at once."""
        if not self.is_leader():
            return
        self._renewed_at = None
        try:
            lease = await self._client.get_lease(self.namespace, self.name)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            released = self._record(lease, acquire=False)
            released["spec"]["holderIdentity"] = ""
            await self._client.write_lease(released, create=False)
        except (ApiError, OSError, TimeoutError) as err:
            logger.warning("leader election: could not release the Lease: %s", err)
