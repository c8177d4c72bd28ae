"""Operator settings and the objects every handler shares, set up once at start.

The settings encode the project's operating choices: kopf writes nothing to the objects
(no progress annotations, no finalizers: see :mod:`forescale.handlers.triggers`), watches
reconnect before idle load balancers cut them, Events say ``forescale``, and with leader
election on, one replica acts through a ``coordination.k8s.io`` Lease
(:mod:`forescale.handlers.leader_election`) while the others only watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import uuid
from typing import Any

import kopf

from forescale.api import identity
from forescale.handlers import memory_profile, memory_release, telemetry
from forescale.handlers.api_client import ClusterClient
from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.fleet_view import FleetView
from forescale.handlers.leader_election import LeaderElector, LeaseTimings, lease_client
from forescale.handlers.reconciler import Reconciler
from forescale.handlers.ticking import Ticker
from forescale.metrics.reader import PrometheusReader
from forescale.resources.settings import operator_settings

PROMETHEUS_URL_ENV = "FORESCALE_PROMETHEUS_URL"
RECONCILE_INTERVAL_ENV = "FORESCALE_RECONCILE_SECONDS"
RESYNC_ENV = "FORESCALE_RESYNC_SECONDS"
RATE_WINDOW_ENV = "FORESCALE_RATE_WINDOW_SECONDS"
LEADER_ELECTION_ENV = "FORESCALE_LEADER_ELECTION"
"""``namespace/name`` of the Lease; unset: no leader election (a single replica)."""
LEASE_TIMINGS_ENV = "FORESCALE_LEASE_TIMINGS"
"""``duration,renewDeadline,retryPeriod`` in seconds (default 15,10,2)."""
IDENTITY_ENV = "POD_ID"
SHARD_ENV = "FORESCALE_SHARD"
SHARD_BY_ENV = "FORESCALE_SHARD_BY"
NAMESPACES_ENV = "FORESCALE_NAMESPACES"
"""Comma-separated namespaces the operator serves (unset: every namespace)."""
SHARD_LABEL = "forescale.io/shard"
"""LLMDeployment label that assigns it to a shard (with ``FORESCALE_SHARD_BY=label``)."""


def _seconds(env: str, default: str) -> float:
    """A duration setting: a finite number of seconds above 0, or ValueError naming it.

    Zero, a negative number or NaN would read without error and leave an operator that is
    up and serves nothing: a tick of 0 spins the event loop and passes over every Degraded
    LLMDeployment without pause, a resync of 0 divides by zero in every tick, a rate window
    of 0 fails every Prometheus read (docs/operations.md: a setting that cannot be used
    stops the operator at start).
    """
    text = os.environ.get(env, default)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{env} must be a number of seconds above 0, got {text!r}")
    return value


def reconcile_interval() -> float:
    """Seconds between autoscaler ticks (and retries of Degraded LLMDeployments)."""
    return _seconds(RECONCILE_INTERVAL_ENV, "5")


def rate_window() -> float:
    """Seconds of the window the Prometheus reader's rates and quantiles cover."""
    return _seconds(RATE_WINDOW_ENV, "60")


def lease_timings() -> LeaseTimings:
    """The Lease timings from the environment (validated: deadline < duration)."""
    text = os.environ.get(LEASE_TIMINGS_ENV)
    if not text:
        return LeaseTimings()
    duration, deadline, retry = (float(x) for x in text.split(","))
    return LeaseTimings(lease_duration=duration, renew_deadline=deadline, retry_period=retry)


def durations() -> tuple[float, float, float]:
    """The tick, the full resync and the rate window, in seconds, each checked."""
    return reconcile_interval(), resync_interval(), rate_window()


def replica_identity() -> str:
    """Unique per process, readable in the Lease: pod name (or host) plus a random suffix."""
    base = os.environ.get(IDENTITY_ENV) or socket.gethostname()
    return f"{base}_{uuid.uuid4().hex[:8]}"


def resync_interval() -> float:
    """Seconds between full passes of an LLMDeployment nothing happened to."""
    return _seconds(RESYNC_ENV, "600")


def shard_identity() -> str:
    """This operator's shard name ("" when unsharded); its Lease carries it
    (``cli.shard_lease_problem``)."""
    return os.environ.get(SHARD_ENV, "")


def shard_by_label() -> bool:
    """True when the shard is chosen by the ``forescale.io/shard`` label."""
    return bool(shard_identity()) and os.environ.get(SHARD_BY_ENV, "label") == "label"


def in_shard(labels: Any) -> bool:
    """Whether an LLMDeployment with these labels belongs to this operator."""
    if not shard_by_label():
        return True
    return bool((labels or {}).get(SHARD_LABEL) == shard_identity())


def served_namespaces() -> list[str] | None:
    """The exact namespaces served, for the reader's scope (None: all, or a glob)."""
    raw = [ns for ns in os.environ.get(NAMESPACES_ENV, "").split(",") if ns]
    if not raw or any(c in ns for ns in raw for c in "*?[!"):
        return None
    return raw


def prometheus_reader(url: str | None, window: float) -> PrometheusReader | None:
    """The reader, scoped to the served namespaces when they are an exact list (a
    namespace shard reads only its own series); None without a Prometheus URL."""
    if not url:
        return None
    return PrometheusReader(url, window_seconds=window, namespaces=served_namespaces())


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf's diff base, for an operator with only ``on.event`` handlers: none.

    kopf builds the diff base of every watched event (a deep copy of the whole body,
    managed fields and pod template included) to tell create/update/resume handlers
    what changed. forescale has none of those (``handlers/triggers.py`` says why), so
    nothing reads that copy; at 300 LLMDeployments being created, building it was a fifth
    of the event loop's samples (py-spy). Here the essence is empty and nothing is stored.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account, else $KUBECONFIG read at login (not at import) time."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Apply forescale's kopf settings, build the reconciler, start the election and timer."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=identity.ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    settings.execution.max_workers = 4
    # kopf logs every event handler's success at INFO: one line per watch event, which is
    # most of the operator's output (and a measurable share of its CPU) at 1,000
    # LLMDeployments. Failures are still logged (WARNING and above).
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    url = os.environ.get(PROMETHEUS_URL_ENV) or None
    lease = os.environ.get(LEADER_ELECTION_ENV)
    try:
        # A bad setting stops the start with the reason: kopf would retry a failing
        # startup every minute, an operator that is up and serves nothing.
        interval, resync, window = durations()
        operator_settings()  # the default image, the monitor labels
        timings = lease_timings() if lease else None
    except ValueError as err:
        raise kopf.PermanentError(f"invalid operator setting: {err}") from err
    reader = prometheus_reader(url, window)
    client = ClusterClient()
    memo.client = client
    autoscaler = Autoscaler(reader)
    tasks: list[asyncio.Task[None]] = []
    elector: LeaderElector | None = None
    if lease and timings is not None:
        namespace, name = lease.split("/", 1)
        leases = lease_client(timings)
        elector = LeaderElector(leases, namespace, name, replica_identity(), timings)
        client.gate_writes(elector.is_leader)
        memo.elector = elector
        memo.lease_client = leases
    is_leader = elector.is_leader if elector is not None else (lambda: True)
    view = FleetView()
    reconciler = Reconciler(client, autoscaler, is_leader=is_leader, view=view)
    memo.reconciler = reconciler
    memo.view = view
    ticker = Ticker(
        view,
        autoscaler,
        reconciler.trigger,
        interval=interval,
        resync_seconds=resync,
        is_active=is_leader,
    )
    memo.ticker = ticker
    telemetry.export_while(is_leader, lease or "")
    if elector is not None:
        elector.on_started_leading = reconciler.trigger_all
        elector.on_stopped_leading = telemetry.forget_all
        tasks.append(asyncio.create_task(elector.run(), name="forescale-lease"))
    tasks.append(asyncio.create_task(ticker.run(), name="forescale-tick"))
    tasks.append(asyncio.create_task(memory_release.run(), name="forescale-trim"))
    profile = memory_profile.requested()
    if profile is not None:
        tasks.append(asyncio.create_task(memory_profile.run(profile), name="forescale-memory"))
    memo.background = tasks


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Stop the tick and the election, end running passes, release the Lease.

    The client is closed before the passes are awaited: a pass waiting on a throttle's
    ``Retry-After`` (up to 30 s) would otherwise hold the stop past most of the pod's
    grace period, and Python joins the worker threads at exit. Whoever leads next
    reconciles every object, so a pass cut short loses nothing.
    """
    for task in memo.get("background", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    client = memo.get("client")
    if isinstance(client, ClusterClient):
        client.close()
    reconciler = memo.get("reconciler")
    if isinstance(reconciler, Reconciler):
        await reconciler.wait_idle()
    elector = memo.get("elector")
    if isinstance(elector, LeaderElector):
        await elector.release()
    leases = memo.get("lease_client")
    if isinstance(leases, ClusterClient):
        leases.close()
    logging.getLogger("forescale").info("stopped")
